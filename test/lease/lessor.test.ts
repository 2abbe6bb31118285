/**
 * The Lessor alone over a memory-level KVStore: grant checks and the minimum TTL,
 * attachments following puts and deletes, primary-only expiry, promote/demote, renew,
 * persistence and restore (attachments rebuilt from MVCC).
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { MemoryLevel } from 'memory-level'
import { KVStore } from '../../src/mvcc/index.js'
import { Lessor, LeaseExpiredError, MAX_LEASE_TTL, NotPrimaryError, FOREVER_SECONDS } from '../../src/lease/lessor.js'
import { isEtcdError } from '../../src/errors.js'
import { toBytes } from '../../src/api/bytes.js'

async function open() {
  const db = new MemoryLevel({ keyEncoding: 'view', valueEncoding: 'view' })
  const kv = await KVStore.open(db)
  const lessor = await Lessor.open(kv, 2)
  return { db, kv, lessor }
}

const text = (b: Uint8Array) => new TextDecoder().decode(b)

describe('Lessor', () => {
  test('grant: minimum TTL, too large TTL, existing id, id 0', async () => {
    const { lessor, kv } = await open()
    assert.equal(lessor.grant('1', 1, 0).lease.ttl, 2)
    assert.equal(lessor.grant('2', -5, 0).lease.ttl, 2)
    assert.equal(lessor.grant('3', MAX_LEASE_TTL, 0).lease.ttl, MAX_LEASE_TTL)
    assert.throws(() => lessor.grant('4', MAX_LEASE_TTL + 1, 0), (e: unknown) => isEtcdError(e, 'LeaseTTLTooLarge'))
    assert.throws(() => lessor.grant('1', 10, 0), (e: unknown) => isEtcdError(e, 'LeaseExist'))
    assert.throws(() => lessor.grant('0', 10, 0), (e: unknown) => isEtcdError(e, 'LeaseNotFound'))
    assert.equal(lessor.exists('4'), false)
    await kv.close()
  })

  test('attachments follow puts and deletes; revoke lists keys in byte order', async () => {
    const { lessor, kv } = await open()
    lessor.grant('7', 10, 0)
    lessor.grant('8', 10, 0)
    const w = kv.write()
    w.put(toBytes('b'), toBytes('x'), '7')
    w.put(toBytes('a'), toBytes('x'), '7')
    w.put(toBytes('c'), toBytes('x'), '8')
    lessor.applyEvents(w.changes())
    await w.end()
    assert.deepEqual(lessor.sortedKeys('7').map(text), ['a', 'b'])
    const w2 = kv.write()
    w2.put(toBytes('a'), toBytes('y'), '8') // moves to 8
    w2.put(toBytes('b'), toBytes('y'), '0') // detaches
    await w2.deleteRange(toBytes('c'), undefined)
    lessor.applyEvents(w2.changes())
    await w2.end()
    assert.deepEqual(lessor.sortedKeys('7').map(text), [])
    assert.deepEqual(lessor.sortedKeys('8').map(text), ['a'])
    await kv.close()
  })

  test('expiry only on the primary; promote extends, demote makes leases forever', async () => {
    const { lessor, kv } = await open()
    const l = lessor.grant('1', 5, 0).lease
    assert.equal(l.expiry, Infinity)
    assert.equal(lessor.remaining(l, 0), FOREVER_SECONDS)
    assert.deepEqual(lessor.takeExpired(1e12), [])
    assert.throws(() => lessor.renew('1', 0), NotPrimaryError)
    lessor.promote(1000, 500)
    assert.equal(l.expiry, 1000 + 500 + 5000)
    assert.equal(lessor.remaining(l, 1000), 5)
    assert.deepEqual(lessor.takeExpired(6499), [])
    assert.deepEqual(lessor.takeExpired(6500), ['1'])
    assert.deepEqual(lessor.takeExpired(6600), [], 'not offered again before the retry interval')
    assert.deepEqual(lessor.takeExpired(9600), ['1'])
    assert.throws(() => lessor.renew('1', 9600), LeaseExpiredError)
    assert.throws(() => lessor.renew('9', 9600), (e: unknown) => isEtcdError(e, 'LeaseNotFound'))
    const g = lessor.grant('2', 3, 10_000).lease
    assert.equal(g.expiry, 13_000, 'a grant on the primary expires ttl from now')
    assert.equal(lessor.renew('2', 12_000), 3)
    assert.equal(g.expiry, 15_000)
    lessor.demote()
    assert.equal(g.expiry, Infinity)
    assert.deepEqual(lessor.takeExpired(1e12), [])
    await kv.close()
  })

  test('list: soonest expiry first', async () => {
    const { lessor, kv } = await open()
    lessor.promote(0, 0)
    lessor.grant('1', 30, 0)
    lessor.grant('2', 10, 0)
    lessor.grant('3', 20, 0)
    assert.deepEqual(lessor.list().map((l) => l.id), ['2', '3', '1'])
    await kv.close()
  })

  test('persisted leases and attachments come back on reopen', async () => {
    const { lessor, kv, db } = await open()
    const w = kv.write()
    w.put(toBytes('k'), toBytes('v'), '42')
    const { ops } = lessor.grant('42', 1, 0)
    lessor.applyEvents(w.changes())
    await w.end({ consistentIndex: 5, extra: ops })
    const w2 = kv.write()
    await w2.end({ extra: lessor.grant('-3', 100, 0).ops })
    await kv.close()
    const kv2 = await KVStore.open(db)
    const again = await Lessor.open(kv2, 2)
    assert.equal(again.lookup('42')?.ttl, 2)
    assert.equal(again.lookup('-3')?.ttl, 100)
    assert.deepEqual(again.sortedKeys('42').map(text), ['k'])
    const w3 = kv2.write()
    await w3.end({ extra: again.revoke('42') })
    await kv2.close()
    const kv3 = await KVStore.open(db)
    const third = await Lessor.open(kv3, 2)
    assert.equal(third.exists('42'), false)
    assert.equal(third.exists('-3'), true)
    await kv3.close()
  })
})
