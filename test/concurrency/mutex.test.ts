/**
 * Locks (etcd's concurrency.Mutex, the v3lock service and the typed `store.lock`) on a
 * 3-member cluster with a manual clock: mutual exclusion under contention, FIFO order by
 * create revision, hand-over on unlock, and a holder cut off from the quorum (partition,
 * crash) losing the lock when its lease expires, with no two holders at the same instant.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type { Store } from '../../src/store.js'
import { Session } from '../../src/concurrency/session.js'
import { Mutex } from '../../src/concurrency/mutex.js'
import { isEtcdError } from '../../src/errors.js'
import { lockOn } from '../../src/client/lock.js'
import { prefixEnd, toBytes } from '../../src/api/bytes.js'
import { ExclusionChecker, clientOf, drive, memberClient, text, until, withStore } from './helpers.js'

async function waiters(store: Store, name: string): Promise<number> {
  const p = toBytes(`${name}/`)
  return (await store.kv.range({ key: p, rangeEnd: prefixEnd(p), countOnly: true })).count
}

function follower(store: Store): string {
  return store.memberNames.find((n) => n !== store.sim.leader())!
}

describe('mutex', () => {
  test('mutual exclusion: concurrent lockers increment a counter non-atomically inside the lock; the count is exact', async () => {
    await withStore({ seed: 3 }, async (store) => {
      await store.kv.put({ key: 'counter', value: '0' })
      const check = new ExclusionChecker(() => store.sim.clock.now())
      const N = 12
      const worker = async (i: number): Promise<void> => {
        const lock = store.lock('locks/counter').ttl(10)
        await lock.do(async () => {
          check.acquired(`w${i}`)
          const v = Number(text((await store.kv.range({ key: 'counter' })).kvs[0]!.value))
          // a tick of cluster time between the read and the write: without the lock, increments are lost
          await store.sim.advance(10)
          await store.kv.put({ key: 'counter', value: String(v + 1) })
          check.released(`w${i}`)
        })
      }
      await drive(store, Promise.all(Array.from({ length: N }, (_, i) => worker(i))))
      assert.equal(text((await store.kv.range({ key: 'counter' })).kvs[0]!.value), String(N))
      assert.equal(check.tenures.length, N)
      assert.equal(await waiters(store, 'locks/counter'), 0, 'every lock key is gone')
    })
  })

  test('without the lock the same workers lose increments (the test can fail)', async () => {
    await withStore({ seed: 3 }, async (store) => {
      await store.kv.put({ key: 'counter', value: '0' })
      const worker = async (): Promise<void> => {
        const v = Number(text((await store.kv.range({ key: 'counter' })).kvs[0]!.value))
        await store.sim.advance(10)
        await store.kv.put({ key: 'counter', value: String(v + 1) })
      }
      await drive(store, Promise.all(Array.from({ length: 12 }, () => worker())))
      assert.ok(Number(text((await store.kv.range({ key: 'counter' })).kvs[0]!.value)) < 12)
    })
  })

  test('FIFO by create revision; unlock hands over to the next waiter; etcd key layout and header', async () => {
    await withStore({ seed: 4 }, async (store) => {
      const client = clientOf(store)
      const sessions = await Promise.all([0, 1, 2, 3].map(() => Session.create(client, { ttl: 30 })))
      const mutexes = sessions.map((s) => new Mutex(s, 'fifo'))
      const order: number[] = []
      await mutexes[0]!.lock()
      assert.equal(text(mutexes[0]!.key), `fifo/${BigInt(sessions[0]!.lease).toString(16)}`)
      assert.ok(mutexes[0]!.header!.revision >= mutexes[0]!.revision)
      order.push(0)
      // waiters queue in the order they registered: 3, 1, 2
      const pending: Promise<void>[] = []
      for (const i of [3, 1, 2]) {
        const before = await waiters(store, 'fifo')
        pending.push(mutexes[i]!.lock().then(() => void order.push(i)))
        await drive(store, (async () => { while ((await waiters(store, 'fifo')) === before) await store.sim.advance(10) })())
      }
      await store.sim.advance(100)
      assert.deepEqual(order, [0], 'nobody else holds while 0 does')
      for (const next of [3, 1, 2]) {
        const holder = order[order.length - 1]!
        await mutexes[holder]!.unlock()
        assert.equal(text(mutexes[holder]!.key), '\0')
        await until(store, () => order.length > 0 && order[order.length - 1] === next, `hand-over to ${next}`)
        await store.sim.advance(50)
        assert.equal(order[order.length - 1], next, 'exactly one hand-over per unlock')
      }
      await Promise.all(pending)
      assert.deepEqual(order, [0, 3, 1, 2])
      // isOwner guards a write: it succeeds for the holder, fails once the lock is gone
      const owner = mutexes[2]!
      const ok = await store.kv.txn({ compare: [owner.isOwner()], success: [{ requestPut: { key: 'guarded', value: 'yes' } }], failure: [] })
      assert.equal(ok.succeeded, true)
      const cmp = owner.isOwner()
      await owner.unlock()
      const no = await store.kv.txn({ compare: [cmp], success: [{ requestPut: { key: 'guarded', value: 'no' } }], failure: [] })
      assert.equal(no.succeeded, false)
      for (const s of sessions) await s.close()
    })
  })

  test('tryLock fails fast with etcd\'s ErrLocked and leaves no key; succeeds when free; re-locking on the same session reuses the key', async () => {
    await withStore({ seed: 5 }, async (store) => {
      const client = clientOf(store)
      const a = await Session.create(client, { ttl: 30 })
      const b = await Session.create(client, { ttl: 30 })
      const ma = new Mutex(a, 'try')
      await ma.tryLock()
      const mb = new Mutex(b, 'try')
      await assert.rejects(mb.tryLock(), (e: unknown) => isEtcdError(e) && e.code === 'ErrLocked' && e.message === 'mutex: Locked by another session')
      assert.equal(await waiters(store, 'try'), 1)
      const again = new Mutex(a, 'try')
      await again.lock()
      assert.equal(again.revision, ma.revision, 'same session, same key, same create revision')
      await ma.unlock()
      await mb.tryLock()
      await assert.rejects(store.lock('try').tryAcquire(), (e: unknown) => isEtcdError(e) && e.code === 'ErrLocked')
      await b.close()
      await a.close()
      assert.equal(await waiters(store, 'try'), 0)
    })
  })

  test('an aborted waiter deletes its key and rejects; the holder is unaffected', async () => {
    await withStore({ seed: 6 }, async (store) => {
      const holder = await store.lock('ab').ttl(30).acquire()
      const ctrl = new AbortController()
      const waiting = store.lock('ab').ttl(30).acquire({ signal: ctrl.signal })
      await drive(store, (async () => { while ((await waiters(store, 'ab')) < 2) await store.sim.advance(10) })())
      ctrl.abort()
      await assert.rejects(drive(store, waiting), (e: unknown) => isEtcdError(e) && e.code === 'ErrCanceled')
      assert.equal(await waiters(store, 'ab'), 1)
      await holder.release()
      assert.equal(await waiters(store, 'ab'), 0)
    })
  })

  test('v3lock service: lock on a lease, unlock by key, hand-over; lease revoke releases; errors as etcd', async () => {
    await withStore({ seed: 7 }, async (store) => {
      const l1 = await store.lease.grant({ ttl: 30 })
      const l2 = await store.lease.grant({ ttl: 30 })
      const r1 = await store.lock.lock({ name: 'svc', lease: l1.id })
      assert.equal(text(r1.key), `svc/${BigInt(l1.id).toString(16)}`)
      assert.ok(r1.header.revision > 0)
      let got: Uint8Array | undefined
      const p2 = store.lock.lock({ name: 'svc', lease: l2.id }).then((r) => (got = r.key))
      await store.sim.advance(100)
      assert.equal(got, undefined)
      const u = await store.lock.unlock({ key: r1.key })
      assert.ok(u.header.revision > r1.header.revision)
      await drive(store, p2)
      assert.equal(text(got!), `svc/${BigInt(l2.id).toString(16)}`)
      // revoking the holder's lease releases the lock
      const l3 = await store.lease.grant({ ttl: 30 })
      const p3 = store.lock.lock({ name: 'svc', lease: l3.id })
      await store.sim.advance(50)
      await store.lease.revoke({ id: l2.id })
      await drive(store, p3)
      await assert.rejects(store.lock.lock({ name: 'svc2', lease: '12345' }), (e: unknown) => isEtcdError(e, 'LeaseNotFound'))
      await assert.rejects(store.lock.unlock({ key: '' }), (e: unknown) => isEtcdError(e, 'EmptyKey'))
      await assert.rejects(store.lock.lock({ name: 'x', lease: 'abc' } as never), (e: unknown) => isEtcdError(e) && e.code === 'ErrInvalidRequest')
      await assert.rejects(store.lock.lock({ name: 'x', bogus: 1 } as never), (e: unknown) => isEtcdError(e) && e.code === 'ErrInvalidRequest')
    })
  })

  for (const fault of ['partition', 'crash'] as const) {
    test(`a holder whose member is cut off (${fault}) loses the lock when its lease expires; the next waiter gets it; never two holders at once`, async () => {
      await withStore({ seed: 8, members: 3 }, async (store) => {
        const check = new ExclusionChecker(() => store.sim.clock.now())
        const cut = follower(store)
        const holder = lockOn(memberClient(store, cut), 'jobs/nightly').ttl(2)
        await drive(store, holder.acquire())
        check.acquired('holder')
        void holder.lost.then(() => check.released('holder'))
        const waiter = store.lock('jobs/nightly').ttl(2)
        const acquired = waiter.acquire().then(() => check.acquired('waiter'))
        await store.sim.advance(3_000)
        assert.deepEqual(check.order(), ['holder'], 'the lease is kept alive: the holder keeps the lock')
        const cutAt = store.sim.clock.now()
        if (fault === 'partition') store.sim.isolate(cut)
        else await store.sim.crash(cut)
        await drive(store, acquired, 20_000)
        assert.equal(holder.isLost, true, 'the holder knows it lost the lock')
        const [h, w] = check.tenures
        assert.ok(h!.to! >= cutAt && h!.to! <= cutAt + 2_000, `the holder's tenure ended within a TTL of the cut (${h!.to} vs ${cutAt})`)
        assert.ok(w!.from >= h!.to!, 'the waiter acquired after the holder lost it')
        await waiter.release()
        if (fault === 'partition') store.sim.heal()
        else await store.sim.restart(cut)
      })
    })
  }

  test('the holder\'s member is the leader and crashes: a new leader expires the lease and the waiter (on the store) gets the lock', async () => {
    await withStore({ seed: 9, members: 3 }, async (store) => {
      const check = new ExclusionChecker(() => store.sim.clock.now())
      const leader = store.sim.leader()!
      const holder = lockOn(memberClient(store, leader), 'L').ttl(2)
      await drive(store, holder.acquire())
      check.acquired('holder')
      void holder.lost.then(() => check.released('holder'))
      const waiter = store.lock('L').ttl(5)
      const acquired = waiter.acquire().then(() => check.acquired('waiter'))
      await store.sim.advance(500)
      await store.sim.crash(leader)
      await drive(store, acquired, 30_000)
      assert.deepEqual(check.order(), ['holder', 'waiter'])
      assert.ok(store.sim.leader() !== leader)
      await drive(store, waiter.release())
    })
  })

  test('sessions: keep-alive holds the lease over many TTLs; close revokes and deletes the keys; done on external revoke', async () => {
    await withStore({ seed: 10 }, async (store) => {
      const s = await Session.create(clientOf(store), { ttl: 2 })
      await store.kv.put({ key: 'owned', value: 'x', lease: s.lease })
      await store.sim.advance(10_000)
      assert.equal(s.isDone, false)
      assert.equal((await store.kv.range({ key: 'owned' })).count, 1)
      await s.close()
      assert.equal(s.isDone, true)
      assert.equal((await store.kv.range({ key: 'owned' })).count, 0)
      const t = await Session.create(clientOf(store), { ttl: 2 })
      await store.lease.revoke({ id: t.lease })
      await drive(store, t.done)
      assert.equal(t.isLost, true)
      const adopted = await Session.create(clientOf(store), { lease: (await store.lease.grant({ ttl: 3 })).id })
      assert.equal(adopted.ttl, 3)
      await store.sim.advance(10_000)
      assert.equal(adopted.isDone, false)
      adopted.orphan()
      await store.sim.advance(5_000)
      assert.equal((await store.lease.timeToLive({ id: adopted.lease })).ttl, -1, 'an orphaned lease expires')
    })
  })
})
