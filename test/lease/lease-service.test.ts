/**
 * Leases through the Store on a manual clock: the service's answers and errors, keys
 * deleted in one revision on revoke and on expiry, keep-alive, leader changes, partitions,
 * restarts from disk, and the typed Lease.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { Store } from '../../src/store.js'
import type { StoreOptions } from '../../src/store.js'
import { EtcdError, isEtcdError } from '../../src/errors.js'
import type { Event } from '../../src/mvcc/index.js'

const text = (b: Uint8Array) => new TextDecoder().decode(b)

async function withStore(options: StoreOptions, fn: (store: Store) => Promise<void>): Promise<void> {
  const store = await Store.open({ clock: 'manual', seed: 7, ...options })
  try {
    await fn(store)
  } finally {
    await store.close()
  }
}

async function keys(store: Store, member?: string): Promise<string[]> {
  const kv = member === undefined ? store.kv : store.member(member).kv
  const r = await kv.range({ key: '\0', rangeEnd: '\0', serializable: member !== undefined })
  return r.kvs.map((kv) => text(kv.key))
}

function rejectsWith(name: Parameters<typeof isEtcdError>[1], message: string) {
  return (err: unknown) => {
    assert.ok(err instanceof EtcdError, String(err))
    assert.ok(isEtcdError(err, name), err.code)
    assert.equal(err.message, message)
    return true
  }
}

describe('LeaseService', () => {
  test('grant: server-chosen ids are positive, distinct and the same for the same seed; minimum TTL; errors', async () => {
    const ids: string[][] = []
    for (let run = 0; run < 2; run++) {
      await withStore({}, async (store) => {
        const a = await store.lease.grant({ ttl: 10 })
        const b = await store.lease.grant({ ttl: 0 })
        assert.ok(BigInt(a.id) > 0n && BigInt(b.id) > 0n)
        assert.notEqual(a.id, b.id)
        assert.equal(a.ttl, 10)
        // defaults: tick 10 ms, election 10 ticks: ceil(15 * 10 ms) = 1 s
        assert.equal(b.ttl, 1)
        assert.equal(a.error, '')
        ids.push([a.id, b.id])
        const c = await store.lease.grant({ ttl: 5, id: 7 })
        assert.equal(c.id, '7')
        await assert.rejects(store.lease.grant({ ttl: 5, id: '7' }), rejectsWith('LeaseExist', 'etcdserver: lease already exists'))
        await assert.rejects(store.lease.grant({ ttl: 9_000_000_001, id: 8 }), rejectsWith('LeaseTTLTooLarge', 'etcdserver: too large lease TTL'))
        const neg = await store.lease.grant({ ttl: 100, id: -3n })
        assert.equal(neg.id, '-3')
        assert.deepEqual((await store.lease.leases()).leases.map((l) => l.id).sort(), [a.id, b.id, '7', '-3'].sort())
        await assert.rejects(store.lease.grant({ ttl: 1.5 } as never), (e: unknown) => isEtcdError(e) && e.code === 'ErrInvalidRequest')
        await assert.rejects(store.lease.revoke({} as never), (e: unknown) => isEtcdError(e) && e.code === 'ErrInvalidRequest')
      })
    }
    assert.deepEqual(ids[0], ids[1])
  })

  test('minimum TTL follows the election timeout (etcd: ceil(3/2 election ticks x heartbeat))', async () => {
    await withStore({ members: 1, tickMs: 100 }, async (store) => {
      assert.equal((await store.lease.grant({ ttl: 1 })).ttl, 2)
    })
  })

  test('revoke deletes every attached key in one revision; missing leases', async () => {
    await withStore({}, async (store) => {
      const { id } = await store.lease.grant({ ttl: 60 })
      await store.kv.put({ key: 'b', value: '1', lease: id })
      await store.kv.put({ key: 'a', value: '1', lease: id })
      await store.kv.put({ key: 'c', value: '1', lease: id })
      await store.kv.put({ key: 'c', value: '2' }) // detached by a put without lease
      await store.kv.put({ key: 'z', value: '1' })
      const ttl = await store.lease.timeToLive({ id, keys: true })
      assert.deepEqual(ttl.keys.map(text), ['a', 'b'])
      assert.equal(ttl.grantedTtl, 60)
      assert.equal(ttl.ttl, 60)
      const events: Event[][] = []
      store.on('applied', (e) => e.member === 'm1' && events.push([...e.events]))
      const before = (await store.kv.range({ key: 'z' })).header.revision
      const r = await store.lease.revoke({ id })
      assert.equal(r.header.revision, before + 1)
      assert.deepEqual(await keys(store), ['c', 'z'])
      const dels = events.flat().filter((e) => e.type === 'DELETE')
      assert.deepEqual(dels.map((e) => [text(e.kv.key), e.kv.modRevision]), [['a', before + 1], ['b', before + 1]])
      await assert.rejects(store.lease.revoke({ id }), rejectsWith('LeaseNotFound', 'etcdserver: requested lease not found'))
      const gone = await store.lease.timeToLive({ id, keys: true })
      assert.deepEqual({ id: gone.id, ttl: gone.ttl, grantedTtl: gone.grantedTtl, keys: gone.keys }, { id, ttl: -1, grantedTtl: 0, keys: [] })
      assert.equal((await store.lease.keepAliveOnce({ id })).ttl, 0)
      await assert.rejects(store.kv.put({ key: 'q', value: '1', lease: id }), rejectsWith('LeaseNotFound', 'etcdserver: requested lease not found'))
      await assert.rejects(
        store.kv.txn({ success: [{ requestPut: { key: 'q', value: '1', lease: id } }] }),
        rejectsWith('LeaseNotFound', 'etcdserver: requested lease not found'),
      )
      // revoking a lease without keys does not make a revision
      const empty = await store.lease.grant({ ttl: 60 })
      const rev = (await store.lease.revoke({ id: empty.id })).header.revision
      assert.equal(rev, before + 1)
    })
  })

  test('ignoreLease keeps the key on its lease; delete detaches', async () => {
    await withStore({}, async (store) => {
      const { id } = await store.lease.grant({ ttl: 60 })
      await store.kv.put({ key: 'k', value: '1', lease: id })
      await store.kv.put({ key: 'k', value: '2', ignoreLease: true })
      const kv = (await store.kv.range({ key: 'k' })).kvs[0]!
      assert.equal(kv.lease, id)
      assert.deepEqual((await store.lease.timeToLive({ id, keys: true })).keys.map(text), ['k'])
      await store.kv.put({ key: 'd', value: '1', lease: id })
      await store.kv.deleteRange({ key: 'd' })
      await store.kv.put({ key: 'd', value: '2' })
      await store.lease.revoke({ id })
      assert.deepEqual(await keys(store), ['d'])
    })
  })

  test('expiry: the leader revokes an expired lease and its keys on every member; keep-alive extends', async () => {
    await withStore({}, async (store) => {
      const a = await store.lease.grant({ ttl: 3 })
      const b = await store.lease.grant({ ttl: 3 })
      await store.kv.put({ key: 'a', value: '1', lease: a.id })
      await store.kv.put({ key: 'b', value: '1', lease: b.id })
      for (let i = 0; i < 5; i++) {
        await store.sim.advance(1000)
        const k = await store.member('m3').lease.keepAliveOnce({ id: b.id }) // forwarded to the leader
        assert.equal(k.ttl, 3)
      }
      assert.equal((await store.lease.timeToLive({ id: a.id })).ttl, -1)
      assert.equal((await store.lease.timeToLive({ id: b.id })).ttl, 3)
      await store.sim.settle()
      for (const m of store.memberNames) assert.deepEqual(await keys(store, m), ['b'], m)
      await store.sim.advance(4000)
      for (const m of store.memberNames) assert.deepEqual(await keys(store, m), [], m)
      assert.deepEqual((await store.lease.leases()).leases, [])
    })
  })

  test('a leader change does not expire a kept-alive lease (promote resets expiries)', async () => {
    await withStore({}, async (store) => {
      const { id } = await store.lease.grant({ ttl: 2 })
      await store.kv.put({ key: 'k', value: '1', lease: id })
      await store.sim.advance(1500)
      await store.lease.keepAliveOnce({ id })
      const old = store.sim.leader()!
      store.sim.isolate(old)
      const ok = await store.sim.until(() => store.sim.leader() !== undefined && store.sim.leader() !== old, 10_000)
      assert.ok(ok)
      store.sim.heal()
      // the new leader promoted with the full TTL (+ an election timeout); keep it alive from another member
      for (let i = 0; i < 4; i++) {
        await store.sim.advance(900)
        assert.equal((await store.member(old).lease.keepAliveOnce({ id })).ttl, 2)
      }
      assert.deepEqual(await keys(store), ['k'])
      await store.sim.advance(3000)
      assert.deepEqual(await keys(store), [])
    })
  })

  test('a lease whose holder is partitioned away expires on the majority', async () => {
    await withStore({ members: 5 }, async (store) => {
      const leader = store.sim.leader()!
      const others = store.memberNames.filter((n) => n !== leader)
      const holder = others[0]!
      const { id } = await store.member(holder).lease.grant({ ttl: 2 })
      await store.member(holder).kv.put({ key: 'lock', value: 'me', lease: id })
      store.sim.partition([holder], store.memberNames.filter((n) => n !== holder))
      // the holder keeps trying to renew: it loses its leader and fails as etcd's waitLeader does
      const renew = store.member(holder).lease.keepAliveOnce({ id }).then(
        () => 'renewed',
        (e: unknown) => (e instanceof EtcdError ? e.code : 'other'),
      )
      await store.sim.advance(4000)
      for (const m of store.memberNames.filter((n) => n !== holder)) assert.deepEqual(await keys(store, m), [], m)
      await store.sim.advance(10_000)
      assert.equal(await renew, 'ErrNoLeader')
      store.sim.heal()
      await store.sim.advance(2000)
      assert.deepEqual(await keys(store, holder), [])
    })
  })

  test('restart from classic-level keeps leases and attachments; the new leader resumes the remaining TTLs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pocket-etcd-lease-'))
    try {
      let id = ''
      await withStore({ dataDir: dir, members: 3 }, async (store) => {
        id = (await store.lease.grant({ ttl: 5 })).id
        await store.kv.put({ key: 'k', value: '1', lease: id })
        await store.lease.grant({ ttl: 100, id: 9 })
        await store.sim.advance(4000) // 1 s left before the restart; close() checkpoints it
      })
      await withStore({ dataDir: dir, members: 3 }, async (store) => {
        await store.sim.settle() // the leader's lessor is promoted once it applied its first entry
        const t = await store.lease.timeToLive({ id, keys: true })
        assert.equal(t.grantedTtl, 5)
        assert.ok(t.ttl <= 2, `the remaining second resumes after the restart, got ${t.ttl}`)
        assert.deepEqual(t.keys.map(text), ['k'])
        const nine = await store.lease.timeToLive({ id: 9 })
        assert.ok(nine.ttl >= 95 && nine.ttl <= 97, `lease 9 resumes its 96 s, got ${nine.ttl}`)
        assert.deepEqual((await store.lease.leases()).leases.map((l) => l.id).sort(), [id, '9'].sort())
        await store.sim.advance(4000)
        assert.deepEqual(await keys(store), [])
      })
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  test('a member restored from a snapshot rebuilds its leases and attachments', async () => {
    await withStore({ snapshotCount: 20 }, async (store) => {
      const leader = store.sim.leader()!
      const lagging = store.memberNames.find((n) => n !== leader)!
      await store.sim.crash(lagging)
      const { id } = await store.lease.grant({ ttl: 60 })
      for (let i = 0; i < 60; i++) await store.kv.put({ key: `k${i % 3}`, value: String(i), lease: i % 3 === 0 ? id : '0' })
      await store.sim.restart(lagging)
      await store.sim.until(() => store.runningMember(lagging)!.applied >= store.runningMember(leader)!.applied, 20_000)
      const m = store.runningMember(lagging)!
      assert.deepEqual(m.leases.sortedKeys(id).map(text), ['k0'])
      store.sim.isolate(leader)
      await store.sim.until(() => store.sim.leader() !== undefined && store.sim.leader() !== leader, 10_000)
      store.sim.heal()
      await store.lease.revoke({ id })
      await store.sim.settle()
      assert.deepEqual(await keys(store, lagging), ['k1', 'k2'])
    })
  })
})

describe('typed Lease (store.lease(ttl))', () => {
  test('grants, keeps alive at ttl/3, attaches keys, revokes', async () => {
    await withStore({}, async (store) => {
      const lease = store.lease(3)
      const id = await lease.grant()
      let ok = 0
      lease.on('keepaliveSucceeded', () => ok++)
      await lease.put('held').value('v')
      assert.equal((await store.kv.range({ key: 'held' })).kvs[0]!.lease, id)
      await store.sim.advance(10_000)
      assert.ok(ok >= 9, `keep-alives: ${ok}`)
      assert.deepEqual(await keys(store), ['held'])
      await lease.revoke()
      assert.ok(lease.revoked())
      assert.deepEqual(await keys(store), [])
    })
  })

  test("'lost' when the lease is revoked elsewhere; release() lets it expire", async () => {
    await withStore({}, async (store) => {
      const lease = store.lease(3)
      const id = await lease.grant()
      const lost = new Promise<EtcdError>((resolve) => lease.once('lost', resolve))
      await store.lease.revoke({ id })
      await store.sim.advance(2000)
      assert.equal((await lost).code, 'ErrLeaseNotFound')

      const other = store.lease(2)
      await other.put('x').value('1')
      other.release()
      await store.sim.advance(1000)
      assert.deepEqual(await keys(store), ['x'])
      await store.sim.advance(3000)
      assert.deepEqual(await keys(store), [])
    })
  })

  test("'lost' when the lease is not renewed before it expires", async () => {
    await withStore({ members: 3 }, async (store) => {
      const lease = store.lease(2)
      await lease.grant()
      let failed = 0
      lease.on('keepaliveFailed', () => failed++)
      const lost = new Promise<EtcdError>((resolve) => lease.once('lost', resolve))
      for (const n of store.memberNames) await store.sim.crash(n)
      await store.sim.advance(20_000)
      const err = await lost
      assert.ok(err instanceof EtcdError)
      assert.ok(failed >= 1)
    })
  })

  test('a real-clock lease does not keep the process alive; close() releases it', async () => {
    const store = await Store.open({ members: 1 })
    const lease = store.lease(5)
    await lease.grant()
    await store.close()
    assert.equal(lease.revoked(), false)
  })
})
