// The KV service's boundary: validation, etcd's request checks and limits. Every rejected
// request must leave the store exactly as it was (same revision, same data).
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { Store, isEtcdError, InvalidArgumentError, EtcdError } from '../../src/index.js'
import type { KVApi } from '../../src/index.js'

async function revision(kv: KVApi): Promise<number> {
  return (await kv.range({ key: 'probe' })).header.revision
}

/** Calls `fn`, expects it to reject with `message` (exact or pattern), and checks nothing changed. */
async function rejects(kv: KVApi, fn: () => Promise<unknown>, message: string | RegExp): Promise<EtcdError> {
  const before = await revision(kv)
  const all = (await kv.range({ key: '\0', rangeEnd: '\0' })).kvs.length
  let caught: unknown
  try {
    await fn()
  } catch (err) {
    caught = err
  }
  assert.ok(caught instanceof EtcdError, `expected an EtcdError, got ${String(caught)}`)
  if (typeof message === 'string') assert.equal(caught.message, message)
  else assert.match(caught.message, message)
  assert.equal(await revision(kv), before, 'a rejected request must not bump the revision')
  assert.equal((await kv.range({ key: '\0', rangeEnd: '\0' })).kvs.length, all, 'a rejected request must not change data')
  return caught
}

describe('KV service limits and validation', () => {
  let store: Store
  before(async () => {
    store = await Store.open({ members: 1, limits: { maxRequestBytes: 64 * 1024, maxTxnOps: 4 } })
    await store.kv.put({ key: 'seed', value: 'x' })
  })
  after(() => store.close())

  test('a request larger than maxRequestBytes is refused with etcd\'s message', async () => {
    const big = new Uint8Array(64 * 1024 + 1)
    const err = await rejects(store.kv, () => store.kv.put({ key: 'big', value: big }), 'etcdserver: request is too large')
    assert.equal(err.grpcCode, 'InvalidArgument')
    assert.ok(isEtcdError(err, 'RequestTooLarge'))
    await rejects(store.kv, () => store.kv.txn({ success: [{ requestPut: { key: 'big', value: big } }] }), 'etcdserver: request is too large')
  })

  test('a request just under the limit is accepted', async () => {
    const r = await store.kv.put({ key: 'fits', value: new Uint8Array(60 * 1024) })
    assert.ok(r.header.revision > 1)
  })

  test('maxTxnOps is configurable and counts compares and each branch', async () => {
    const ops = (n: number) => Array.from({ length: n }, (_, i) => ({ requestRange: { key: `k${i}` } }))
    await store.kv.txn({ success: ops(4) })
    await rejects(store.kv, () => store.kv.txn({ success: ops(5) }), 'etcdserver: too many operations in txn request')
    await rejects(store.kv, () => store.kv.txn({ failure: ops(5) }), 'etcdserver: too many operations in txn request')
    const cmp = Array.from({ length: 5 }, () => ({ key: 'a', target: 'VERSION' as const, result: 'EQUAL' as const }))
    await rejects(store.kv, () => store.kv.txn({ compare: cmp }), 'etcdserver: too many operations in txn request')
  })

  const cases: [string, (kv: KVApi) => Promise<unknown>, string | RegExp][] = [
    ['empty key on put', (kv) => kv.put({ key: '', value: 'v' }), 'etcdserver: key is not provided'],
    ['missing key on range', (kv) => kv.range({}), 'etcdserver: key is not provided'],
    ['empty key on delete', (kv) => kv.deleteRange({ key: '' }), 'etcdserver: key is not provided'],
    ['empty key in a compare', (kv) => kv.txn({ compare: [{ key: '', target: 'VERSION', result: 'EQUAL' }] }), 'etcdserver: key is not provided'],
    ['empty key in a nested op', (kv) => kv.txn({ success: [{ requestTxn: { success: [{ requestPut: { key: '' } }] } }] }), 'etcdserver: key is not provided'],
    ['ignoreValue with a value', (kv) => kv.put({ key: 'seed', value: 'v', ignoreValue: true }), 'etcdserver: value is provided'],
    ['ignoreLease with a lease', (kv) => kv.put({ key: 'seed', lease: '7', ignoreLease: true }), 'etcdserver: lease is provided'],
    ['ignoreValue on a missing key', (kv) => kv.put({ key: 'nope', ignoreValue: true }), 'etcdserver: key not found'],
    ['a lease that does not exist', (kv) => kv.put({ key: 'seed', value: 'v', lease: 42 }), 'etcdserver: requested lease not found'],
    ['two puts of one key in a txn', (kv) => kv.txn({ success: [{ requestPut: { key: 'a' } }, { requestPut: { key: 'a' } }] }), 'etcdserver: duplicate key given in txn request'],
    ['a put inside a deleted range', (kv) => kv.txn({ success: [{ requestDeleteRange: { key: 'a', rangeEnd: 'c' } }, { requestPut: { key: 'b' } }] }), 'etcdserver: duplicate key given in txn request'],
    ['a future revision', (kv) => kv.range({ key: 'a', revision: 1_000_000 }), 'etcdserver: mvcc: required revision is a future revision'],
    ['compacting a future revision', (kv) => kv.compact({ revision: 1_000_000 }), 'etcdserver: mvcc: required revision is a future revision'],
    ['a wrong type', (kv) => kv.put({ key: 'a', value: 5 as unknown as string }), /^pocket-etcd: invalid PutRequest: value: /],
    ['an unknown field', (kv) => kv.range({ key: 'a', bogus: 1 } as unknown as { key: string }), /^pocket-etcd: invalid RangeRequest: /],
    ['a bad enum', (kv) => kv.range({ key: 'a', sortOrder: 'UP' as unknown as 'ASCEND' }), /^pocket-etcd: invalid RangeRequest: sortOrder: /],
    ['a fractional revision', (kv) => kv.range({ key: 'a', revision: 1.5 }), /^pocket-etcd: invalid RangeRequest: revision: /],
    ['a lease id out of int64', (kv) => kv.put({ key: 'a', lease: '9223372036854775808' }), /id out of int64 range/],
    ['a non-object request', (kv) => kv.put(null as unknown as { key: string }), /^pocket-etcd: invalid PutRequest: /],
    ['txns nested too deep', (kv) => {
      let t: Record<string, unknown> = { success: [] }
      for (let i = 0; i < 100; i++) t = { success: [{ requestTxn: t }] }
      return kv.txn(t)
    }, /nested deeper than/],
  ]
  for (const [name, fn, message] of cases) {
    test(`refuses ${name} and changes nothing`, async () => {
      await rejects(store.kv, () => fn(store.kv), message)
    })
  }

  test('validation errors are InvalidArgumentErrors with a stable code', async () => {
    const err = await rejects(store.kv, () => store.kv.put({ key: 7 as unknown as string }), /invalid PutRequest/)
    assert.ok(err instanceof InvalidArgumentError)
    assert.equal(err.code, 'ErrInvalidRequest')
  })

  test('bytes read from a response can be written back as they are (types and values)', async () => {
    await store.kv.put({ key: 'rt', value: new Uint8Array([0, 255, 7]) })
    const kv = (await store.kv.range({ key: 'rt' })).kvs[0]!
    await store.kv.put({ key: kv.key, value: kv.value }) // must typecheck without a cast (npm run typecheck)
    const again = (await store.kv.range({ key: kv.key })).kvs[0]!
    assert.deepEqual([...again.value], [0, 255, 7])
    assert.equal(again.version, 2)
  })

  test('Store.open refuses bad options with a clear error', async () => {
    await assert.rejects(Store.open({ members: 2 as unknown as 3 }), /invalid Store options: members/)
    await assert.rejects(Store.open({ tickMs: -1 }), /invalid Store options: tickMs/)
  })
})

describe('compaction', () => {
  test('physical: the response waits until the compacted records are gone from the backend', async () => {
    const store = await Store.open({ members: 1 })
    try {
      const value = 'v'.repeat(100)
      for (let i = 0; i < 3000; i++) await store.kv.put({ key: 'k', value })
      const m = store.runningMember('m1')!
      const before = (await m.dbSizes()).dbSizeInUse
      const rev = (await store.kv.range({ key: 'k' })).header.revision
      await store.kv.compact({ revision: rev, physical: true })
      // 2,999 records of ~130 bytes are deleted by the time the response arrives
      const after = (await m.dbSizes()).dbSizeInUse
      assert.ok(before - after > 2999 * 100, `in use ${before} -> ${after}`)
      assert.equal((await store.kv.range({ key: 'k' })).kvs[0]!.version, 3000)
    } finally {
      await store.close()
    }
  })
})
