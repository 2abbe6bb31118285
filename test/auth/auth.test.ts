import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Store } from '../../src/store.js'
import { EtcdError } from '../../src/errors.js'

const t = (u: Uint8Array) => new TextDecoder().decode(u)

async function fails(p: Promise<unknown>, message: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => err instanceof EtcdError && err.message === message)
}

/** root/rp with the root role; role r1: READWRITE [a, c), READ k, WRITE w; user u1/p1 with r1. */
async function setup(store: Store): Promise<void> {
  await store.auth.userAdd({ name: 'root', password: 'rp' })
  await store.auth.roleAdd({ name: 'root' })
  await store.auth.userGrantRole({ user: 'root', role: 'root' })
  await store.auth.roleAdd({ name: 'r1' })
  await store.auth.roleGrantPermission({ name: 'r1', perm: { permType: 'READWRITE', key: 'a', rangeEnd: 'c' } })
  await store.auth.roleGrantPermission({ name: 'r1', perm: { permType: 'READ', key: 'k' } })
  await store.auth.roleGrantPermission({ name: 'r1', perm: { permType: 'WRITE', key: 'w' } })
  await store.auth.userAdd({ name: 'u1', password: 'p1' })
  await store.auth.userGrantRole({ user: 'u1', role: 'r1' })
}

describe('auth', () => {
  let store: Store
  before(async () => {
    store = await Store.open({ clock: 'manual', seed: 7 })
  })
  after(() => store.close())

  test('users, roles and their errors before auth is enabled', async () => {
    await fails(store.auth.authEnable(), 'etcdserver: root user does not exist')
    await setup(store)
    await fails(store.auth.userAdd({ name: 'u1', password: 'x' }), 'etcdserver: user name already exists')
    await fails(store.auth.userAdd({ name: '', password: 'x' }), 'etcdserver: user name is empty')
    await fails(store.auth.roleAdd({ name: '' }), 'etcdserver: role name is empty')
    await fails(store.auth.roleAdd({ name: 'r1' }), 'etcdserver: role name already exists')
    await fails(store.auth.userGrantRole({ user: 'u1', role: 'nope' }), 'etcdserver: role name not found')
    await fails(store.auth.userGrantRole({ user: 'nope', role: 'r1' }), 'etcdserver: user name not found')
    await fails(store.auth.userRevokeRole({ name: 'u1', role: 'root' }), 'etcdserver: role is not granted to the user')
    await fails(store.auth.roleRevokePermission({ role: 'r1', key: 'q' }), 'etcdserver: permission is not granted to the role')
    await fails(store.auth.roleGet({ role: 'nope' }), 'etcdserver: role name not found')
    await fails(store.auth.userGet({ name: 'nope' }), 'etcdserver: user name not found')
    await fails(store.auth.userDelete({ name: 'nope' }), 'etcdserver: user name not found')
    await fails(store.auth.roleDelete({ role: 'nope' }), 'etcdserver: role name not found')
    await fails(store.auth.userChangePassword({ name: 'nope', password: 'x' }), 'etcdserver: user name not found')
    await fails(store.auth.authenticate({ name: 'u1', password: 'p1' }), 'etcdserver: authentication is not enabled')
    assert.deepEqual((await store.auth.userGet({ name: 'u1' })).roles, ['r1'])
    assert.deepEqual((await store.auth.userList()).users, ['root', 'u1'])
    assert.deepEqual((await store.auth.roleList()).roles, ['r1', 'root'])
    const perms = (await store.auth.roleGet({ role: 'r1' })).perm.map((p) => [p.permType, t(p.key), t(p.rangeEnd)])
    assert.deepEqual(perms, [['READWRITE', 'a', 'c'], ['READ', 'k', ''], ['WRITE', 'w', '']])
    // the password is stored hashed and salted, never in clear
    const rec = store.runningMember('m1')!.authState.user('u1')!
    // (not "does not include 'p1'": a random base64 salt or hash contains those two characters
    // often enough, about 1 run in 60, to fail the check now and then)
    const [scheme, iterations, salt, hash, ...rest] = rec.password.split('$')
    assert.equal(scheme, 'pbkdf2-sha256')
    assert.match(iterations ?? '', /^\d+$/)
    assert.deepEqual(rest, [])
    assert.equal(Buffer.from(salt ?? '', 'base64').length >= 16, true, 'a salt of at least 16 bytes')
    assert.equal(Buffer.from(hash ?? '', 'base64').length, 32, 'a SHA-256-sized derived key, not the password')
    const rev = (await store.auth.authStatus()).authRevision
    await store.auth.authEnable()
    assert.deepEqual(await store.auth.authStatus().catch((e: Error) => e.message), 'etcdserver: user name is empty')
    const root = store.as((await store.auth.authenticate({ name: 'root', password: 'rp' })).token)
    const st = await root.auth.authStatus()
    assert.equal(st.enabled, true)
    assert.equal(st.authRevision, rev + 1)
  })

  test('requests without a valid token, and with a wrong password', async () => {
    await fails(store.kv.range({ key: 'a' }), 'etcdserver: user name is empty')
    await fails(store.kv.put({ key: 'a', value: 'v' }), 'etcdserver: user name is empty')
    await fails(store.auth.userAdd({ name: 'x', password: 'x' }), 'etcdserver: user name is empty')
    await fails(store.as('bogus.1').kv.range({ key: 'a' }), 'etcdserver: invalid auth token')
    await fails(store.auth.authenticate({ name: 'u1', password: 'bad' }), 'etcdserver: authentication failed, invalid user ID or password')
    await fails(store.auth.authenticate({ name: 'zz', password: 'bad' }), 'etcdserver: authentication failed, invalid user ID or password')
  })

  test('permission checks on range, put, delete, txn (both branches, nested), watch, lease revoke', async () => {
    const root = store.withCredentials('root', 'rp')
    const u = store.withCredentials('u1', 'p1')
    await root.kv.put({ key: 'k', value: 'kv' })
    const denied = 'etcdserver: permission denied'
    assert.equal(t((await u.kv.range({ key: 'k' })).kvs[0]!.value), 'kv')
    await u.kv.range({ key: 'a', rangeEnd: 'c' })
    await fails(u.kv.range({ key: 'a', rangeEnd: 'd' }), denied) // straddles the grant's edge
    await fails(u.kv.range({ key: 'w' }), denied)
    await u.kv.put({ key: 'b', value: '1' })
    await u.kv.put({ key: 'w', value: '1' })
    await fails(u.kv.put({ key: 'k', value: '1' }), denied)
    await fails(u.kv.put({ key: 'w', value: '1', prevKv: true }), denied)
    await fails(u.kv.deleteRange({ key: 'a', rangeEnd: 'd' }), denied)
    await fails(u.kv.deleteRange({ key: 'w', prevKv: true }), denied)
    const revBefore = (await root.kv.range({ key: 'k' })).header.revision
    // the failure branch would write k: refused although the success branch runs
    await fails(u.kv.txn({ compare: [], success: [{ requestPut: { key: 'b', value: '2' } }], failure: [{ requestPut: { key: 'k', value: '2' } }] }), denied)
    await fails(u.kv.txn({ compare: [{ key: 'z', target: 'VERSION', result: 'EQUAL', version: 0 }], success: [], failure: [] }), denied)
    const nested = { requestTxn: { compare: [], success: [], failure: [{ requestRange: { key: 'w' } }] } }
    await fails(u.kv.txn({ compare: [], success: [{ requestPut: { key: 'b', value: '3' } }, nested], failure: [] }), denied)
    assert.equal((await root.kv.range({ key: 'k' })).header.revision, revBefore, 'refused requests change nothing')
    await u.kv.txn({ compare: [{ key: 'a', target: 'VERSION', result: 'EQUAL', version: 0 }], success: [{ requestPut: { key: 'a', value: 'x' } }], failure: [{ requestRange: { key: 'k' } }] })
    // watch
    const bad = await u.watch.watch({ key: 'w' })
    const first = await bad[Symbol.asyncIterator]().next()
    assert.equal(first.value.canceled, true)
    // etcd 3.4: watch id -1 and the refusal as gRPC status text
    assert.equal(first.value.watchId, '-1')
    assert.equal(first.value.cancelReason, `rpc error: code = PermissionDenied desc = ${denied}`)
    const good = await u.watch.watch({ key: 'a', rangeEnd: 'c' })
    const created = await good[Symbol.asyncIterator]().next()
    assert.equal(created.value.canceled, false)
    good.cancel?.()
    // lease revoke needs WRITE on every attached key
    const lease = await root.lease.grant({ ttl: 60 })
    await root.kv.put({ key: 'k', value: 'leased', lease: lease.id })
    await fails(u.lease.revoke({ id: lease.id }), denied)
    await fails(u.kv.put({ key: 'b', value: 'l', lease: lease.id }), denied)
    await root.lease.revoke({ id: lease.id })
    // management is root only; a user may read itself and its roles
    await fails(u.auth.userList(), denied)
    await fails(u.auth.userGet({ name: 'root' }), denied)
    await fails(u.auth.roleGet({ role: 'root' }), denied)
    assert.deepEqual((await u.auth.userGet({ name: 'u1' })).roles, ['r1'])
    assert.equal((await u.auth.roleGet({ role: 'r1' })).perm.length, 3)
    await fails(root.auth.userDelete({ name: 'root' }), 'etcdserver: invalid auth management')
    await fails(root.auth.roleDelete({ role: 'root' }), 'etcdserver: invalid auth management')
    await fails(root.auth.userRevokeRole({ name: 'root', role: 'root' }), 'etcdserver: invalid auth management')
  })

  test('tokens become invalid on password change, user delete and auth disable; revoked roles lose permissions', async () => {
    const root = store.withCredentials('root', 'rp')
    const tok = (await store.auth.authenticate({ name: 'u1', password: 'p1' })).token
    assert.match(tok, /^[a-zA-Z]{16}\.\d+$/)
    await store.as(tok).kv.range({ key: 'k' })
    await root.auth.userChangePassword({ name: 'u1', password: 'p2' })
    await fails(store.as(tok).kv.range({ key: 'k' }), 'etcdserver: invalid auth token')
    await fails(store.auth.authenticate({ name: 'u1', password: 'p1' }), 'etcdserver: authentication failed, invalid user ID or password')
    const tok2 = (await store.auth.authenticate({ name: 'u1', password: 'p2' })).token
    await root.auth.userRevokeRole({ name: 'u1', role: 'r1' })
    await fails(store.as(tok2).kv.range({ key: 'k' }), 'etcdserver: permission denied')
    await root.auth.userGrantRole({ user: 'u1', role: 'r1' })
    await store.as(tok2).kv.range({ key: 'k' })
    // every member knows the token (it was applied through Raft)
    await store.member('m2').kv.range({ key: 'k' }).catch(() => undefined)
    const rootTok = (await store.auth.authenticate({ name: 'root', password: 'rp' })).token
    await store.as(rootTok).auth.userDelete({ name: 'u1' })
    await fails(store.as(tok2).kv.range({ key: 'k' }), 'etcdserver: invalid auth token')
    await store.as(rootTok).auth.authDisable()
    await fails(store.as(rootTok).kv.range({ key: 'k' }), 'etcdserver: invalid auth token')
    await store.kv.range({ key: 'k' }) // no credentials needed any more
  })
})

test('auth state survives a restart from a classic-level dataDir; Store.open({ user, password })', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'pocket-auth-'))
  try {
    let store = await Store.open({ clock: 'manual', seed: 3, members: 1, dataDir: dir })
    await setup(store)
    await store.auth.authEnable()
    await store.close()
    await fails(Store.open({ clock: 'manual', seed: 3, members: 1, dataDir: dir, user: 'u1', password: 'bad' }), 'etcdserver: authentication failed, invalid user ID or password')
    store = await Store.open({ clock: 'manual', seed: 3, members: 1, dataDir: dir, user: 'u1', password: 'p1' })
    try {
      await store.put('b').value('v')
      assert.equal(await store.get('b').string(), 'v')
      await fails(store.kv.put({ key: 'k', value: 'v' }), 'etcdserver: permission denied')
      assert.deepEqual((await store.auth.userGet({ name: 'u1' })).roles, ['r1'])
      await fails(store.auth.userList(), 'etcdserver: permission denied')
    } finally {
      await store.close()
    }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

test('a token unused for the auth token TTL expires; each use starts its time again; password views re-authenticate', async () => {
  // etcd's simple tokens: --auth-token-ttl (300 s by default), reset by every request that uses the token
  const store = await Store.open({ clock: 'manual', seed: 5, authTokenTtlMs: 10_000 })
  try {
    await setup(store)
    await store.auth.authEnable()
    const tok = (await store.auth.authenticate({ name: 'u1', password: 'p1' })).token
    const u1 = store.as(tok)
    const viaPassword = store.withCredentials('u1', 'p1')
    await viaPassword.kv.put({ key: 'a', value: '1' })
    for (let i = 0; i < 3; i++) {
      await store.sim.advance(8000) // under the TTL since the last use
      await u1.kv.range({ key: 'a' })
    }
    await store.sim.advance(10_500)
    await fails(u1.kv.range({ key: 'a' }), 'etcdserver: invalid auth token')
    await fails(u1.kv.range({ key: 'a' }), 'etcdserver: invalid auth token') // gone for good
    // a view with a password gets a new token and retries, as etcd's clients do
    assert.equal(t((await viaPassword.kv.range({ key: 'a' })).kvs[0]!.value), '1')
  } finally {
    await store.close()
  }
})

test('tokens last 5 minutes unused by default', async () => {
  const store = await Store.open({ clock: 'manual', seed: 6, members: 1 })
  try {
    await setup(store)
    await store.auth.authEnable()
    const u1 = store.as((await store.auth.authenticate({ name: 'u1', password: 'p1' })).token)
    await store.sim.advance(299_000)
    await u1.kv.range({ key: 'a' })
    await store.sim.advance(300_500)
    await fails(u1.kv.range({ key: 'a' }), 'etcdserver: invalid auth token')
  } finally {
    await store.close()
  }
})

describe('password hashing under a manual clock', () => {
  test('hashing runs in real time but takes no cluster time: settling waits for it', async () => {
    const store = await Store.open({ members: 3, clock: 'manual', seed: 21, requestTimeoutMs: 1_000 })
    try {
      const clock = store.sim.clock
      const t0 = clock.now()
      let done = false
      const added = store.auth.userAdd({ name: 'hashed', password: 'secret' }).then(() => (done = true))
      // without waiting for the PBKDF2 derivation, the clock would run past it in 10 ms steps
      assert.ok(await store.sim.until(() => done, 20_000))
      await added
      assert.equal(clock.now() - t0, 0, 'no cluster time passed while the password was hashed')
      const changed = store.auth.userChangePassword({ name: 'hashed', password: 'other' })
      await store.sim.settle()
      assert.equal(clock.now() - t0, 0)
      await changed
    } finally {
      await store.close()
    }
  })
})
