/**
 * Property test of the auth invariant, with fast-check: no request made with a token that
 * lacks permission reads or changes any key outside the sender's grant.
 *
 * Each run gives a few users random READ / WRITE / READWRITE grants on single keys, ranges,
 * prefixes and from-key (`'\0'`) ranges over a small key alphabet (so requests straddle grant
 * edges), seeds a random key space, then sends random requests per user: range, put,
 * deleteRange (with prevKv), txns with compares and ops in both branches and nested txns,
 * watches (with start revisions) and revokes of leases with attached keys, plus requests
 * with an empty or forged token. An oracle computed here from the grants alone (not from
 * src/auth) says whether each request is permitted; a range straddling a grant edge is
 * refused as a whole, as etcd does (`isRangeOpPermitted` wants one merged interval covering
 * the request). Checked after every request, against the key space read as root:
 * - refused: fails with `etcdserver: permission denied` (bad token: `etcdserver: user name is
 *   empty` / `etcdserver: invalid auth token`) and the key space and revision are unchanged;
 * - permitted: succeeds, every key-value it returns is inside the user's READ grant, and
 *   every key that changed is inside the user's WRITE grant.
 * fast-check prints its seed and path on failure; replay with FUZZ_SEED=<seed> (and
 * FUZZ_RUNS=<n> for longer runs).
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { Store } from '../../src/store.js'
import { EtcdError } from '../../src/errors.js'
import type { AuthView } from '../../src/services/auth-view.js'

const RUNS = Number(process.env.FUZZ_RUNS ?? 150)
const SEED = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED)
const params = { numRuns: RUNS, ...(SEED !== undefined ? { seed: SEED } : {}), verbose: 0 as const, includeErrorInReport: true }

const DENIED = 'etcdserver: permission denied'
const INVALID_TXN = 'etcdserver: duplicate key given in txn request'
const USERS = ['u0', 'u1', 'u2'] as const
const dec = new TextDecoder()
const text = (b: Uint8Array | string): string => (typeof b === 'string' ? b : dec.decode(b))

// --- the oracle: intervals over strings (the alphabet is ASCII, so string order is byte order) ---

type PermType = 'READ' | 'WRITE' | 'READWRITE'
/** A grant as the test writes it: `end` undefined is the single key, '\0' from `key` on. */
interface Grant { type: PermType; key: string; end?: string }
/** [start, end); end undefined: unbounded. */
interface Ivl { start: string; end: string | undefined }

function grantIvl(g: Grant): Ivl {
  if (g.end === undefined) return { start: g.key, end: `${g.key}\0` }
  if (g.end === '\0') return { start: g.key, end: undefined }
  return { start: g.key, end: g.end }
}

/** Does the union of `ivls` cover [start, end) with ONE merged interval (etcd's Contains on the merged set)? */
function covers(ivls: Ivl[], start: string, end: string | undefined): boolean {
  const sorted = ivls.filter((i) => i.end === undefined || i.start < i.end).sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0))
  const merged: Ivl[] = []
  for (const i of sorted) {
    const last = merged[merged.length - 1]
    if (last !== undefined && (last.end === undefined || i.start <= last.end)) {
      if (last.end !== undefined && (i.end === undefined || i.end > last.end)) last.end = i.end
    } else merged.push({ ...i })
  }
  return merged.some((m) => m.start <= start && (m.end === undefined || (end !== undefined && end <= m.end)))
}

class Oracle {
  private readonly grants: Grant[]
  constructor(grants: Grant[]) {
    // etcd RoleGrantPermission: the permissions are kept sorted by key; when the FIRST one on the
    // granted key has the same range end its type changes, otherwise a new permission is added
    // (so READ [b, \0) then READ [b, ca) then WRITE [b, \0) keeps READ [b, \0) too)
    const perms: Grant[] = []
    for (const g of grants) {
      let idx = perms.findIndex((p) => p.key >= g.key)
      if (idx < 0) idx = perms.length
      const same = perms[idx]
      if (same !== undefined && same.key === g.key && (same.end ?? '') === (g.end ?? '')) perms[idx] = { ...same, type: g.type }
      else perms.splice(idx, 0, g)
    }
    this.grants = perms
  }
  private ivls(kind: 'READ' | 'WRITE'): Ivl[] {
    return this.grants.filter((g) => g.type === kind || g.type === 'READWRITE').map(grantIvl)
  }
  /** A request range: `end` undefined the single key, '\0' from key on. */
  may(kind: 'READ' | 'WRITE', key: string, end?: string): boolean {
    const ivls = this.ivls(kind)
    if (end === undefined || end === '') return covers(ivls, key, `${key}\0`)
    if (end === '\0') return covers(ivls, key, undefined)
    return covers(ivls, key, end)
  }
  mayKey(kind: 'READ' | 'WRITE', key: string): boolean {
    return this.may(kind, key)
  }
}

// --- requests ---

const ALPHABET = ['a', 'b', 'c']
const keyArb = fc.oneof(fc.constantFrom(...ALPHABET), fc.tuple(fc.constantFrom(...ALPHABET), fc.constantFrom(...ALPHABET, '\0')).map(([a, b]) => a + b))
/** A range as [key, end): end undefined (single key), '\0' (from key), a prefix end, or a greater key. */
const rangeArb = fc.oneof(
  keyArb.map((key) => ({ key, end: undefined as string | undefined })),
  keyArb.map((key) => ({ key, end: '\0' })),
  keyArb.map((key) => ({ key, end: key.slice(0, -1) + String.fromCharCode(key.charCodeAt(key.length - 1) + 1) })),
  fc.tuple(keyArb, keyArb).filter(([a, b]) => a !== b).map(([a, b]) => (a < b ? { key: a, end: b as string | undefined } : { key: b, end: a })),
)
const grantArb: fc.Arbitrary<Grant> = fc.tuple(fc.constantFrom<PermType>('READ', 'WRITE', 'READWRITE'), rangeArb).map(([type, r]) => ({ type, key: r.key, ...(r.end !== undefined ? { end: r.end } : {}) }))

type Range = { key: string; end?: string | undefined }
type Op =
  | { range: Range }
  | { put: { key: string; prevKv: boolean } }
  | { del: Range & { prevKv: boolean } }
  | { txn: Txn }
interface Txn { compare: Range[]; success: Op[]; failure: Op[] }
type Req =
  | Op
  | { watch: Range & { startRevision: number } }
  | { revoke: { keys: string[] } }

const opArb: fc.Arbitrary<Op> = fc.letrec<{ op: Op; txn: Txn }>((tie) => ({
  op: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    rangeArb.map((range) => ({ range })),
    fc.tuple(keyArb, fc.boolean()).map(([key, prevKv]) => ({ put: { key, prevKv } })),
    fc.tuple(rangeArb, fc.boolean()).map(([r, prevKv]) => ({ del: { ...r, prevKv } })),
    tie('txn').map((txn) => ({ txn })),
  ),
  txn: fc.record({ compare: fc.array(rangeArb, { maxLength: 2 }), success: fc.array(tie('op'), { maxLength: 3 }), failure: fc.array(tie('op'), { maxLength: 2 }) }),
})).op
const reqArb: fc.Arbitrary<Req> = fc.oneof(
  { weight: 6, arbitrary: opArb },
  { weight: 1, arbitrary: fc.tuple(rangeArb, fc.integer({ min: 0, max: 30 })).map(([r, startRevision]) => ({ watch: { ...r, startRevision } })) },
  { weight: 1, arbitrary: fc.uniqueArray(keyArb, { minLength: 1, maxLength: 3 }).map((keys) => ({ revoke: { keys } })) },
)

/** What the oracle expects of an op: permitted or not (etcd checks every op of both branches, and nested txns). */
function opPermitted(o: Oracle, op: Op): boolean {
  if ('range' in op) return o.may('READ', op.range.key, op.range.end)
  if ('put' in op) return o.mayKey('WRITE', op.put.key) && (!op.put.prevKv || o.mayKey('READ', op.put.key))
  if ('del' in op) return o.may('WRITE', op.del.key, op.del.end) && (!op.del.prevKv || o.may('READ', op.del.key, op.del.end))
  const t = op.txn
  return t.compare.every((c) => o.may('READ', c.key, c.end)) && t.success.every((x) => opPermitted(o, x)) && t.failure.every((x) => opPermitted(o, x))
}

const endField = (r: Range) => (r.end === undefined ? {} : { rangeEnd: r.end })

function toRequestOp(op: Op, value: string): unknown {
  if ('range' in op) return { requestRange: { key: op.range.key, ...endField(op.range) } }
  if ('put' in op) return { requestPut: { key: op.put.key, value, prevKv: op.put.prevKv } }
  if ('del' in op) return { requestDeleteRange: { key: op.del.key, ...endField(op.del), prevKv: op.del.prevKv } }
  return { requestTxn: toTxn(op.txn, value) }
}
function toTxn(t: Txn, value: string): unknown {
  return {
    compare: t.compare.map((c) => ({ key: c.key, ...endField(c), target: 'VERSION', result: 'GREATER', version: 0 })),
    success: t.success.map((o) => toRequestOp(o, value)),
    failure: t.failure.map((o) => toRequestOp(o, value)),
  }
}

function show(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => (x instanceof Uint8Array ? text(x) : x))
}

/** Every KeyValue anywhere in a response (kvs, prevKvs, prevKv, events' kv/prevKv, nested txn responses). */
function keyValues(v: unknown, out: string[] = []): string[] {
  if (Array.isArray(v)) for (const x of v) keyValues(x, out)
  else if (v !== null && typeof v === 'object' && !(v instanceof Uint8Array)) {
    const o = v as Record<string, unknown>
    if (o.key instanceof Uint8Array && typeof o.modRevision === 'number') out.push(text(o.key))
    for (const x of Object.values(o)) keyValues(x, out)
  }
  return out
}

/** A watch refused at creation: etcd answers with a canceled response whose reason is the error. */
class WatchRefused extends Error {}

type Snapshot = { revision: number; kvs: Map<string, string> }

describe(`auth property: no request reads or changes a key outside its sender's grant (${RUNS} runs)`, () => {
  let store: Store
  let root: AuthView
  const views = new Map<string, AuthView>()

  before(async () => {
    store = await Store.open({ members: 3, clock: 'manual', seed: 11 })
    await store.auth.userAdd({ name: 'root', password: 'rp' })
    await store.auth.roleAdd({ name: 'root' })
    await store.auth.userGrantRole({ user: 'root', role: 'root' })
    for (const u of USERS) await store.auth.userAdd({ name: u, password: `p-${u}` })
    await store.auth.authEnable()
    root = store.as((await store.auth.authenticate({ name: 'root', password: 'rp' })).token)
    for (const u of USERS) views.set(u, store.as((await store.auth.authenticate({ name: u, password: `p-${u}` })).token))
  })
  after(() => store.close())

  async function snapshot(): Promise<Snapshot> {
    const r = await root.kv.range({ key: '\0', rangeEnd: '\0' })
    return { revision: r.header.revision, kvs: new Map(r.kvs.map((kv) => [text(kv.key), `${text(kv.value)}@${kv.modRevision}/${kv.lease}`])) }
  }
  function changed(a: Snapshot, b: Snapshot): string[] {
    const keys = new Set([...a.kvs.keys(), ...b.kvs.keys()])
    return [...keys].filter((k) => a.kvs.get(k) !== b.kvs.get(k))
  }

  /** Sends one request as `view`; for a revoke, first attaches `keys` to a new lease as root. */
  async function send(view: AuthView, req: Req, value: string): Promise<{ ok: true; resp: unknown } | { ok: false; error: unknown }> {
    try {
      if ('watch' in req) {
        const w = req.watch
        const stream = await view.watch.watch({ key: w.key, ...endField(w), startRevision: w.startRevision, prevKv: true })
        const responses: unknown[] = []
        let done = false
        const reading = (async () => {
          for (;;) {
            const n = await stream.next()
            if (n.done) break
            responses.push(n.value)
            if (n.value.canceled) break
          }
          done = true
        })()
        // the created response and whatever history the start revision replays
        await store.sim.until(() => done || responses.length >= 2, 50)
        await stream.cancel()
        await store.sim.until(() => done, 1_000)
        await reading
        const first = responses[0] as { canceled: boolean; cancelReason: string } | undefined
        if (first?.canceled === true && first.cancelReason.includes('etcdserver:')) {
          return { ok: false, error: new WatchRefused(first.cancelReason.replace(/^rpc error: code = \w+ desc = /, '')) }
        }
        return { ok: true, resp: responses }
      }
      if ('range' in req) return { ok: true, resp: await view.kv.range({ key: req.range.key, ...endField(req.range) }) }
      if ('put' in req) return { ok: true, resp: await view.kv.put({ key: req.put.key, value, prevKv: req.put.prevKv }) }
      if ('del' in req) return { ok: true, resp: await view.kv.deleteRange({ key: req.del.key, ...endField(req.del), prevKv: req.del.prevKv }) }
      if ('txn' in req) return { ok: true, resp: await view.kv.txn(toTxn(req.txn, value) as never) }
      throw new Error('unreachable')
    } catch (error) {
      return { ok: false, error }
    }
  }

  it('refused requests fail with etcd errors and change nothing; permitted ones stay inside the grant', async () => {
    let round = 0
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(grantArb, { maxLength: 4 }), { minLength: USERS.length, maxLength: USERS.length }),
        fc.uniqueArray(keyArb, { maxLength: 8 }),
        fc.array(fc.tuple(fc.constantFrom(...USERS, 'no-token', 'bad-token'), reqArb), { minLength: 1, maxLength: 12 }),
        async (grants, seedKeys, reqs) => {
          round++
          // fresh roles with this run's grants (role deletion revokes them from the users)
          for (const [i, u] of USERS.entries()) {
            await root.auth.roleDelete({ role: `r-${u}` }).catch(() => undefined)
            await root.auth.roleAdd({ name: `r-${u}` })
            for (const g of grants[i] ?? []) {
              await root.auth.roleGrantPermission({ name: `r-${u}`, perm: { permType: g.type, key: g.key, ...(g.end !== undefined ? { rangeEnd: g.end } : {}) } })
            }
            await root.auth.userGrantRole({ user: u, role: `r-${u}` })
          }
          // a fresh key space
          await root.kv.deleteRange({ key: '\0', rangeEnd: '\0' })
          for (const k of seedKeys) await root.kv.put({ key: k, value: `seed-${round}` })
          const oracles = new Map<string, Oracle>(USERS.map((u, i) => [u, new Oracle(grants[i] ?? [])]))

          for (const [n, [who, req]] of reqs.entries()) {
            const value = `v-${round}-${n}`
            const what = `${who}: ${show(req)} with grants ${show(grants[USERS.indexOf(who as (typeof USERS)[number])] ?? [])}`
            let leaseId: string | undefined
            if ('revoke' in req) {
              leaseId = (await root.lease.grant({ ttl: 600 })).id
              for (const k of req.revoke.keys) await root.kv.put({ key: k, value: `leased-${round}`, lease: leaseId })
            }
            const view = who === 'no-token' ? store.as('') : who === 'bad-token' ? store.as('forged.1') : views.get(who)
            assert.ok(view !== undefined)
            const before = await snapshot()
            const out = 'revoke' in req
              ? await view.lease.revoke({ id: leaseId as string }).then((resp) => ({ ok: true as const, resp }), (error: unknown) => ({ ok: false as const, error }))
              : await send(view, req, value)
            const afterSnap = await snapshot()
            const oracle = oracles.get(who)
            const permitted = oracle === undefined
              ? false
              : 'revoke' in req
                ? req.revoke.keys.every((k) => oracle.mayKey('WRITE', k))
                : 'watch' in req
                  ? oracle.may('READ', req.watch.key, req.watch.end)
                  : opPermitted(oracle, req)
            if (!out.ok && out.error instanceof EtcdError && out.error.message === INVALID_TXN) {
              // etcd validates a txn before it checks permissions (v3rpc checkTxnRequest): refused whoever sends it
              assert.deepEqual(changed(before, afterSnap), [], `${what}: an invalid txn changed keys`)
            } else if (!permitted) {
              assert.equal(out.ok, false, `${what}: permitted, the oracle says it must be refused; response ${show(out.ok ? out.resp : undefined)}`)
              const e = (out as { error: unknown }).error
              assert.ok(e instanceof EtcdError || e instanceof WatchRefused, `${what}: refused with a non-EtcdError ${String(e)}`)
              const expected = who === 'no-token' ? ['etcdserver: user name is empty', 'etcdserver: invalid auth token'] : who === 'bad-token' ? ['etcdserver: invalid auth token'] : [DENIED]
              assert.ok(expected.includes(e.message), `${what}: refused with "${e.message}", expected ${expected.join(' or ')}`)
              assert.deepEqual(changed(before, afterSnap), [], `${what}: a refused request changed keys`)
              assert.equal(afterSnap.revision, before.revision, `${what}: a refused request moved the revision`)
            } else {
              assert.ok(out.ok, `${what}: refused (${out.ok ? '' : String(out.error)}), the oracle says it is permitted`)
              for (const k of keyValues(out.resp)) assert.ok(oracle?.mayKey('READ', k), `${what}: returned key ${show(k)} outside the READ grant`)
              for (const k of changed(before, afterSnap)) assert.ok(oracle?.mayKey('WRITE', k), `${what}: changed key ${show(k)} outside the WRITE grant`)
            }
            if (leaseId !== undefined && !out.ok) await root.lease.revoke({ id: leaseId })
          }
        },
      ),
      {
        ...params,
        // always checked: a write-only user's txn put with prevKv would read the key (etcd lets it)
        examples: [[[[{ type: 'WRITE', key: 'b' }], [], []], ['b'], [['u0', { txn: { compare: [], success: [{ put: { key: 'b', prevKv: true } }], failure: [] } }]]]],
      },
    )
  })
})
