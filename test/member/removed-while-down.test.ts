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
