/**
 * The nemesis' membership fault on its own: under writes it adds a learner that catches up
 * and is promoted (the cluster grows to 4 voters), then removes a member other than the
 * leader (back to 3), and the current members converge. Manual clock, seed 5.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { Store } from '../../src/store.js'
import { Random } from '../../src/sim/random.js'
import { Nemesis, assertConverged } from '../../src/testing/index.js'

const SEED = 5

async function reconfigure(store: Store, nemesis: Nemesis): Promise<void> {
  assert.equal(await nemesis.inject('membership'), true)
  assert.equal(nemesis.reconfiguring, true)
  // load while it runs
  let i = 0
  while (nemesis.reconfiguring && i < 2_000) {
    void store.kv.put({ key: `k${i % 7}`, value: `v${i}` }).catch(() => undefined)
    await store.sim.advance(10)
    i++
  }
  assert.equal(nemesis.reconfiguring, false, `seed ${SEED}: the membership change did not finish`)
}

describe('nemesis: membership changes', () => {
  it('adds and promotes a learner, then removes a follower; the members converge', async () => {
    const store = await Store.open({ members: 3, clock: 'manual', seed: SEED, snapshotCount: 20 })
    try {
      // at its initial size the nemesis grows or shrinks by chance: this fork grows first
      const nemesis = new Nemesis(store, { faults: ['membership'], random: new Random(SEED).fork('nemesis-membership-d') })
      const before = [...store.memberNames]
      await reconfigure(store, nemesis)
      let list = (await store.cluster.memberList()).members
      assert.equal(list.length, 4, `seed ${SEED}: this fork grows first`)
      assert.deepEqual(store.memberNames, [...before, 'm4'])
      assert.equal(list.find((m) => m.name === 'm4')?.isLearner, false, 'the added learner was promoted')
      assert.equal(nemesis.counts.membership, 2, 'an add and a promotion')
      await assertConverged(store)
      // above the initial size it removes a member, never the leader
      const leader = store.sim.leader()!
      await reconfigure(store, nemesis)
      list = (await store.cluster.memberList()).members
      assert.equal(list.length, 3)
      assert.ok(list.some((m) => m.name === leader), 'the leader was not removed')
      assert.equal(nemesis.counts.membership, 3)
      await store.kv.put({ key: 'after', value: 'x' })
      const hs = await assertConverged(store)
      assert.deepEqual(hs.map((h) => h.member).sort(), list.map((m) => m.name).sort())
      assert.deepEqual(nemesis.violations, [])
    } finally {
      await store.close()
    }
  })
})
