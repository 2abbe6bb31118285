// Proposals that arrive together go to Raft together: the leader appends them in one go and
// replicates them in one round of messages, and a refused batch fails every proposal in it.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { EtcdError } from '../../src/errors.js'
import { Store } from '../../src/store.js'

test('64 concurrent puts on 3 members are replicated in a few rounds of messages, not one round each', async () => {
  const store = await Store.open({ members: 3, clock: 'manual', seed: 9 })
  try {
    await store.kv.put({ key: 'warm', value: 'x' })
    await store.sim.settle()
    let appends = 0
    const stop = store.sim.onNetworkEvent((e) => {
      if (e.type === 'send' && (e.msg as { type: string }).type === 'MsgApp') appends++
    })
    const puts = Array.from({ length: 64 }, (_, i) => store.kv.put({ key: `k${i}`, value: `v${i}` }))
    await store.sim.settle() // no time passes: no heartbeats, only what the puts cause
    const revisions = (await Promise.all(puts)).map((r) => r.header.revision)
    stop()
    // one append per follower carries all 64 entries, one more tells each the commit index
    assert.ok(appends <= 4, `${appends} appends for 64 puts`)
    assert.deepEqual([...revisions].sort((a, b) => a - b), Array.from({ length: 64 }, (_, i) => 3 + i), 'each put its own revision')
    const got = await store.kv.range({ key: 'k', rangeEnd: 'l' })
    assert.equal(got.count, 64)
    for (const name of store.memberNames) {
      const r = await store.member(name).kv.range({ key: 'k', rangeEnd: 'l', serializable: true })
      assert.equal(r.count, 64, `${name} applied all 64`)
    }
  } finally {
    await store.close()
  }
})

test('a batch Raft refuses (a leadership transfer in progress) fails every proposal in it with an etcd error; later ones succeed', async () => {
  const store = await Store.open({ members: 3, clock: 'manual', seed: 9 })
  try {
    await store.kv.put({ key: 'warm', value: 'x' })
    await store.sim.settle()
    const leader = store.sim.leader()!
    const target = store.memberNames.find((n) => n !== leader)!
    // the transferee never hears it should campaign: the transfer stays in progress until it aborts
    store.sim.isolate(target)
    let moved: string | undefined
    void store.member(leader).maintenance.moveLeader({ targetID: store.member(target).id }).then(
      () => (moved = 'moved'),
      (err: unknown) => (moved = err instanceof EtcdError ? err.code : String(err)),
    )
    await store.sim.settle()
    const settled: string[] = []
    for (let i = 0; i < 5; i++) {
      void store.member(leader).kv.put({ key: `x${i}`, value: 'v' }).then(
        () => settled.push('ok'),
        (err: unknown) => settled.push(err instanceof EtcdError ? err.code : String(err)),
      )
    }
    await store.sim.settle()
    const outcomes = settled
    assert.deepEqual(outcomes, Array(5).fill('ErrLeaderChanged'))
    store.sim.heal()
    assert.ok(await store.sim.until(() => store.sim.leader() !== undefined, 5_000))
    assert.ok(await store.sim.until(() => moved !== undefined, 20_000), 'the transfer ends')
    const r = await store.kv.put({ key: 'after', value: 'v' })
    assert.ok(r.header.revision > 2)
    assert.equal((await store.kv.range({ key: 'x', rangeEnd: 'y' })).count, 0, 'no refused put was applied')
  } finally {
    await store.close()
  }
})
