/**
 * Hostile-input fuzzing of the administrative services (store.auth, store.cluster,
 * store.maintenance), with fast-check: wrong types, nulls, empty and huge names, unknown and
 * out-of-range ids, negative and future revisions, bad URLs, bad enum values, and calls
 * racing a close. Every call must end, within bounded cluster time, in a response or an
 * `EtcdError` whose message is etcd-style: never a TypeError, RangeError or InvariantError,
 * never a hang. Afterwards the members' hashKV agree and the store serves reads and writes.
 * fast-check prints its seed and path on failure; replay with FUZZ_SEED=<seed> (and
 * FUZZ_RUNS=<n> for longer runs).
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { Store } from '../../src/store.js'
import { EtcdError, InvariantError } from '../../src/errors.js'
import { assertConverged } from '../../src/testing/index.js'

const RUNS = Number(process.env.FUZZ_RUNS ?? 150)
const SEED = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED)
const params = { numRuns: RUNS, ...(SEED !== undefined ? { seed: SEED } : {}), verbose: 0 as const, includeErrorInReport: true }
const MESSAGE = /^(etcdserver: |mvcc: |pocket-etcd: |auth: |raft: |membership: |context canceled$|context deadline exceeded$)/

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

const HUGE = 'n'.repeat(1_000_000)
const junk = fc.oneof(fc.anything({ maxDepth: 2 }), fc.constant(undefined), fc.constant(null), fc.integer(), fc.double(), fc.bigInt(), fc.string(), fc.uint8Array({ maxLength: 4 }))
const name = fc.oneof(fc.constant(''), fc.constantFrom('root', 'u', 'r', '\0', 'a b'), fc.string({ maxLength: 5 }), fc.constant(HUGE), junk)
const password = fc.oneof(fc.constant(''), fc.string({ maxLength: 5 }), fc.constant(HUGE), junk)
const key = fc.oneof(fc.constant(''), fc.constant('\0'), fc.string({ maxLength: 4 }), fc.uint8Array({ maxLength: 4 }), fc.constant(HUGE), junk)
const permType = fc.oneof(fc.constantFrom('READ', 'WRITE', 'READWRITE', 'read', 'ADMIN', ''), junk)
const id = fc.oneof(fc.constantFrom('0', '1', '-1', '18446744073709551615', '18446744073709551616', '99999999999999999999999', 'abc', ''), fc.bigInt().map(String), fc.integer(), junk)
const revision = fc.oneof(fc.integer({ min: -5, max: 100 }), fc.constant(Number.MAX_SAFE_INTEGER), fc.constant(1e300), fc.constant(NaN), fc.constant(-0.5), junk)
const url = fc.oneof(
  fc.constantFrom('', 'http://', 'http://10.0.0.9', 'http://10.0.0.9:2380', 'https://[::1]:2380', 'unix:///tmp/x', 'ftp://x:1', 'not a url', 'http://10.0.0.9:99999', 'http://m1.pocket-etcd:2380'),
  fc.webUrl(),
  fc.constant(`http://${HUGE}:1`),
  junk,
)
const urls = fc.oneof(fc.array(url, { maxLength: 3 }), junk)
const emptyReq = fc.oneof(fc.constant(undefined), fc.constant({}), junk)

type Call = { what: string; run: (store: Store) => Promise<unknown> }
const call = <T>(label: string, arb: fc.Arbitrary<T>, run: (s: Store, r: never) => Promise<unknown>): fc.Arbitrary<Call> =>
  arb.map((r) => ({ what: `${label}(${short(r)})`, run: (s: Store) => run(s, r as never) }))

const authCalls: fc.Arbitrary<Call>[] = [
  call('auth.authEnable', emptyReq, (s, r) => s.auth.authEnable(r)),
  call('auth.authStatus', emptyReq, (s, r) => s.auth.authStatus(r)),
  call('auth.authenticate', fc.record({ name, password }, { requiredKeys: [] }), (s, r) => s.auth.authenticate(r)),
  call('auth.userAdd', fc.record({ name, password, options: fc.oneof(fc.record({ noPassword: fc.oneof(fc.boolean(), junk) }, { requiredKeys: [] }), junk) }, { requiredKeys: [] }), (s, r) => s.auth.userAdd(r)),
  call('auth.userGet', fc.record({ name }, { requiredKeys: [] }), (s, r) => s.auth.userGet(r)),
  call('auth.userList', emptyReq, (s, r) => s.auth.userList(r)),
  call('auth.userDelete', fc.record({ name }, { requiredKeys: [] }), (s, r) => s.auth.userDelete(r)),
  call('auth.userChangePassword', fc.record({ name, password }, { requiredKeys: [] }), (s, r) => s.auth.userChangePassword(r)),
  call('auth.userGrantRole', fc.record({ user: name, role: name }, { requiredKeys: [] }), (s, r) => s.auth.userGrantRole(r)),
  call('auth.userRevokeRole', fc.record({ name, role: name }, { requiredKeys: [] }), (s, r) => s.auth.userRevokeRole(r)),
  call('auth.roleAdd', fc.record({ name }, { requiredKeys: [] }), (s, r) => s.auth.roleAdd(r)),
  call('auth.roleGet', fc.record({ role: name }, { requiredKeys: [] }), (s, r) => s.auth.roleGet(r)),
  call('auth.roleList', emptyReq, (s, r) => s.auth.roleList(r)),
  call('auth.roleDelete', fc.record({ role: name }, { requiredKeys: [] }), (s, r) => s.auth.roleDelete(r)),
  call('auth.roleGrantPermission', fc.record({ name, perm: fc.oneof(fc.record({ permType, key, rangeEnd: key }, { requiredKeys: [] }), junk) }, { requiredKeys: [] }), (s, r) => s.auth.roleGrantPermission(r)),
  call('auth.roleRevokePermission', fc.record({ role: name, key, rangeEnd: key }, { requiredKeys: [] }), (s, r) => s.auth.roleRevokePermission(r)),
]
const clusterCalls: fc.Arbitrary<Call>[] = [
  // new members are learners or bad requests: a fuzzed voter that never starts would cost the quorum, which is no bug
  call('cluster.memberAdd', fc.record({ peerURLs: urls, isLearner: fc.oneof(fc.constant(true), junk) }, { requiredKeys: ['isLearner'] }).filter((r) => r.isLearner === true || typeof r.isLearner !== 'boolean'), (s, r) => s.cluster.memberAdd(r)),
  call('cluster.memberRemove', fc.record({ id }, { requiredKeys: [] }), (s, r) => s.cluster.memberRemove(r)),
  call('cluster.memberUpdate', fc.record({ id, peerURLs: urls }, { requiredKeys: [] }), (s, r) => s.cluster.memberUpdate(r)),
  call('cluster.memberList', emptyReq, (s, r) => s.cluster.memberList(r)),
  call('cluster.memberPromote', fc.record({ id }, { requiredKeys: [] }), (s, r) => s.cluster.memberPromote(r)),
]
const maintenanceCalls: fc.Arbitrary<Call>[] = [
  call('maintenance.status', emptyReq, (s, r) => s.maintenance.status(r)),
  call('maintenance.hashKV', fc.oneof(fc.record({ revision }, { requiredKeys: [] }), junk), (s, r) => s.maintenance.hashKV(r)),
  call('maintenance.defragment', emptyReq, (s, r) => s.maintenance.defragment(r)),
  call('maintenance.moveLeader', fc.record({ targetID: id }, { requiredKeys: [] }), (s, r) => s.maintenance.moveLeader(r)),
  call('maintenance.alarm', fc.oneof(fc.record({ action: fc.oneof(fc.constantFrom('GET', 'ACTIVATE', 'DEACTIVATE', 'get', 'NOPE'), junk), memberID: id, alarm: fc.oneof(fc.constantFrom('NONE', 'NOSPACE', 'CORRUPT', 'BAD'), junk) }, { requiredKeys: [] }), junk), (s, r) => s.maintenance.alarm(r)),
  call('maintenance.snapshot', emptyReq, async (s, r) => s.maintenance.snapshot(r).bytes()),
  // the member views too
  call('member(m2).maintenance.hashKV', fc.oneof(fc.record({ revision }, { requiredKeys: [] }), junk), (s, r) => s.member('m2').maintenance.hashKV(r)),
  call('member(m3).cluster.memberList', emptyReq, (s, r) => s.member('m3').cluster.memberList(r)),
]
const calls = fc.oneof(...authCalls, ...clusterCalls, ...maintenanceCalls)

function short(v: unknown): string {
  try {
    const s = JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? `${x}n` : typeof x === 'string' && x.length > 20 ? `${x.slice(0, 10)}...(${x.length})` : x instanceof Uint8Array ? `bytes[${x.length}]` : x))
    return s === undefined ? String(v) : s.length > 200 ? `${s.slice(0, 200)}...` : s
  } catch {
    return String(v)
  }
}

function start(c: Call, store: Store): Promise<unknown> {
  try {
    return c.run(store)
  } catch (err) {
    return Promise.reject(err)
  }
}

describe(`fuzzing the auth, cluster and maintenance services with hostile requests (${RUNS} runs)`, () => {
  it('every call ends in a response or an etcd-style EtcdError; the members agree and the store stays usable', async () => {
    const store = await Store.open({ members: 3, clock: 'manual', seed: 13, requestTimeoutMs: 1_000 })
    try {
      await fc.assert(
        fc.asyncProperty(fc.array(calls, { minLength: 1, maxLength: 4 }), async (batch) => {
          const outs = await Promise.all(batch.map(async (c) => ({ c, out: await settleWithin(store, start(c, store)) })))
          for (const { c, out } of outs) checkOutcome(c.what, out)
        }),
        params,
      )
      // a raised NOSPACE alarm refuses writes, as etcd: clear every alarm before checking the store
      const alarms = await store.maintenance.alarm({ action: 'GET' })
      for (const a of alarms.alarms) await store.maintenance.alarm({ action: 'DEACTIVATE', memberID: a.memberID, alarm: a.alarm })
      // auth may have been left enabled only with a root user, which the fuzzing never gets a password-less token for
      const status = await settleWithin(store, store.auth.authStatus())
      assert.deepEqual(status, { ok: true }, 'auth was left enabled by junk requests')
      await assertConverged(store, 20_000)
      const hashes = await Promise.all(['m1', 'm2', 'm3'].map(async (m) => (await store.member(m).maintenance.hashKV()).hash))
      assert.equal(new Set(hashes).size, 1, `members disagree on hashKV: ${hashes.join(', ')}`)
      const put = await settleWithin(store, store.kv.put({ key: 'after-fuzz', value: 'ok' }))
      assert.deepEqual(put, { ok: true }, 'the store no longer serves writes after the fuzzing')
      const got = await settleWithin(store, store.get('after-fuzz').string().then((v) => assert.equal(v, 'ok')))
      assert.deepEqual(got, { ok: true }, 'the store no longer serves reads after the fuzzing')
    } finally {
      await store.close()
    }
  })

  it('calls racing close() end in a response or an EtcdError, never a hang', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(calls, { minLength: 1, maxLength: 5 }), fc.nat(3), async (batch, closeAfter) => {
        const store = await Store.open({ members: 3, clock: 'manual', seed: 17, requestTimeoutMs: 1_000 })
        const pending = batch.map((c) => {
          const settled = start(c, store).then((): { ok: true } => ({ ok: true }), (error: unknown) => ({ ok: false as const, error }))
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
