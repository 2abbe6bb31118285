/**
 * Cluster membership through the Store: list, add (learner and voter), promote, remove
 * (the leader too), update, the strict reconfiguration checks and etcd's errors, and
 * membership surviving a reopen of a data directory. Manual clock, seed 1.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { Store } from '../../src/store.js'
import { EtcdError } from '../../src/errors.js'
import { assertConverged, openManual } from '../store/helpers.js'

/** Runs `p` while advancing the manual clock, so requests that wait on ticks finish. */
export async function drive<T>(store: Store, p: Promise<T>, stepMs = 10, maxMs = 60_000): Promise<T> {
  let done = false
  const watched = p.finally(() => {
    done = true
  })
  watched.catch(() => undefined)
  for (let t = 0; !done && t < maxMs; t += stepMs) await store.sim.advance(stepMs)
  return watched
}

async function rejects(p: Promise<unknown>, message: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => err instanceof EtcdError && err.message === message)
}

describe('cluster: membership', () => {
  test('memberList shows every member with synthetic URLs, ordered by id', async () => {
    const store = await openManual()
    try {
      const r = await store.cluster.memberList()
      assert.equal(r.members.length, 3)
      assert.deepEqual(r.members.map((m) => m.name).sort(), ['m1', 'm2', 'm3'])
      const ids = r.members.map((m) => BigInt(m.id))
      assert.deepEqual(ids, [...ids].sort((a, b) => (a < b ? -1 : 1)))
      for (const m of r.members) {
        assert.equal(m.isLearner, false)
        assert.deepEqual(m.peerURLs, [`http://${m.name}.pocket-etcd:2380`])
        assert.equal(m.id, store.member(m.name).id)
      }
      assert.equal(r.header.clusterId, store.clusterId)
      // every member serves the same list
      const other = await store.member('m3').cluster.memberList()
      assert.deepEqual(other.members, r.members)
    } finally {
      await store.close()
    }
  })

  test('a learner added under load catches up by snapshot and is promoted', async () => {
    const store = await openManual({ snapshotCount: 20 })
    try {
      for (let i = 0; i < 60; i++) await store.kv.put({ key: `k${i}`, value: `v${i}` })
      const added = await drive(store, store.cluster.memberAdd({ peerURLs: ['http://10.0.0.4:2380'], isLearner: true }))
      assert.equal(added.member.name, 'm4')
      assert.equal(added.member.isLearner, true)
      assert.equal(added.members.length, 4)
      assert.deepEqual(store.memberNames, ['m1', 'm2', 'm3', 'm4'])
      // more writes while it catches up
      for (let i = 60; i < 80; i++) await store.kv.put({ key: `k${i}`, value: `v${i}` })
      await assertConverged(store, 'after adding a learner')
      const m4 = store.runningMember('m4')!
      assert.ok(m4.store.consistentIndex > 0)
      const got = await store.member('m4').kv.range({ key: 'k', rangeEnd: 'l', serializable: true, countOnly: true })
      assert.equal(got.count, 80)
      const st = await store.member('m4').maintenance.status()
      assert.equal(st.isLearner, true)
      // a learner cannot be a leader transferee
      const leader = store.sim.leader()!
      await rejects(store.member(leader).maintenance.moveLeader({ targetID: added.member.id }), 'etcdserver: bad leader transferee')
      const promoted = await drive(store, store.cluster.memberPromote({ id: added.member.id }))
      assert.equal(promoted.members.find((m) => m.id === added.member.id)?.isLearner, false)
      await assertConverged(store, 'after promotion')
      for (const name of store.memberNames) {
        const l = await store.member(name).cluster.memberList()
        assert.equal(l.members.length, 4, name)
        assert.equal(l.members.find((m) => m.name === 'm4')?.isLearner, false, name)
      }
      // the promoted member votes: it can lead
      await drive(store, store.member(store.sim.leader()!).maintenance.moveLeader({ targetID: added.member.id }))
      assert.equal(store.sim.leader(), 'm4')
      await store.kv.put({ key: 'after', value: 'x' })
      await assertConverged(store, 'with m4 leading')
    } finally {
      await store.close()
    }
  })

  test('memberAdd errors: invalid URLs, duplicate peer URL, too many learners', async () => {
    const store = await openManual()
    try {
      for (const bad of [[], ['not a url'], ['ftp://1.2.3.4:2380'], ['http://1.2.3.4'], ['http://1.2.3.4:2380/path']]) {
        await rejects(store.cluster.memberAdd({ peerURLs: bad, isLearner: true }), 'etcdserver: given member URLs are invalid')
      }
      await rejects(store.cluster.memberAdd({ peerURLs: ['http://m1.pocket-etcd:2380'], isLearner: true }), 'etcdserver: Peer URLs already exists')
      await drive(store, store.cluster.memberAdd({ peerURLs: ['http://10.0.0.4:2380'], isLearner: true }))
      await rejects(store.cluster.memberAdd({ peerURLs: ['http://10.0.0.5:2380'], isLearner: true }), 'etcdserver: too many learner members in cluster')
      assert.equal((await store.cluster.memberList()).members.length, 4)
      assert.deepEqual(store.memberNames, ['m1', 'm2', 'm3', 'm4'])
    } finally {
      await store.close()
    }
  })

  test('memberPromote errors: a voter, an unknown id, a learner that is not in sync', async () => {
    const store = await openManual()
    try {
      await rejects(store.cluster.memberPromote({ id: store.member('m2').id }), 'etcdserver: can only promote a learner member')
      await rejects(store.cluster.memberPromote({ id: '12345' }), 'etcdserver: member not found')
      for (let i = 0; i < 20; i++) await store.kv.put({ key: `k${i}`, value: 'v' })
      const added = await drive(store, store.cluster.memberAdd({ peerURLs: ['http://10.0.0.4:2380'], isLearner: true }))
      await store.sim.crash('m4') // it never catches up
      for (let i = 0; i < 20; i++) await store.kv.put({ key: `k${i}`, value: 'w' })
      await rejects(store.cluster.memberPromote({ id: added.member.id }), 'etcdserver: can only promote a learner member which is in sync with leader')
      await store.sim.restart('m4')
      await assertConverged(store, 'after the learner restarts')
      await drive(store, store.cluster.memberPromote({ id: added.member.id }))
    } finally {
      await store.close()
    }
  })

  test('removing the leader: it steps down and stops, the others elect and serve', async () => {
    const store = await openManual()
    try {
      await store.kv.put({ key: 'a', value: '1' })
      const leader = store.sim.leader()!
      const r = await drive(store, store.cluster.memberRemove({ id: store.member(leader).id }))
      assert.equal(r.members.length, 2)
      assert.ok(!r.members.some((m) => m.name === leader))
      assert.ok(await store.sim.until(() => store.sim.leader() !== undefined && store.sim.leader() !== leader, 60_000, 10))
      await drive(store, store.sim.until(() => store.runningMember(leader) === undefined, 60_000, 10))
      assert.equal(store.runningMember(leader), undefined)
      assert.ok(!store.memberNames.includes(leader))
      await store.kv.put({ key: 'b', value: '2' })
      await assertConverged(store, 'after removing the leader')
      for (const name of store.memberNames) assert.equal((await store.member(name).cluster.memberList()).members.length, 2)
      // a removed member is no longer part of the simulation and does not come back
      await assert.rejects(async () => store.sim.restart(leader), /no member named/)
      assert.equal(store.runningMember(leader), undefined)
      await rejects(store.cluster.memberRemove({ id: store.member(leader).id }), 'etcdserver: member not found')
    } finally {
      await store.close()
    }
  })

  test('a removal that leaves too few started members is refused; a down member may go', async () => {
    const store = await openManual()
    try {
      const leader = store.sim.leader()!
      const [a, b] = store.memberNames.filter((n) => n !== leader) as [string, string]
      await store.sim.crash(b)
      await rejects(store.member(leader).cluster.memberRemove({ id: store.member(a).id }), 'etcdserver: re-configuration failed due to not enough started members')
      assert.equal((await store.cluster.memberList()).members.length, 3)
      // the down member can be removed: the two started ones keep a quorum
      const r = await drive(store, store.member(leader).cluster.memberRemove({ id: store.member(b).id }))
      assert.equal(r.members.length, 2)
      await rejects(store.cluster.memberRemove({ id: '42' }), 'etcdserver: member not found')
    } finally {
      await store.close()
    }
  })

  test('memberUpdate changes peer URLs on every member; duplicate and bad URLs are refused', async () => {
    const store = await openManual()
    try {
      const id = store.member('m2').id
      const r = await store.cluster.memberUpdate({ id, peerURLs: ['https://10.1.1.2:2380'] })
      assert.deepEqual(r.members.find((m) => m.id === id)?.peerURLs, ['https://10.1.1.2:2380'])
      await assertConverged(store)
      for (const name of store.memberNames) {
        const l = await store.member(name).cluster.memberList()
        assert.deepEqual(l.members.find((m) => m.id === id)?.peerURLs, ['https://10.1.1.2:2380'], name)
      }
      await rejects(store.cluster.memberUpdate({ id, peerURLs: ['http://m1.pocket-etcd:2380'] }), 'etcdserver: Peer URLs already exists')
      await rejects(store.cluster.memberUpdate({ id, peerURLs: ['m1:2380'] }), 'etcdserver: given member URLs are invalid')
      await rejects(store.cluster.memberUpdate({ id: '7', peerURLs: ['http://10.9.9.9:2380'] }), 'etcdserver: member not found')
    } finally {
      await store.close()
    }
  })

  test('membership survives closing and reopening a data directory', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pocket-etcd-cluster-'))
    try {
      let store = await Store.open({ clock: 'manual', seed: 3, dataDir: dir })
      await store.kv.put({ key: 'a', value: '1' })
      const added = await drive(store, store.cluster.memberAdd({ peerURLs: ['http://10.0.0.4:2380'], isLearner: false }))
      const victim = store.memberNames.find((n) => n !== store.sim.leader() && n !== 'm4')!
      await drive(store, store.cluster.memberRemove({ id: store.member(victim).id }))
      await store.kv.put({ key: 'b', value: '2' })
      await assertConverged(store)
      const before = (await store.cluster.memberList()).members
      await store.close()
      store = await Store.open({ clock: 'manual', seed: 3, dataDir: dir })
      try {
        assert.deepEqual((await store.cluster.memberList()).members, before)
        assert.ok(store.memberNames.includes('m4'))
        assert.ok(!store.memberNames.includes(victim))
        assert.equal(store.member('m4').id, added.member.id)
        const got = await store.member('m4').kv.range({ key: 'b', serializable: true })
        assert.equal(got.kvs.length, 1)
        await store.kv.put({ key: 'c', value: '3' })
        await assertConverged(store, 'after reopen')
      } finally {
        await store.close()
      }
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
