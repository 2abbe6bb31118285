// A proposal that cannot commit fails with etcd's timeout error once the request timeout
// has passed since it was submitted: each proposal at its own deadline.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { EtcdError } from '../../src/errors.js'
import { Store } from '../../src/store.js'

test('proposals that cannot commit time out, each requestTimeoutMs after its submission', async () => {
  // a long election timeout: the leader, cut off from both followers, keeps leading meanwhile
  const store = await Store.open({ members: 3, clock: 'manual', seed: 5, requestTimeoutMs: 1_000, tickMs: 10, electionTicks: 500 })
  try {
    const clock = store.sim.clock
    await store.kv.put({ key: 'warm', value: 'x' })
    const leader = store.sim.leader()
    assert.ok(leader !== undefined)
    for (const name of store.memberNames) if (name !== leader) await store.sim.crash(name)
    const t0 = clock.now()
    const settled = new Map<string, { after: number; code: string }>()
    const submit = (key: string): void => {
      void store.kv.put({ key, value: 'v' }).then(
        () => settled.set(key, { after: clock.now() - t0, code: 'committed' }),
        (err: unknown) => settled.set(key, { after: clock.now() - t0, code: err instanceof EtcdError ? err.code : String(err) }),
      )
    }
    submit('a')
    await store.sim.advance(300)
    submit('b')
    submit('c')
    await store.sim.advance(400)
    assert.equal(settled.size, 0, 'nothing settles before its deadline')
    assert.ok(await store.sim.until(() => settled.size === 3, 5_000))
    for (const key of ['a', 'b', 'c']) {
      const s = settled.get(key)!
      assert.ok(['ErrTimeout', 'ErrTimeoutDueToLeaderFail'].includes(s.code), `${key}: ${s.code}`)
    }
    assert.deepEqual([settled.get('a')!.after, settled.get('b')!.after, settled.get('c')!.after], [1_000, 1_300, 1_300])
  } finally {
    await store.close()
  }
})
