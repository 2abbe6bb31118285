/**
 * Differential test of auth: the same requests against pocket-etcd (`Store({ members: 1 })`)
 * and a real etcd 3.4 through its JSON gateway (`/v3/auth/*`, tokens in the `Authorization`
 * header), comparing every comparable field — top-level header revisions, roles, users,
 * permissions, key-values, txn results — and every error message and gRPC code exactly.
 * Header ids, raft terms and token values differ by nature and are not compared.
 *
 * Part 1 is a scripted scenario: users, roles and their errors before auth is enabled;
 * unauthenticated and invalid-token requests; per-user range/put/delete/txn (compares, both
 * branches, nested) inside, outside and straddling grants, with the whole key space (and its
 * revision) compared after every request so a refused write provably changed nothing; watch
 * creation; root-only management; token invalidation. Part 2 is a seeded random sequence of
 * grants, revokes and permission-checked requests by several users.
 *
 * `DIFF_SEED=... DIFF_OPS=...` replay or extend part 2; `CI=true` makes a missing etcd a failure.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { Store } from '../../src/store.js'
import { EtcdError } from '../../src/errors.js'
import { Random } from '../../src/sim/random.js'
import type { WatchResponse } from '../../src/api/messages.js'
import type { KVApi } from '../../src/services/kv-api.js'
import type { AuthApi, PermType } from '../../src/services/auth-api.js'
import type { TxnRequestInput } from '../../src/services/kv-schema.js'
import { parseRequest } from '../../src/services/kv-schema.js'
import { watchCreateRequestSchema } from '../../src/services/watch-schema.js'
import { EtcdGateway } from '../support/etcd-gateway.js'
import { EtcdAuthGateway } from '../support/etcd-auth-gateway.js'
import { etcdBinaryOrSkip, findEtcdBinary, startEtcd, type EtcdProcess } from '../support/etcd-process.js'
import { gatewayWatch } from '../support/etcd-watch.js'

const text = (b: Uint8Array) => Buffer.from(b).toString('latin1')

type Outcome = { ok: true; value: unknown } | { ok: false; message: string; grpcCode: string }

async function outcome(p: Promise<unknown>): Promise<Outcome> {
  try {
    return { ok: true, value: normalize(await p, 0) }
  } catch (err) {
    if (!(err instanceof EtcdError)) throw err
    return { ok: false, message: err.message, grpcCode: err.grpcCode }
  }
}

/** What both sides must agree on: bytes as text, the top-level header's revision only (nested headers differ by design, see kv-diff), no token values. */
function normalize(v: unknown, depth: number): unknown {
  if (v === null || typeof v !== 'object') return v
  if (v instanceof Uint8Array) return text(v)
  if (Array.isArray(v)) return v.map((x) => normalize(x, depth + 1))
  const out: Record<string, unknown> = {}
  for (const [k, x] of Object.entries(v)) {
    if (k === 'header') {
      if (depth === 0) out.revision = (x as { revision: number }).revision
    } else if (k !== 'token') out[k] = normalize(x, depth + 1)
  }
  return out
}

/** The first response of a new watch, reduced to what is compared; `watchId` is compared for refused watches. */
interface WatchStart {
  created: boolean
  canceled: boolean
  cancelReason: string
  revision: number
  watchId: string
}

/** One user's view of one side. */
interface View {
  kv: KVApi
  auth: AuthApi
  watchStart(key: string, rangeEnd?: string): Promise<WatchStart>
}

/** One side: anonymous and per-user views; `login` keeps that side's token for the user. */
interface Side {
  name: 'ours' | 'etcd'
  anon: View
  as(user: string): View
  login(user: string, password: string): Promise<unknown>
  withToken(token: string): View
}

function startOf(r: WatchResponse | undefined): WatchStart {
  if (r === undefined) throw new Error('watch ended without a response')
  return { created: r.created, canceled: r.canceled, cancelReason: r.cancelReason, revision: r.header.revision, watchId: r.watchId }
}

function oursSide(store: Store): Side {
  const tokens = new Map<string, string>()
  const view = (token: string | undefined): View => {
    const v = token === undefined ? { kv: store.kv, auth: store.auth, watch: store.watch } : store.as(token)
    return {
      kv: v.kv,
      auth: v.auth,
      async watchStart(key, rangeEnd) {
        const s = await v.watch.watch({ key, rangeEnd: rangeEnd ?? '' })
        const first = await s[Symbol.asyncIterator]().next()
        await s.cancel?.()
        return startOf(first.done ? undefined : first.value)
      },
    }
  }
  return {
    name: 'ours',
    anon: view(undefined),
    as: (user) => view(tokens.get(user) ?? `missing-${user}`),
    withToken: (token) => view(token),
    async login(user, password) {
      const r = await store.auth.authenticate({ name: user, password })
      tokens.set(user, r.token)
      return r
    },
  }
}

function etcdSide(url: string): Side {
  const tokens = new Map<string, string>()
  const view = (token: string | undefined): View => {
    const gw = new EtcdGateway(url, token === undefined ? {} : { token })
    return {
      kv: gw,
      auth: new EtcdAuthGateway(gw),
      async watchStart(key, rangeEnd) {
        const w = await gatewayWatch(url, parseRequest(watchCreateRequestSchema, { key, rangeEnd: rangeEnd ?? '' }, 'WatchCreateRequest'), token)
        try {
          return startOf(await w.next())
        } finally {
          w.close()
        }
      },
    }
  }
  const anon = view(undefined)
  return {
    name: 'etcd',
    anon,
    as: (user) => view(tokens.get(user) ?? `missing-${user}`),
    withToken: (token) => view(token),
    async login(user, password) {
      const r = await anon.auth.authenticate({ name: user, password })
      tokens.set(user, r.token)
      return r
    },
  }
}

/**
 * The second known difference: etcd 3.4's `checkTxnReqsPermission` (apply_auth.go) has no
 * case for a nested `RequestOp_RequestTxn`, so the ops and compares of a nested txn are never
 * permission-checked — a user can read (and write) outside its grants through one.
 * pocket-etcd's `checkTxn` (src/auth/permissions.ts) checks nested txns recursively, as later
 * etcd releases do; kept deliberately. The scripted part checks the exact difference on
 * read-only txns; the random part generates no nested txns.
 */
const NESTED_TXN = 'etcd 3.4 does not permission-check nested txns'
void NESTED_TXN

/**
 * The third known difference, found by seed 1: etcd 3.4's `isWatchPermitted` runs after the
 * watch request's `"\0"` range end was turned into an empty one (from-key), so a from-key
 * watch is checked as a single-key read of its start key; pocket-etcd checks the whole
 * [key, ∞) range (src/services/watch.ts). The random part creates no from-key watches.
 */
const FROM_KEY_WATCH = 'etcd 3.4 checks a from-key watch as a single-key read'
void FROM_KEY_WATCH

const ALL = { key: '\0', rangeEnd: '\0' }

interface Pair {
  ours: Side
  etcd: Side
  /** Root's view, logged in on both sides (set once auth is enabled). */
  rootLoggedIn: boolean
}

/** Runs `run` on both sides and asserts the same outcome (value or error message and code); returns our outcome. */
async function both(p: Pair, what: string, run: (s: Side) => Promise<unknown>): Promise<Outcome> {
  const a = await outcome(run(p.ours))
  const b = await outcome(run(p.etcd))
  assert.deepEqual(a, b, `${what}: pocket-etcd ${JSON.stringify(a)} vs etcd ${JSON.stringify(b)}`)
  return a
}

/** The whole key space as root (or anonymously while auth is off), on both sides. */
async function snapshot(p: Pair, what: string): Promise<number> {
  const r = await both(p, `${what}: key space`, (s) => (p.rootLoggedIn ? s.as('root') : s.anon).kv.range(ALL))
  assert.ok(r.ok, `${what}: key space readable`)
  return (r.value as { revision: number }).revision
}

/** A key request by `user`: same outcome on both sides, and a refused one left the key space and revision as they were. */
async function keyOp(p: Pair, what: string, user: string, run: (v: View) => Promise<unknown>): Promise<Outcome> {
  const before = await snapshot(p, `${what} (before)`)
  const r = await both(p, what, (s) => run(s.as(user)))
  const afterRev = await snapshot(p, `${what} (after)`)
  if (!r.ok) assert.equal(afterRev, before, `${what}: a refused request changed the revision`)
  return r
}

/** Creates the same watch on both sides as `view` and compares its first response. */
async function watchBoth(p: Pair, what: string, view: (s: Side) => View, key: string, rangeEnd?: string): Promise<WatchStart> {
  const a = await view(p.ours).watchStart(key, rangeEnd)
  const b = await view(p.etcd).watchStart(key, rangeEnd)
  const msg = `${what}: pocket-etcd ${JSON.stringify(a)} vs etcd ${JSON.stringify(b)}`
  assert.equal(a.created, b.created, msg)
  assert.equal(a.canceled, b.canceled, msg)
  assert.equal(a.revision, b.revision, msg)
  assert.equal(a.cancelReason, b.cancelReason, msg)
  if (b.canceled) {
    // a refused watch: etcd 3.4 answers with watch id -1 and the gRPC status text as reason
    assert.equal(a.watchId, b.watchId, msg)
    const m = /^rpc error: code = \w+ desc = (etcdserver: .+)$/.exec(b.cancelReason)
    assert.ok(m, msg)
    return { ...a, cancelReason: m[1]! }
  }
  return a
}

const DENIED = 'etcdserver: permission denied'

async function open(): Promise<{ etcd: EtcdProcess; store: Store; pair: Pair }> {
  const etcd = await startEtcd()
  const store = await Store.open({ members: 1 })
  return { etcd, store, pair: { ours: oursSide(store), etcd: etcdSide(etcd.clientUrl), rootLoggedIn: false } }
}

function expectError(r: Outcome, message: string, what: string): void {
  assert.ok(!r.ok && r.message === message, `${what}: expected "${message}" on both sides, got ${JSON.stringify(r)}`)
}

describe('auth against etcd 3.4', () => {
  let etcd: EtcdProcess | undefined
  let store: Store | undefined
  let p: Pair

  before(async () => {
    if (findEtcdBinary() === undefined) return
    ;({ etcd, store, pair: p } = await open())
  })
  after(async () => {
    await store?.close()
    await etcd?.stop()
  })

  test('users, roles and permissions before auth is enabled', async (t) => {
    if (etcdBinaryOrSkip(t) === undefined) return
    const a = (s: Side) => s.anon.auth
    expectError(await both(p, 'authEnable without root', (s) => a(s).authEnable()), 'etcdserver: root user does not exist', 'authEnable')
    await both(p, 'authenticate while disabled', (s) => a(s).authenticate({ name: 'root', password: 'rp' }))
    await both(p, 'userAdd root', (s) => a(s).userAdd({ name: 'root', password: 'rp' }))
    await both(p, 'authEnable without root role', (s) => a(s).authEnable())
    await both(p, 'userAdd root again', (s) => a(s).userAdd({ name: 'root', password: 'x' }))
    await both(p, 'userAdd empty', (s) => a(s).userAdd({ name: '', password: 'x' }))
    await both(p, 'roleAdd empty', (s) => a(s).roleAdd({ name: '' }))
    await both(p, 'grant root role (not added)', (s) => a(s).userGrantRole({ user: 'root', role: 'root' }))
    await both(p, 'grant root role again', (s) => a(s).userGrantRole({ user: 'root', role: 'root' }))
    await both(p, 'roleList (root role never added)', (s) => a(s).roleList())
    for (const r of ['r1', 'r2', 'r3', 'r4']) await both(p, `roleAdd ${r}`, (s) => a(s).roleAdd({ name: r }))
    await both(p, 'roleAdd r1 again', (s) => a(s).roleAdd({ name: 'r1' }))
    const grant = (role: string, permType: PermType, key: string, rangeEnd?: string) =>
      both(p, `grant ${role} ${permType} ${JSON.stringify([key, rangeEnd])}`, (s) => a(s).roleGrantPermission({ name: role, perm: { permType, key, ...(rangeEnd === undefined ? {} : { rangeEnd }) } }))
    await grant('r1', 'READWRITE', 'a', 'c') // a range
    await grant('r1', 'READ', 'k') // a key
    await grant('r1', 'WRITE', 'w')
    await grant('r2', 'READ', 'p/', 'p0') // a prefix
    await grant('r2', 'WRITE', 'x', '\0') // from key
    await grant('r2', 'READ', 'x', '\0') // the same key and end: changes the type to READWRITE? (etcd: replaces)
    await grant('r3', 'READ', 'z')
    await grant('r3', 'READWRITE', 'z') // replaces the type
    await grant('r3', 'WRITE', 'm', 'o')
    await grant('r3', 'READ', 'n', 'q') // overlapping ranges
    await grant('r4', 'READWRITE', 'e')
    await grant('nope', 'READ', 'a')
    for (const r of ['r1', 'r2', 'r3', 'r4', 'nope']) await both(p, `roleGet ${r}`, (s) => a(s).roleGet({ role: r }))
    await both(p, 'revoke perm not granted', (s) => a(s).roleRevokePermission({ role: 'r1', key: 'q' }))
    await both(p, 'revoke perm with wrong end', (s) => a(s).roleRevokePermission({ role: 'r1', key: 'a', rangeEnd: 'b' }))
    await both(p, 'revoke perm of missing role', (s) => a(s).roleRevokePermission({ role: 'nope', key: 'a' }))
    await both(p, 'revoke r4 e', (s) => a(s).roleRevokePermission({ role: 'r4', key: 'e' }))
    await both(p, 'roleGet r4', (s) => a(s).roleGet({ role: 'r4' }))
    for (const [u, pw] of [['u1', 'p1'], ['u2', 'p2'], ['u3', 'p3'], ['u4', 'p4']] as const) await both(p, `userAdd ${u}`, (s) => a(s).userAdd({ name: u, password: pw }))
    await both(p, 'userAdd no-password user', (s) => a(s).userAdd({ name: 'np', options: { noPassword: true } }))
    for (const [u, r] of [['u1', 'r1'], ['u2', 'r2'], ['u3', 'r1'], ['u3', 'r3'], ['u4', 'r4'], ['np', 'r1']] as const)
      await both(p, `grant ${u} ${r}`, (s) => a(s).userGrantRole({ user: u, role: r }))
    await both(p, 'grant missing role', (s) => a(s).userGrantRole({ user: 'u1', role: 'nope' }))
    await both(p, 'grant to missing user', (s) => a(s).userGrantRole({ user: 'nope', role: 'r1' }))
    await both(p, 'revoke role not granted', (s) => a(s).userRevokeRole({ name: 'u1', role: 'r2' }))
    await both(p, 'revoke role of missing user', (s) => a(s).userRevokeRole({ name: 'nope', role: 'r2' }))
    for (const u of ['root', 'u1', 'u3', 'np', 'nope']) await both(p, `userGet ${u}`, (s) => a(s).userGet({ name: u }))
    await both(p, 'userList', (s) => a(s).userList())
    await both(p, 'roleList', (s) => a(s).roleList())
    await both(p, 'changePassword u4', (s) => a(s).userChangePassword({ name: 'u4', password: 'p4b' }))
    await both(p, 'changePassword missing', (s) => a(s).userChangePassword({ name: 'nope', password: 'x' }))
    await both(p, 'userDelete missing', (s) => a(s).userDelete({ name: 'nope' }))
    await both(p, 'roleDelete missing', (s) => a(s).roleDelete({ role: 'nope' }))
    await both(p, 'roleAdd r5', (s) => a(s).roleAdd({ name: 'r5' }))
    await both(p, 'grant u4 r5', (s) => a(s).userGrantRole({ user: 'u4', role: 'r5' }))
    await both(p, 'roleDelete r5 (granted to u4)', (s) => a(s).roleDelete({ role: 'r5' }))
    await both(p, 'userGet u4 after its role was deleted', (s) => a(s).userGet({ name: 'u4' }))
    await both(p, 'userAdd tmp', (s) => a(s).userAdd({ name: 'tmp', password: 't' }))
    await both(p, 'userDelete tmp', (s) => a(s).userDelete({ name: 'tmp' }))
    await both(p, 'userList after', (s) => a(s).userList())
    await both(p, 'roleList after', (s) => a(s).roleList())
    // some data while everything is open
    for (const k of ['a', 'b', 'c', 'e', 'k', 'm', 'n', 'o', 'p/1', 'p/2', 'w', 'x', 'y', 'z']) await both(p, `put ${k}`, (s) => s.anon.kv.put({ key: k, value: `v-${k}` }))
    await snapshot(p, 'data')
  })

  test('enabling auth; requests without or with an invalid token; authentication', async (t) => {
    if (etcdBinaryOrSkip(t) === undefined) return
    await both(p, 'authEnable', (s) => s.anon.auth.authEnable())
    await both(p, 'authEnable again', (s) => s.anon.auth.authEnable())
    const empty = 'etcdserver: user name is empty'
    expectError(await both(p, 'anonymous range', (s) => s.anon.kv.range({ key: 'a' })), empty, 'anonymous range')
    await both(p, 'anonymous put', (s) => s.anon.kv.put({ key: 'a', value: 'x' }))
    await both(p, 'anonymous delete', (s) => s.anon.kv.deleteRange({ key: 'a' }))
    await both(p, 'anonymous txn', (s) => s.anon.kv.txn({ success: [{ requestRange: { key: 'a' } }] }))
    await both(p, 'anonymous empty txn', (s) => s.anon.kv.txn({}))
    await both(p, 'anonymous userList', (s) => s.anon.auth.userList())
    await both(p, 'anonymous userGet', (s) => s.anon.auth.userGet({ name: 'u1' }))
    await both(p, 'anonymous roleGet', (s) => s.anon.auth.roleGet({ role: 'r1' }))
    await both(p, 'anonymous userAdd', (s) => s.anon.auth.userAdd({ name: 'x', password: 'x' }))
    await both(p, 'anonymous authDisable', (s) => s.anon.auth.authDisable())
    await watchBoth(p, 'anonymous watch', (s) => s.anon, 'a')
    const bogus = (s: Side) => s.withToken('bogus.1')
    expectError(await both(p, 'invalid token range', (s) => bogus(s).kv.range({ key: 'a' })), 'etcdserver: invalid auth token', 'invalid token')
    await both(p, 'invalid token put', (s) => bogus(s).kv.put({ key: 'a', value: 'x' }))
    await both(p, 'invalid token txn', (s) => bogus(s).kv.txn({}))
    await both(p, 'invalid token userList', (s) => bogus(s).auth.userList())
    await watchBoth(p, 'invalid token watch', bogus, 'a')
    expectError(await both(p, 'wrong password', (s) => s.login('u1', 'bad')), 'etcdserver: authentication failed, invalid user ID or password', 'wrong password')
    await both(p, 'unknown user', (s) => s.login('nope', 'x'))
    await both(p, 'old password of u4', (s) => s.login('u4', 'p4'))
    await both(p, 'no-password user', (s) => s.login('np', ''))
    await both(p, 'empty name', (s) => s.login('', ''))
    for (const [u, pw] of [['root', 'rp'], ['u1', 'p1'], ['u2', 'p2'], ['u3', 'p3'], ['u4', 'p4b']] as const) await both(p, `login ${u}`, (s) => s.login(u, pw))
    p.rootLoggedIn = true
    await snapshot(p, 'after login')
  })

  test('range, put, delete and txn inside, outside and straddling the grants', async (t) => {
    if (etcdBinaryOrSkip(t) === undefined) return
    // u1: RW [a,c), R k, W w.  u2: R [p/, p0), RW [x, ∞).  u3: r1 + RW z, W [m,o), R [n,q).  u4: nothing
    const ranges: [string, string?][] = [
      ['a'], ['b'], ['a', 'c'], ['a', 'b'], ['a', 'd'], ['0', 'b'], ['c'], ['k'], ['w'], ['e'],
      ['p/'], ['p/1'], ['p/', 'p0'], ['p', 'p0'], ['p/', 'q'],
      ['x'], ['x', '\0'], ['y', '\0'], ['w', '\0'], ['x', 'zz'], ['\0', '\0'],
      ['z'], ['m', 'o'], ['n'], ['n', 'q'], ['m', 'q'], ['o', 'q'], ['m', 'p'],
    ]
    for (const user of ['u1', 'u2', 'u3', 'u4', 'root']) {
      let i = 0
      for (const [key, rangeEnd] of ranges) {
        const r = rangeEnd === undefined ? {} : { rangeEnd }
        const tag = `${user} ${JSON.stringify([key, rangeEnd])}`
        await keyOp(p, `${tag} range`, user, (v) => v.kv.range({ key, ...r }))
        await keyOp(p, `${tag} range countOnly`, user, (v) => v.kv.range({ key, ...r, countOnly: true }))
        if (rangeEnd === undefined) {
          const v1 = `${user}-${i++}`
          const v2 = `${user}-${i++}`
          await keyOp(p, `${tag} put`, user, (v) => v.kv.put({ key, value: v1 }))
          await keyOp(p, `${tag} put prevKv`, user, (v) => v.kv.put({ key, value: v2, prevKv: true }))
        }
        await keyOp(p, `${tag} delete prevKv`, user, (v) => v.kv.deleteRange({ key, ...r, prevKv: true }))
        await keyOp(p, `${tag} delete`, user, (v) => v.kv.deleteRange({ key, ...r }))
        const v3 = `r-${user}-${i++}`
        await keyOp(p, `${tag} restore`, 'root', (v) => v.kv.put({ key: key === '\0' ? 'a' : key, value: v3 }))
      }
    }
    const txns: [string, TxnRequestInput][] = [
      ['compare readable, both branches writable', { compare: [{ key: 'k', target: 'VERSION', result: 'GREATER', version: 0 }], success: [{ requestPut: { key: 'a', value: 't1' } }], failure: [{ requestPut: { key: 'b', value: 't1' } }] }],
      ['compare on an unreadable key', { compare: [{ key: 'w', target: 'VERSION', result: 'GREATER', version: 0 }], success: [{ requestPut: { key: 'a', value: 't2' } }] }],
      ['compare range straddling', { compare: [{ key: 'a', rangeEnd: 'd', target: 'VERSION', result: 'GREATER', version: 0 }] }],
      ['failure branch writes an unwritable key', { compare: [{ key: 'a', target: 'VERSION', result: 'GREATER', version: 0 }], success: [{ requestPut: { key: 'b', value: 't3' } }], failure: [{ requestPut: { key: 'k', value: 't3' } }] }],
      ['success branch reads an unreadable key', { compare: [], success: [{ requestRange: { key: 'w' } }], failure: [] }],
      ['failure branch deletes with prevKv on write-only key', { compare: [{ key: 'a', target: 'VALUE', result: 'EQUAL', value: 'nope' }], success: [], failure: [{ requestDeleteRange: { key: 'w', prevKv: true } }] }],
      ['delete without prevKv on write-only key', { success: [{ requestDeleteRange: { key: 'w' } }] }],
      ['nested txn, all allowed', { compare: [{ key: 'b', target: 'MOD', result: 'GREATER', modRevision: 1 }], success: [{ requestTxn: { compare: [{ key: 'k', target: 'VALUE', result: 'NOT_EQUAL', value: 'q' }], success: [{ requestDeleteRange: { key: 'a', rangeEnd: 'b', prevKv: true } }], failure: [{ requestRange: { key: 'a', rangeEnd: 'c' } }] } }], failure: [{ requestPut: { key: 'w', value: 't5' } }] }],
      ['prefix and from-key', { compare: [{ key: 'p/', rangeEnd: 'p0', target: 'VERSION', result: 'GREATER', version: 0 }], success: [{ requestPut: { key: 'x9', value: 't6' } }, { requestRange: { key: 'x', rangeEnd: '\0' } }], failure: [{ requestDeleteRange: { key: 'y', rangeEnd: '\0' } }] }],
      ['write-only range read', { success: [{ requestRange: { key: 'm', rangeEnd: 'o' } }] }],
      ['overlapping read grants', { compare: [{ key: 'n', rangeEnd: 'q', target: 'VERSION', result: 'GREATER', version: 0 }], success: [{ requestPut: { key: 'z', value: 't7' } }, { requestPut: { key: 'm', value: 't7' } }] }],
    ]
    for (const user of ['u1', 'u2', 'u3', 'u4', 'root']) for (const [name, txn] of txns) await keyOp(p, `${user} txn: ${name}`, user, (v) => v.kv.txn(txn))
    // the recorded difference (NESTED_TXN): read-only, so etcd's answer changes nothing either
    const nested: [string, TxnRequestInput][] = [
      ['nested txn, inner failure unreadable', { success: [{ requestRange: { key: 'b' } }, { requestTxn: { compare: [], success: [{ requestRange: { key: 'k' } }], failure: [{ requestRange: { key: 'w' } }] } }] }],
      ['nested txn, inner compare unreadable', { failure: [{ requestTxn: { compare: [{ key: 'y', target: 'CREATE', result: 'LESS', createRevision: 5 }], success: [], failure: [] } }] }],
      ['nested txn, inner success reads outside', { success: [{ requestTxn: { compare: [], success: [{ requestRange: { key: '\0', rangeEnd: '\0' } }], failure: [] } }] }],
    ]
    for (const [name, txn] of nested) {
      const before = await snapshot(p, `${name} (before)`)
      const ours = await outcome(p.ours.as('u1').kv.txn(txn))
      const theirs = await outcome(p.etcd.as('u1').kv.txn(txn))
      assert.deepEqual(ours, { ok: false, message: DENIED, grpcCode: 'PermissionDenied' }, `${name}: pocket-etcd checks nested txns`)
      assert.ok(theirs.ok, `${name}: etcd 3.4 does not check nested txns (NESTED_TXN); got ${JSON.stringify(theirs)}`)
      assert.equal(await snapshot(p, `${name} (after)`), before)
    }
  })

  test('watch creation inside and outside the grants', async (t) => {
    if (etcdBinaryOrSkip(t) === undefined) return
    let denied = 0
    for (const [user, key, rangeEnd] of [
      ['u1', 'a'], ['u1', 'a', 'c'], ['u1', 'a', 'd'], ['u1', 'w'], ['u1', 'k'],
      ['u2', 'p/', 'p0'], ['u2', 'p/1'], ['u2', 'x', '\0'], ['u2', 'w', '\0'], ['u2', 'y'],
      ['u3', 'n', 'q'], ['u3', 'm', 'o'], ['u4', 'a'], ['root', '\0', '\0'],
    ] as [string, string, string?][]) {
      const w = await watchBoth(p, `${user} watch ${JSON.stringify([key, rangeEnd])}`, (s) => s.as(user), key, rangeEnd)
      if (w.canceled) {
        denied++
        assert.equal(w.cancelReason, DENIED)
      }
    }
    assert.ok(denied >= 5, 'the scenario has refused watches')
  })

  test('management is root only; a user may read itself and its roles; root is protected', async (t) => {
    if (etcdBinaryOrSkip(t) === undefined) return
    const u = (s: Side) => s.as('u3').auth
    expectError(await both(p, 'u3 userList', (s) => u(s).userList()), DENIED, 'userList')
    await both(p, 'u3 roleList', (s) => u(s).roleList())
    await both(p, 'u3 userAdd', (s) => u(s).userAdd({ name: 'x', password: 'x' }))
    await both(p, 'u3 userDelete', (s) => u(s).userDelete({ name: 'u1' }))
    await both(p, 'u3 roleAdd', (s) => u(s).roleAdd({ name: 'x' }))
    await both(p, 'u3 roleDelete', (s) => u(s).roleDelete({ role: 'r1' }))
    await both(p, 'u3 grant perm', (s) => u(s).roleGrantPermission({ name: 'r1', perm: { permType: 'READWRITE', key: '\0', rangeEnd: '\0' } }))
    await both(p, 'u3 revoke perm', (s) => u(s).roleRevokePermission({ role: 'r1', key: 'k' }))
    await both(p, 'u3 grant role', (s) => u(s).userGrantRole({ user: 'u3', role: 'root' }))
    await both(p, 'u3 revoke role', (s) => u(s).userRevokeRole({ name: 'u3', role: 'r1' }))
    await both(p, 'u3 changes own password', (s) => u(s).userChangePassword({ name: 'u3', password: 'x' }))
    await both(p, 'u3 authDisable', (s) => u(s).authDisable())
    await both(p, 'u3 authEnable', (s) => u(s).authEnable())
    await both(p, 'u3 userGet self', (s) => u(s).userGet({ name: 'u3' }))
    await both(p, 'u3 userGet other', (s) => u(s).userGet({ name: 'u1' }))
    await both(p, 'u3 userGet missing', (s) => u(s).userGet({ name: 'nope' }))
    await both(p, 'u3 roleGet own', (s) => u(s).roleGet({ role: 'r3' }))
    await both(p, 'u3 roleGet other', (s) => u(s).roleGet({ role: 'r2' }))
    await both(p, 'u3 roleGet missing', (s) => u(s).roleGet({ role: 'nope' }))
    const r = (s: Side) => s.as('root').auth
    await both(p, 'root userDelete root', (s) => r(s).userDelete({ name: 'root' }))
    await both(p, 'root roleDelete root', (s) => r(s).roleDelete({ role: 'root' }))
    await both(p, 'root revoke root role', (s) => r(s).userRevokeRole({ name: 'root', role: 'root' }))
    await both(p, 'root roleGet root', (s) => r(s).roleGet({ role: 'root' }))
    await both(p, 'root userList', (s) => r(s).userList())
    await both(p, 'root roleList', (s) => r(s).roleList())
    await both(p, 'root grants u4 root', (s) => r(s).userGrantRole({ user: 'u4', role: 'root' }))
    await both(p, 'u4 (now root) userList', (s) => s.as('u4').auth.userList())
    await keyOp(p, 'u4 (now root) put anywhere', 'u4', (v) => v.kv.put({ key: 'q', value: 'root' }))
    await both(p, 'u4 revokes its root role', (s) => s.as('u4').auth.userRevokeRole({ name: 'u4', role: 'root' }))
    await both(p, 'u4 userList again', (s) => s.as('u4').auth.userList())
  })

  test('permission changes apply at once; tokens die on password change, user delete and auth disable', async (t) => {
    if (etcdBinaryOrSkip(t) === undefined) return
    const r = (s: Side) => s.as('root').auth
    const stale = new Map<string, { ours: string; etcd: string }>()
    // keep u1's current tokens to use them after the password change
    const before = { ours: '', etcd: '' }
    await both(p, 'login u1 (to keep the token)', async (s) => {
      const res = await s.anon.auth.authenticate({ name: 'u1', password: 'p1' })
      before[s.name] = res.token
      return res
    })
    stale.set('u1', before)
    await keyOp(p, 'u1 token works', 'u1', (v) => v.kv.range({ key: 'k' }))
    await both(p, 'change u1 password', (s) => r(s).userChangePassword({ name: 'u1', password: 'p1b' }))
    expectError(await both(p, 'u1 old token', (s) => s.withToken(stale.get('u1')![s.name]).kv.range({ key: 'k' })), 'etcdserver: invalid auth token', 'old token')
    await both(p, 'u1 other old token', (s) => s.as('u1').kv.range({ key: 'k' }))
    await watchBoth(p, 'u1 old token watch', (s) => s.as('u1'), 'a')
    await both(p, 'u1 old password', (s) => s.login('u1', 'p1'))
    await both(p, 'u1 new password', (s) => s.login('u1', 'p1b'))
    await keyOp(p, 'u1 new token', 'u1', (v) => v.kv.range({ key: 'k' }))
    await both(p, 'revoke r1 from u3', (s) => r(s).userRevokeRole({ name: 'u3', role: 'r1' }))
    await keyOp(p, 'u3 after losing r1', 'u3', (v) => v.kv.range({ key: 'k' }))
    await keyOp(p, 'u3 still has r3', 'u3', (v) => v.kv.range({ key: 'z' }))
    await both(p, 'revoke r3 z', (s) => r(s).roleRevokePermission({ role: 'r3', key: 'z' }))
    await keyOp(p, 'u3 after z revoked', 'u3', (v) => v.kv.range({ key: 'z' }))
    await both(p, 'roleDelete r2', (s) => r(s).roleDelete({ role: 'r2' }))
    await both(p, 'userGet u2', (s) => r(s).userGet({ name: 'u2' }))
    await keyOp(p, 'u2 after its role was deleted', 'u2', (v) => v.kv.range({ key: 'x' }))
    await both(p, 'userDelete u2', (s) => r(s).userDelete({ name: 'u2' }))
    await both(p, 'u2 token after delete', (s) => s.as('u2').kv.range({ key: 'x' }))
    await both(p, 'u2 login after delete', (s) => s.login('u2', 'p2'))
    await both(p, 're-add u2', (s) => r(s).userAdd({ name: 'u2', password: 'p2' }))
    await both(p, 'u2 old token after re-add', (s) => s.as('u2').kv.range({ key: 'x' }))
    await both(p, 'u1 authDisable', (s) => s.as('u1').auth.authDisable())
    await both(p, 'authDisable', (s) => r(s).authDisable())
    await both(p, 'authDisable again', (s) => s.anon.auth.authDisable())
    p.rootLoggedIn = false
    await both(p, 'anonymous range after disable', (s) => s.anon.kv.range({ key: 'k' }))
    await both(p, 'root token after disable', (s) => s.as('root').kv.range({ key: 'k' }))
    await both(p, 'u1 token after disable', (s) => s.as('u1').kv.put({ key: 'k', value: 'after' }))
    await both(p, 'bogus token after disable', (s) => s.withToken('bogus.1').kv.range({ key: 'k' }))
    await both(p, 'login after disable', (s) => s.login('u1', 'p1b'))
    await both(p, 'anonymous userList after disable', (s) => s.anon.auth.userList())
    await snapshot(p, 'final')
    await both(p, 'authEnable again', (s) => s.anon.auth.authEnable())
    await both(p, 'login root again', (s) => s.login('root', 'rp'))
    p.rootLoggedIn = true
    await both(p, 'u1 token from before the disable', (s) => s.withToken(stale.get('u1')![s.name]).kv.range({ key: 'k' }))
    await snapshot(p, 'final enabled')
  })
})

test('auth against etcd 3.4: seeded random grants, revokes and permission-checked requests', async (t) => {
  if (etcdBinaryOrSkip(t) === undefined) return
  const seed = Number(process.env.DIFF_SEED ?? 5)
  const count = Number(process.env.DIFF_OPS ?? 250)
  const replay = `DIFF_SEED=${seed} DIFF_OPS=${count} node --import tsx --test test/diff/auth.test.ts`
  t.diagnostic(`seed ${seed}; replay: ${replay}`)
  const { etcd, store, pair: p } = await open()
  t.after(async () => {
    await store.close()
    await etcd.stop()
  })
  const rnd = new Random(seed)
  const pick = <T>(xs: readonly T[]): T => xs[rnd.int(xs.length)]!
  const users = ['u1', 'u2', 'u3']
  const roles = ['r1', 'r2', 'r3']
  const keys = ['a', 'b', 'c', 'd', 'p/1', 'p/2', 'q', 'x', 'y']
  /** A key shape: a key, a range, a prefix or from-key. */
  const shape = (): { key: string; rangeEnd?: string } => {
    const key = pick(keys)
    const k = rnd.int(4)
    if (k === 0) return { key }
    if (k === 1) {
      const other = pick(keys)
      return other > key ? { key, rangeEnd: other } : { key: other, rangeEnd: key + '\0' }
    }
    if (k === 2) return { key: key.slice(0, 1), rangeEnd: String.fromCharCode(key.charCodeAt(0) + 1) }
    return { key, rangeEnd: '\0' }
  }
  const root = (s: Side) => s.as('root').auth
  const must = async (what: string, run: (s: Side) => Promise<unknown>) => assert.ok((await both(p, what, run)).ok, what)
  await must('userAdd root', (s) => s.anon.auth.userAdd({ name: 'root', password: 'rp' }))
  await must('grant root', (s) => s.anon.auth.userGrantRole({ user: 'root', role: 'root' }))
  for (const r of roles) await must(`roleAdd ${r}`, (s) => s.anon.auth.roleAdd({ name: r }))
  for (const [i, u] of users.entries()) {
    await must(`userAdd ${u}`, (s) => s.anon.auth.userAdd({ name: u, password: u }))
    await must(`grant ${u}`, (s) => s.anon.auth.userGrantRole({ user: u, role: roles[i]! }))
  }
  for (const k of keys) await must(`put ${k}`, (s) => s.anon.kv.put({ key: k, value: k }))
  await must('authEnable', (s) => s.anon.auth.authEnable())
  for (const u of ['root', ...users]) await must(`login ${u}`, (s) => s.login(u, u === 'root' ? 'rp' : u))
  p.rootLoggedIn = true
  let refused = 0
  let allowed = 0
  const tally = (o: Outcome) => (o.ok ? allowed++ : refused++)
  const op = (): { requestRange: { key: string; rangeEnd?: string } } | { requestPut: { key: string; value: string } } | { requestDeleteRange: { key: string; rangeEnd?: string } } => {
    const k = rnd.int(3)
    if (k === 0) return { requestRange: shape() }
    if (k === 1) return { requestPut: { key: pick(keys), value: `t${rnd.int(100)}` } }
    return { requestDeleteRange: shape() }
  }
  for (let i = 0; i < count; i++) {
    const what = `#${i} (seed ${seed}; replay: ${replay})`
    const user = pick(users)
    const kind = rnd.int(10)
    try {
      if (kind === 0) {
        const sh = shape()
        const permType = pick(['READ', 'WRITE', 'READWRITE'] as const)
        const role = pick(roles)
        await both(p, `${what} grant ${role} ${permType} ${JSON.stringify(sh)}`, (s) => root(s).roleGrantPermission({ name: role, perm: { permType, ...sh } }))
      } else if (kind === 1) {
        const sh = shape()
        const role = pick(roles)
        await both(p, `${what} revoke ${role} ${JSON.stringify(sh)}`, (s) => root(s).roleRevokePermission({ role, ...sh }))
      } else if (kind === 2) {
        const role = pick(roles)
        if (rnd.chance(0.5)) await both(p, `${what} grant ${user} ${role}`, (s) => root(s).userGrantRole({ user, role }))
        else await both(p, `${what} revoke ${user} ${role}`, (s) => root(s).userRevokeRole({ name: user, role }))
      } else if (kind === 3) {
        const sh = shape()
        tally(await keyOp(p, `${what} ${user} range ${JSON.stringify(sh)}`, user, (v) => v.kv.range(sh)))
      } else if (kind === 4) {
        const key = pick(keys)
        const prevKv = rnd.chance(0.3)
        tally(await keyOp(p, `${what} ${user} put ${key} prevKv ${prevKv}`, user, (v) => v.kv.put({ key, value: `v${i}`, prevKv })))
      } else if (kind === 5) {
        const sh = shape()
        const prevKv = rnd.chance(0.3)
        tally(await keyOp(p, `${what} ${user} delete ${JSON.stringify(sh)} prevKv ${prevKv}`, user, (v) => v.kv.deleteRange({ ...sh, prevKv })))
        const refill = pick(keys)
        await keyOp(p, `${what} refill ${refill}`, 'root', (v) => v.kv.put({ key: refill, value: `r${i}` }))
      } else if (kind === 6) {
        // no from-key watches here (FROM_KEY_WATCH)
        let sh = shape()
        while (sh.rangeEnd === '\0') sh = shape()
        const w = await watchBoth(p, `${what} ${user} watch ${JSON.stringify(sh)}`, (s) => s.as(user), sh.key, sh.rangeEnd)
        tally(w.canceled ? { ok: false, message: w.cancelReason, grpcCode: '' } : { ok: true, value: w })
      } else {
        const c = shape()
        const txn: TxnRequestInput = {
          compare: rnd.chance(0.8) ? [{ ...c, target: 'VERSION', result: pick(['EQUAL', 'GREATER', 'LESS'] as const), version: rnd.int(3) }] : [],
          success: Array.from({ length: rnd.int(3) }, op),
          failure: Array.from({ length: rnd.int(2) }, op),
        }
        tally(await keyOp(p, `${what} ${user} txn ${JSON.stringify(txn)}`, user, (v) => v.kv.txn(txn)))
      }
    } catch (err) {
      t.diagnostic(`mismatch at ${what}`)
      throw err
    }
  }
  t.diagnostic(`${allowed} permitted, ${refused} refused user requests`)
  assert.ok(allowed > 0 && refused > 0, 'the seed exercised both outcomes')
})
