// A member removed while it was down must not come back when restarted: in etcd its peers
// reject it and it stops ("the member has been permanently removed from the cluster").
// Found by the nemesis' membership fault (seed 3, faults membership,crash).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Store } from '../../src/index.js'
import { assertConverged } from '../../src/testing/index.js'

test('a member removed while down stays removed after a restart', async () => {
  const store = await Store.open({ members: 3, clock: 'manual', seed: 3 })
  try {
    await store.put('a').value('1')
    const id3 = store.member('m3').id
    await store.sim.crash('m3')
    await store.cluster.memberRemove({ id: id3 })
    await store.put('b').value('2')
    // it is no longer a member: the simulation refuses to bring it back
    await assert.rejects(async () => store.sim.restart('m3'), /no member named "m3"/)
    await store.sim.advance(1000)
    assert.equal(store.runningMember('m3'), undefined, 'm3 must not run again')
    const listed = (await store.cluster.memberList()).members.map((m) => m.name).sort()
    assert.deepEqual(listed, ['m1', 'm2'])
    await store.put('c').value('3')
    const hashes = await assertConverged(store)
    assert.deepEqual(hashes.map((h) => h.member).sort(), ['m1', 'm2'])
  } finally {
    await store.close()
  }
})

// A member removed while cut off never applies its own removal; when it next reaches a peer,
// the peer rejects it (etcd's peer handler answers 410 Gone) and it stops. Found by the
// campaign (seed 7317): the removed member kept campaigning and looked like a lagging member.
test('a member removed while partitioned stops when it reaches the cluster again', async () => {
  const store = await Store.open({ members: 3, clock: 'manual', seed: 11 })
  try {
    await store.put('a').value('1')
    const leader = store.sim.leader()!
    const victim = store.memberNames.find((n) => n !== leader)!
    const rest = store.memberNames.filter((n) => n !== victim)
    store.sim.partition([victim], rest)
    await store.cluster.memberRemove({ id: store.member(victim).id })
    await store.put('b').value('2')
    await store.sim.advance(3000)
    // still cut off: it knows nothing of its removal and keeps running
    assert.notEqual(store.runningMember(victim), undefined, 'the victim runs while partitioned')
    store.sim.heal()
    assert.ok(await store.sim.until(() => store.runningMember(victim) === undefined, 10_000), 'the removed member stops once a peer rejects it')
    assert.deepEqual([...store.memberNames].sort(), [...rest].sort())
    await assert.rejects(async () => store.sim.restart(victim), /no member named/)
    await store.put('c').value('3')
    const hashes = await assertConverged(store)
    assert.deepEqual(hashes.map((h) => h.member).sort(), [...rest].sort())
  } finally {
    await store.close()
  }
})
