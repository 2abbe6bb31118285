/**
 * Elections (etcd's concurrency.Election, the v3election service and `store.election`) on a
 * 3-member cluster with a manual clock: one leader at a time, proclaim, resign hands over,
 * observe sees every change in order, and a leader whose member crashes is replaced once
 * its lease expires.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { Session } from '../../src/concurrency/session.js'
import { Election } from '../../src/concurrency/election.js'
import type { LeaderState } from '../../src/concurrency/election.js'
import { electionOn } from '../../src/client/election.js'
import { isEtcdError } from '../../src/errors.js'
import { ExclusionChecker, clientOf, drive, memberClient, text, until, withStore } from './helpers.js'

describe('election', () => {
  test('one leader at a time; resign hands over in campaign order; proclaim; observe sees every change in order', async () => {
    await withStore({ seed: 21 }, async (store) => {
      const client = clientOf(store)
      const check = new ExclusionChecker(() => store.sim.clock.now())
      const observed: string[] = []
      const ctrl = new AbortController()
      const obsSession = await Session.create(client, { ttl: 30 })
      const observing = (async () => {
        for await (const l of new Election(obsSession, 'db').observe({ signal: ctrl.signal })) observed.push(text(l.kv.value))
      })()
      const sessions = await Promise.all(['a', 'b', 'c'].map(() => Session.create(client, { ttl: 30 })))
      const elections = sessions.map((s) => new Election(s, 'db'))
      const won: string[] = []
      const campaigns: Promise<void>[] = []
      for (const [i, name] of ['a', 'b', 'c'].entries()) {
        campaigns.push(elections[i]!.campaign(name).then(() => {
          check.acquired(name)
          won.push(name)
        }))
        await store.sim.advance(20)
      }
      await until(store, () => won.length === 1, 'a is elected')
      assert.deepEqual(won, ['a'])
      const leader = await elections[1]!.leader()
      assert.equal(text(leader.kv.value), 'a')
      assert.equal(text(leader.kv.key), `db/${BigInt(sessions[0]!.lease).toString(16)}`)
      await elections[0]!.proclaim('a2')
      assert.equal(text((await elections[2]!.leader()).kv.value), 'a2')
      // a candidate that does not lead cannot proclaim
      await assert.rejects(new Election(sessions[1]!, 'db').proclaim('x'), (e: unknown) => isEtcdError(e) && e.code === 'ErrElectionNotLeader' && e.message === 'election: not leader')
      await store.sim.advance(100)
      assert.deepEqual(won, ['a'], 'still one leader')
      for (const [i, next] of [[0, 'b'], [1, 'c']] as const) {
        check.released(['a', 'b', 'c'][i]!)
        await elections[i]!.resign()
        await until(store, () => won[won.length - 1] === next, `${next} is elected`)
      }
      await elections[2]!.proclaim('c2')
      check.released('c')
      await elections[2]!.resign()
      await assert.rejects(elections[2]!.leader(), (e: unknown) => isEtcdError(e) && e.code === 'ErrElectionNoLeader' && e.message === 'election: no leader')
      await elections[1]!.campaign('b-again')
      await until(store, () => observed[observed.length - 1] === 'b-again', 'observer catches up')
      ctrl.abort()
      await drive(store, observing)
      await Promise.all(campaigns)
      assert.deepEqual(won, ['a', 'b', 'c'])
      assert.deepEqual(observed, ['a', 'a2', 'b', 'c', 'c2', 'b-again'], 'observe: every leader and proclamation, in order')
      for (const s of [...sessions, obsSession]) await s.close()
    })
  })

  test('campaigning again on the same session reuses the key and proclaims the new value', async () => {
    await withStore({ seed: 22 }, async (store) => {
      const s = await Session.create(clientOf(store), { ttl: 30 })
      const e = new Election(s, 'same')
      await e.campaign('v1')
      const rev = e.rev
      const e2 = new Election(s, 'same')
      await e2.campaign('v2')
      assert.equal(e2.rev, rev)
      assert.equal(text((await e2.leader()).kv.value), 'v2')
      await s.close()
    })
  })

  test('the leader\'s member crashes: a new leader is elected after the lease expires; observers see it', async () => {
    await withStore({ seed: 23, members: 3 }, async (store) => {
      const check = new ExclusionChecker(() => store.sim.clock.now())
      const clusterLeader = store.sim.leader()!
      const other = store.memberNames.find((n) => n !== clusterLeader)!
      const first = electionOn(memberClient(store, clusterLeader), 'svc').ttl(2)
      const second = electionOn(memberClient(store, other), 'svc').ttl(2)
      const events: string[] = []
      first.on('elected', (l) => {
        check.acquired('first')
        events.push(`elected ${l.value}`)
      })
      first.on('lost', () => {
        check.released('first')
        events.push('first lost')
      })
      second.on('elected', (l) => {
        check.acquired('second')
        events.push(`elected ${l.value}`)
      })
      const seen: string[] = []
      const ctrl = new AbortController()
      const observer = electionOn(clientOf(store), 'svc')
      observer.on('changed', (l) => seen.push(l.value))
      const observing = (async () => {
        for await (const l of observer.observe({ signal: ctrl.signal })) void l
      })()
      await drive(store, first.campaign('one'))
      assert.equal(first.isLeader, true)
      const p2 = second.campaign('two')
      await store.sim.advance(3_000)
      assert.deepEqual(events, ['elected one'], 'a kept-alive leader stays leader')
      assert.equal(await drive(store, second.leader()), 'one')
      await store.sim.crash(clusterLeader)
      await drive(store, p2, 30_000)
      assert.deepEqual(events, ['elected one', 'first lost', 'elected two'])
      assert.equal(first.isLeader, false)
      await until(store, () => seen.includes('two'), 'the observer sees the new leader')
      assert.deepEqual(seen, ['one', 'two'])
      ctrl.abort()
      await drive(store, observing)
      await drive(store, second.resign())
      assert.equal(await drive(store, second.leader()), undefined)
      await store.sim.restart(clusterLeader)
    })
  })

  test('v3election service: campaign on a lease, leader, proclaim, observe, resign; etcd\'s errors', async () => {
    await withStore({ seed: 24 }, async (store) => {
      const l1 = await store.lease.grant({ ttl: 30 })
      const l2 = await store.lease.grant({ ttl: 30 })
      const c1 = await store.election.campaign({ name: 'e', lease: l1.id, value: 'v1' })
      assert.equal(text(c1.leader.name), 'e')
      assert.equal(text(c1.leader.key), `e/${BigInt(l1.id).toString(16)}`)
      assert.equal(c1.leader.lease, l1.id)
      assert.equal(c1.leader.rev, c1.header.revision)
      const ctrl = new AbortController()
      const seen: LeaderState[] = []
      const observing = (async () => {
        for await (const r of store.election.observe({ name: 'e' }, { signal: ctrl.signal })) seen.push(r)
      })()
      let c2: Awaited<ReturnType<typeof store.election.campaign>> | undefined
      const p2 = store.election.campaign({ name: 'e', lease: l2.id, value: 'v2' }).then((r) => (c2 = r))
      await store.sim.advance(100)
      assert.equal(c2, undefined)
      const p = await store.election.proclaim({ leader: c1.leader, value: 'v1b' })
      assert.ok(p.header.revision > c1.header.revision)
      assert.equal(text((await store.election.leader({ name: 'e' })).kv.value), 'v1b')
      await store.election.resign({ leader: c1.leader })
      await drive(store, p2)
      await assert.rejects(store.election.proclaim({ leader: c1.leader, value: 'stale' }), (e: unknown) => isEtcdError(e) && e.message === 'election: not leader')
      await assert.rejects(store.election.proclaim({ value: 'x' } as never), (e: unknown) => isEtcdError(e) && e.message === '"leader" field must be provided')
      await assert.rejects(store.election.resign({} as never), (e: unknown) => isEtcdError(e) && e.message === '"leader" field must be provided')
      await store.election.resign({ leader: c2!.leader })
      await assert.rejects(store.election.leader({ name: 'e' }), (e: unknown) => isEtcdError(e) && e.message === 'election: no leader')
      await until(store, () => seen.length >= 3, 'observe catches up')
      ctrl.abort()
      await drive(store, observing)
      assert.deepEqual(seen.map((r) => text(r.kv.value)), ['v1', 'v1b', 'v2'])
      assert.ok(seen.every((r, i) => i === 0 || r.header.revision > seen[i - 1]!.header.revision), 'in revision order')
    })
  })
})
