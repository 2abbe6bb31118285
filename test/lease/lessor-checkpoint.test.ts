/**
 * The Lessor's checkpoints alone (etcd's lease checkpointing): which checkpoints the primary
 * finds due and what remaining TTL they carry, applying one (persisted, cleared by 0), and
 * promotion from a checkpointed remaining TTL, also after a reopen from the backend.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { MemoryLevel } from 'memory-level'
import { KVStore } from '../../src/mvcc/index.js'
import { DEFAULT_CHECKPOINT_INTERVAL_MS, Lessor } from '../../src/lease/lessor.js'

async function open(intervalMs?: number) {
  const db = new MemoryLevel({ keyEncoding: 'view', valueEncoding: 'view' })
  const kv = await KVStore.open(db)
  const lessor = await Lessor.open(kv, 2, intervalMs)
  return { db, kv, lessor }
}

describe('Lessor checkpoints', () => {
  test('the default interval is etcd\'s 5 minutes; a lease not longer than it is never checkpointed', async () => {
    const { lessor, kv } = await open()
    assert.equal(DEFAULT_CHECKPOINT_INTERVAL_MS, 300_000)
    assert.equal(lessor.checkpointIntervalMs, 300_000)
    lessor.promote(0, 0)
    lessor.grant('1', 300, 0)
    lessor.grant('2', 301, 0)
    assert.deepEqual(lessor.takeDueCheckpoints(299_999), [])
    assert.deepEqual(lessor.takeDueCheckpoints(300_000), [{ id: '2', remainingTtl: 1 }])
    await kv.close()
  })

  test('due checkpoints: an interval after the grant, remaining TTL rounded up, then every interval', async () => {
    const { lessor, kv } = await open(5000)
    lessor.grant('1', 60, 0)
    assert.deepEqual(lessor.takeDueCheckpoints(1e9), [], 'only the primary checkpoints')
    lessor.promote(0, 0)
    assert.equal(lessor.lookup('1')!.expiry, 60_000)
    assert.deepEqual(lessor.takeDueCheckpoints(4999), [])
    assert.deepEqual(lessor.takeDueCheckpoints(5200), [{ id: '1', remainingTtl: 55 }], '54.8 s rounds up to 55 (etcd math.Ceil)')
    assert.deepEqual(lessor.takeDueCheckpoints(5300), [], 'not offered again within the interval')
    // applying it (on every member) records and persists it, and on the primary reschedules
    assert.equal(lessor.checkpoint('1', 55, 5300).length, 1)
    assert.equal(lessor.lookup('1')!.remainingTtl, 55)
    assert.equal(lessor.lookup('1')!.expiry, 60_000, 'a checkpoint does not move the primary\'s expiry')
    assert.deepEqual(lessor.takeDueCheckpoints(10_299), [])
    assert.deepEqual(lessor.takeDueCheckpoints(10_300), [{ id: '1', remainingTtl: 50 }])
    await kv.close()
  })

  test('a lease at its full TTL is not checkpointed, an expired or revoked one drops out; batches are soonest first', async () => {
    const { lessor, kv } = await open(5000)
    lessor.promote(0, 0)
    lessor.grant('10', 60, 0)
    lessor.grant('11', 60, 1000)
    lessor.grant('12', 60, 2000)
    lessor.grant('13', 5, 0)
    lessor.grant('14', 60, 0)
    lessor.revoke('14')
    lessor.renew('10', 7000)
    assert.deepEqual(lessor.takeDueCheckpoints(7000, 1), [{ id: '11', remainingTtl: 54 }], '10, renewed just now, has its full 60 s: skipped; the limit caps the batch')
    assert.deepEqual(lessor.takeDueCheckpoints(7000), [{ id: '12', remainingTtl: 55 }], '11 before 12: soonest due first')
    assert.deepEqual(lessor.takeDueCheckpoints(12_000), [
      { id: '10', remainingTtl: 55 },
      { id: '11', remainingTtl: 49 },
      { id: '12', remainingTtl: 50 },
    ], '10 was rescheduled, not dropped; 11 and 12 are due again an interval after they were taken')
    assert.deepEqual(lessor.takeDueCheckpoints(100_000), [], 'expired leases are not checkpointed')
    await kv.close()
  })

  test('promotion starts from the checkpointed remaining TTL; 0 clears it; demotion stops checkpoints', async () => {
    const { lessor, kv } = await open(5000)
    const l = lessor.grant('7', 60, 0).lease
    lessor.checkpoint('7', 40, 0) // applied on a follower: recorded, nothing scheduled
    assert.equal(l.remainingTtl, 40)
    assert.equal(l.expiry, Infinity)
    lessor.promote(20_000, 100)
    assert.equal(l.expiry, 20_000 + 100 + 40_000, 'now + extend + remaining TTL (etcd refresh with getRemainingTTL)')
    assert.equal(lessor.remaining(l, 20_000), 40)
    assert.deepEqual(lessor.takeDueCheckpoints(25_000), [{ id: '7', remainingTtl: 36 }], 'promotion schedules the next checkpoint')
    lessor.checkpoint('7', 0, 25_000) // a renew's clear
    assert.equal(l.remainingTtl, 0)
    lessor.demote()
    assert.deepEqual(lessor.takeDueCheckpoints(1e9), [])
    lessor.promote(30_000, 0)
    assert.equal(l.expiry, 30_000 + 60_000, 'cleared: the full TTL again')
    assert.deepEqual(lessor.checkpoint('unknown', 5, 0), [], 'a checkpoint of a revoked lease is ignored')
    await kv.close()
  })

  test('a checkpoint stops rescheduling once the remaining TTL is within one interval', async () => {
    const { lessor, kv } = await open(5000)
    lessor.promote(0, 0)
    lessor.grant('1', 12, 0)
    assert.deepEqual(lessor.takeDueCheckpoints(5000), [{ id: '1', remainingTtl: 7 }])
    lessor.checkpoint('1', 7, 5000)
    assert.deepEqual(lessor.takeDueCheckpoints(10_000), [{ id: '1', remainingTtl: 2 }])
    lessor.checkpoint('1', 2, 10_000)
    assert.deepEqual(lessor.takeDueCheckpoints(11_000), [])
    await kv.close()
  })

  test('a renew clears a recorded checkpoint, and one still in flight', async () => {
    const { lessor, kv } = await open(5000)
    lessor.promote(0, 0)
    lessor.grant('1', 60, 0)
    lessor.grant('2', 60, 0)
    assert.equal(lessor.renewClears('1'), false, 'nothing recorded, nothing in flight: no Raft entry for a renew')
    assert.equal(lessor.takeDueCheckpoints(5000).length, 2)
    assert.equal(lessor.renewClears('1'), true, 'taken for a proposal, not applied yet')
    lessor.checkpoint('1', 55, 5000)
    lessor.checkpoint('2', 55, 5000)
    assert.equal(lessor.renewClears('1'), true, 'recorded')
    lessor.checkpoint('1', 0, 5000)
    assert.equal(lessor.renewClears('1'), false, 'cleared')
    assert.equal(lessor.renewClears('9'), false, 'unknown lease')
    await kv.close()
  })

  test('pending checkpoints for a close: remaining rounded up, 0 at the full TTL, 1 s once expired, none when recorded', async () => {
    const { lessor, kv } = await open()
    assert.deepEqual(lessor.pendingCheckpoints(0), [], 'nothing off the primary')
    lessor.promote(0, 0)
    lessor.grant('20', 100, 0)
    lessor.grant('21', 100, 29_500)
    lessor.grant('22', 10, 0)
    lessor.grant('23', 100, 0)
    lessor.checkpoint('23', 70, 30_000)
    assert.deepEqual(lessor.pendingCheckpoints(30_000), [
      { id: '20', remainingTtl: 70 },
      { id: '22', remainingTtl: 1 },
    ])
    lessor.checkpoint('21', 50, 30_000)
    assert.deepEqual(lessor.pendingCheckpoints(30_000).find((c) => c.id === '21'), { id: '21', remainingTtl: 0 }, 'a stale record is cleared')
    await kv.close()
  })

  test('the remaining TTL is persisted with the lease; records without it read as none', async () => {
    const { lessor, kv, db } = await open()
    const w = kv.write()
    await w.end({ extra: [...lessor.grant('1', 100, 0).ops, ...lessor.grant('2', 100, 0).ops, ...lessor.checkpoint('1', 70, 0)] })
    // a record as written before checkpoints existed: {"id","ttl"} only
    const old = new Uint8Array(8)
    new DataView(old.buffer).setBigInt64(0, 3n)
    await kv.write().end({ extra: [{ type: 'put', bucket: kv.backend.sublevel('lease'), key: old, value: new TextEncoder().encode('{"id":"3","ttl":50}') }] })
    await kv.close()
    const kv2 = await KVStore.open(db)
    const again = await Lessor.open(kv2, 2)
    assert.equal(again.lookup('1')?.remainingTtl, 70)
    assert.equal(again.lookup('2')?.remainingTtl, 0)
    assert.equal(again.lookup('3')?.remainingTtl, 0)
    assert.equal(again.lookup('3')?.ttl, 50)
    again.promote(1000, 0)
    assert.equal(again.lookup('1')!.expiry, 71_000)
    assert.equal(again.lookup('2')!.expiry, 101_000)
    assert.equal(again.lookup('3')!.expiry, 51_000)
    await kv2.write().end({ extra: again.checkpoint('1', 0, 0) })
    await kv2.close()
    const kv3 = await KVStore.open(db)
    assert.equal((await Lessor.open(kv3, 2)).lookup('1')?.remainingTtl, 0, 'a cleared checkpoint is persisted too')
    await kv3.close()
  })
})
