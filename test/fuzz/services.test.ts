/**
 * Hostile-input fuzzing of the service layer (store.kv, store.lease, store.watch, store.lock,
 * store.election) and of the typed layer, with fast-check: arbitrary values (wrong types,
 * nulls, nested junk), empty and huge keys and values, invalid ranges, negative and future
 * revisions, unknown leases, deeply nested and oversized txns, and calls racing a close.
 * Every call must end, within bounded cluster time, in a response or an `EtcdError` whose
 * message is etcd-style (`etcdserver: ...`, `mvcc: ...`, `pocket-etcd: ...`): never a
 * TypeError, RangeError or InvariantError. Afterwards the members agree (hashKV) and the
 * store still serves reads and writes. fast-check prints its seed and path on failure;
 * replay with FUZZ_SEED=<seed> (and FUZZ_RUNS=<n> for longer runs).
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { Store } from '../../src/store.js'
import { EtcdError, InvariantError } from '../../src/errors.js'
import { assertConverged } from '../../src/testing/index.js'

const RUNS = Number(process.env.FUZZ_RUNS ?? 150)
const SEED = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED)
const params = { numRuns: RUNS, ...(SEED !== undefined ? { seed: SEED } : {}), verbose: 1 as const }
// etcd's messages: etcdserver/mvcc/auth errors, the concurrency package's (`election: no leader`), gRPC's for an aborted call
const MESSAGE = /^(etcdserver: |mvcc: |pocket-etcd: |auth: |election: |mutex: |concurrency: |lease |context canceled$|context deadline exceeded$|"leader" field must be provided$)/

/** Runs `p` on the manual clock for at most `ms` of cluster time; the outcome, or 'hang'. */
async function settleWithin(store: Store, p: Promise<unknown>, ms = 20_000): Promise<{ ok: true } | { ok: false; error: unknown } | 'hang'> {
  let out: { ok: true } | { ok: false; error: unknown } | undefined
  p.then(() => (out = { ok: true }), (error: unknown) => (out = { ok: false, error }))
  await store.sim.until(() => out !== undefined, ms)
  return out ?? 'hang'
}

function checkOutcome(what: string, out: Awaited<ReturnType<typeof settleWithin>>): void {
  assert.notEqual(out, 'hang', `${what} did not settle`)
  if (out === 'hang' || out.ok) return
  const e = out.error
  assert.ok(!(e instanceof InvariantError), `${what} broke an invariant: ${String(e)}`)
  assert.ok(e instanceof EtcdError, `${what} threw a ${e instanceof Error ? e.name : typeof e}, not an EtcdError: ${e instanceof Error ? e.stack : String(e)}`)
  assert.match(e.message, MESSAGE, `${what}: not an etcd-style message: ${e.message}`)
}

const junk = fc.oneof(fc.anything({ maxDepth: 3 }), fc.constant(undefined), fc.constant(null), fc.integer(), fc.double(), fc.bigInt(), fc.string(), fc.uint8Array({ maxLength: 8 }))
const key = fc.oneof(fc.constant(''), fc.constant('\0'), fc.string({ maxLength: 6 }), fc.uint8Array({ maxLength: 6 }), fc.constant('k'.repeat(2_000_000)), junk)
// the typed layer is typed: it gets well-typed but hostile keys (empty, NUL, huge, arbitrary bytes)
const typedKey = fc.oneof(fc.constant(''), fc.constant('\0'), fc.string({ maxLength: 6 }), fc.uint8Array({ maxLength: 6 }), fc.constant('k'.repeat(2_000_000)))
const typedValue = fc.oneof(fc.constant(''), fc.string({ maxLength: 6 }), fc.constant('v'.repeat(2_000_000)))
const value = fc.oneof(fc.constant(''), fc.string({ maxLength: 6 }), fc.constant('v'.repeat(2_000_000)), junk)
const revision = fc.oneof(fc.integer({ min: -5, max: 50 }), fc.constant(Number.MAX_SAFE_INTEGER), fc.constant(1e300), fc.constant(NaN), fc.constant(-0.5), junk)
const leaseId = fc.oneof(fc.constant('0'), fc.constant('1'), fc.constant('-1'), fc.constant('99999999999999999999999'), fc.bigInt().map(String), junk)
const compare = fc.record({ key, target: fc.oneof(fc.constantFrom('VERSION', 'CREATE', 'MOD', 'VALUE', 'LEASE', 'NOPE'), junk), result: fc.oneof(fc.constantFrom('EQUAL', 'GREATER', 'LESS', 'NOT_EQUAL'), junk), version: revision, value, modRevision: revision }, { requiredKeys: [] })
const op: fc.Arbitrary<unknown> = fc.letrec<{ op: unknown; txn: unknown }>((tie) => ({
  op: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.record({ requestPut: fc.record({ key, value, lease: leaseId, prevKv: junk }, { requiredKeys: [] }) }),
    fc.record({ requestRange: fc.record({ key, rangeEnd: key, revision, limit: revision }, { requiredKeys: [] }) }),
    fc.record({ requestDeleteRange: fc.record({ key, rangeEnd: key }, { requiredKeys: [] }) }),
    fc.record({ requestTxn: tie('txn') }),
    junk,
  ),
  txn: fc.record({ compare: fc.oneof(fc.array(compare, { maxLength: 3 }), junk), success: fc.oneof(fc.array(tie('op'), { maxLength: 4 }), junk), failure: fc.oneof(fc.array(tie('op'), { maxLength: 3 }), junk) }, { requiredKeys: [] }),
})).op

type Call = { what: string; run: (store: Store) => Promise<unknown> }
const anyOf = <T>(a: fc.Arbitrary<T>) => a as fc.Arbitrary<never>

const calls: fc.Arbitrary<Call> = fc.oneof(
  fc.record({ key, rangeEnd: key, revision, limit: revision, sortOrder: junk, sortTarget: junk, serializable: junk, keysOnly: junk, countOnly: junk, minModRevision: revision, maxCreateRevision: revision }, { requiredKeys: [] })
    .map((r) => ({ what: `kv.range(${short(r)})`, run: (s: Store) => s.kv.range(r as never) })),
  fc.record({ key, value, lease: leaseId, prevKv: junk, ignoreValue: junk, ignoreLease: junk }, { requiredKeys: [] }).map((r) => ({ what: `kv.put(${short(r)})`, run: (s: Store) => s.kv.put(r as never) })),
  fc.record({ key, rangeEnd: key, prevKv: junk }, { requiredKeys: [] }).map((r) => ({ what: `kv.deleteRange(${short(r)})`, run: (s: Store) => s.kv.deleteRange(r as never) })),
  fc.record({ compare: fc.oneof(fc.array(compare, { maxLength: 3 }), junk), success: fc.oneof(fc.array(op, { maxLength: 5 }), fc.constant(Array.from({ length: 200 }, (_, i) => ({ requestPut: { key: `t${i}`, value: 'x' } }))), junk), failure: fc.oneof(fc.array(op, { maxLength: 3 }), junk) }, { requiredKeys: [] })
    .map((r) => ({ what: `kv.txn(${short(r)})`, run: (s: Store) => s.kv.txn(r as never) })),
  fc.record({ revision, physical: junk }, { requiredKeys: [] }).map((r) => ({ what: `kv.compact(${short(r)})`, run: (s: Store) => s.kv.compact(r as never) })),
  fc.record({ ttl: revision, id: leaseId }, { requiredKeys: [] }).map((r) => ({ what: `lease.grant(${short(r)})`, run: (s: Store) => s.lease.grant(r as never) })),
  fc.record({ id: leaseId }, { requiredKeys: [] }).map((r) => ({ what: `lease.revoke(${short(r)})`, run: (s: Store) => s.lease.revoke(r as never) })),
  fc.record({ id: leaseId }, { requiredKeys: [] }).map((r) => ({ what: `lease.keepAliveOnce(${short(r)})`, run: (s: Store) => s.lease.keepAliveOnce(r as never) })),
  fc.record({ id: leaseId, keys: junk }, { requiredKeys: [] }).map((r) => ({ what: `lease.timeToLive(${short(r)})`, run: (s: Store) => s.lease.timeToLive(r as never) })),
  fc.constant({ what: 'lease.leases()', run: (s: Store) => s.lease.leases() }),
  fc.record({ key, rangeEnd: key, startRevision: revision, filters: junk, prevKv: junk, progressNotify: junk }, { requiredKeys: [] })
    .map((r) => ({ what: `watch.watch(${short(r)})`, run: async (s: Store) => (await s.watch.watch(r as never)).cancel() })),
  fc.record({ name: key, lease: leaseId }, { requiredKeys: [] }).map((r) => ({ what: `lock.lock(${short(r)})`, run: (s: Store) => s.lock.lock(r as never, { signal: AbortSignal.abort() }).catch(abortOk) })),
  fc.record({ key }, { requiredKeys: [] }).map((r) => ({ what: `lock.unlock(${short(r)})`, run: (s: Store) => s.lock.unlock(r as never) })),
  fc.record({ name: key, lease: leaseId, value }, { requiredKeys: [] }).map((r) => ({ what: `election.campaign(${short(r)})`, run: (s: Store) => s.election.campaign(r as never, { signal: AbortSignal.abort() }).catch(abortOk) })),
  fc.record({ leader: fc.oneof(fc.record({ name: key, key, rev: revision, lease: leaseId }, { requiredKeys: [] }), junk), value }, { requiredKeys: [] }).map((r) => ({ what: `election.proclaim(${short(r)})`, run: (s: Store) => s.election.proclaim(r as never) })),
  fc.record({ name: key }, { requiredKeys: [] }).map((r) => ({ what: `election.leader(${short(r)})`, run: (s: Store) => s.election.leader(r as never) })),
  fc.record({ leader: fc.oneof(fc.record({ name: key, key, rev: revision, lease: leaseId }, { requiredKeys: [] }), junk) }, { requiredKeys: [] }).map((r) => ({ what: `election.resign(${short(r)})`, run: (s: Store) => s.election.resign(r as never) })),
  // the typed layer
  fc.tuple(anyOf(typedKey), anyOf(typedValue)).map(([k, v]) => ({ what: `put(${short(k)}).value(${short(v)})`, run: async (s: Store) => s.put(k).value(v) })),
  anyOf(typedKey).map((k) => ({ what: `get(${short(k)}).string()`, run: async (s: Store) => s.get(k).string() })),
  anyOf(typedKey).map((k) => ({ what: `getAll().prefix(${short(k)}).keys()`, run: async (s: Store) => s.getAll().prefix(k).keys() })),
  anyOf(typedKey).map((k) => ({ what: `delete().key(${short(k)})`, run: async (s: Store) => s.delete().key(k) })),
  fc.tuple(anyOf(typedKey), anyOf(fc.constantFrom('Version', 'Value', 'Mod', 'Create', 'Lease')), anyOf(fc.constantFrom('==', '>', '<', '!=')), anyOf(fc.oneof(typedValue, fc.integer())))
    .map(([k, t, c, v]) => ({ what: `if(${short(k)}, ${short(t)}, ${short(c)}, ${short(v)}).commit()`, run: async (s: Store) => s.if(k, t, c, v).then(s.put('x').value('y')).commit() })),
)

/** An aborted wait ends with the abort reason: the request was withdrawn, nothing is left behind. */
function abortOk(err: unknown): void {
  if (err instanceof Error && (err.name === 'AbortError' || err instanceof EtcdError)) {
    if (err instanceof EtcdError) throw err
    return
  }
  throw err
}

function short(v: unknown): string {
  try {
    const s = JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? `${x}n` : typeof x === 'string' && x.length > 20 ? `${x.slice(0, 10)}...(${x.length})` : x instanceof Uint8Array ? `bytes[${x.length}]` : x))
    return s === undefined ? String(v) : s.length > 200 ? `${s.slice(0, 200)}...` : s
  } catch {
    return String(v)
  }
}

describe(`fuzzing the service and typed layers with hostile requests (${RUNS} runs)`, () => {
  it('every call ends in a response or an etcd-style EtcdError, and the store stays consistent and usable', async () => {
    const store = await Store.open({ members: 3, clock: 'manual', seed: 5, requestTimeoutMs: 1_000, limits: { maxTxnOps: 64 } })
    try {
      await fc.assert(
        fc.asyncProperty(fc.array(calls, { minLength: 1, maxLength: 4 }), async (batch) => {
          // a few calls at once, as concurrent clients would send them
          const outs = await Promise.all(batch.map(async (c) => {
            let p: Promise<unknown>
            try {
              p = c.run(store)
            } catch (err) {
              p = Promise.reject(err)
            }
            return { c, out: await settleWithin(store, p) }
          }))
          for (const { c, out } of outs) checkOutcome(c.what, out)
        }),
        params,
      )
      await assertConverged(store, 20_000)
      const put = await settleWithin(store, store.kv.put({ key: 'after-fuzz', value: 'ok' }))
      assert.deepEqual(put, { ok: true }, 'the store no longer serves writes after the fuzzing')
      const got = await settleWithin(store, store.get('after-fuzz').string().then((v) => assert.equal(v, 'ok')))
      assert.deepEqual(got, { ok: true }, 'the store no longer serves reads after the fuzzing')
    } finally {
      await store.close()
    }
  })

  it('calls racing close() end in a response or an EtcdError (pocket-etcd: store is closed)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(calls, { minLength: 1, maxLength: 5 }), fc.nat(3), async (batch, closeAfter) => {
        const store = await Store.open({ members: 1, clock: 'manual', seed: 9, requestTimeoutMs: 1_000 })
        const pending = batch.map((c) => {
          let p: Promise<unknown>
          try {
            p = c.run(store)
          } catch (err) {
            p = Promise.reject(err)
          }
          // settled into a value at once, so no rejection is ever unhandled
          const settled = p.then((): { ok: true } => ({ ok: true }), (error: unknown) => ({ ok: false as const, error }))
          return { c, settled }
        })
        for (let i = 0; i < closeAfter; i++) await store.sim.advance(1)
        const closing = store.close()
        for (const { c, settled } of pending) {
          let timer: ReturnType<typeof setTimeout> | undefined
          const out = await Promise.race([settled, new Promise<'hang'>((r) => (timer = setTimeout(() => r('hang'), 2_000)))])
          clearTimeout(timer)
          checkOutcome(`${c.what} racing close`, out)
        }
        await closing
      }),
      { ...params, numRuns: Math.max(10, Math.floor(RUNS / 5)) },
    )
  })
})
