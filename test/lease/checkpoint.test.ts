/**
 * Lease checkpoints through the Store on a manual clock (etcd's `LeaseCheckpoint`): the
 * leader records each long lease's remaining TTL on every member every interval, so a new
 * leader resumes it instead of granting the full TTL again; a keep-alive clears it; with
 * etcd's default 5-minute interval a short test sees no checkpoint at all.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { Store } from '../../src/store.js'
import type { StoreOptions } from '../../src/store.js'

async function withStore(options: StoreOptions, fn: (store: Store) => Promise<void>): Promise<void> {
  const store = await Store.open({ clock: 'manual', seed: 11, members: 3, ...options })
  try {
    await fn(store)
  } finally {
    await store.close()
  }
}

/** Every running member's recorded remaining TTL of lease `id`. */
function recorded(store: Store, id: string): number[] {
  return store.memberNames.map((n) => store.runningMember(n)?.leases.lookup(id)?.remainingTtl ?? -1)
}

/** Crashes the leader and waits for another member to lead. */
async function killLeader(store: Store): Promise<string> {
  const old = store.sim.leader()!
  await store.sim.crash(old)
  assert.ok(await store.sim.until(() => store.sim.leader() !== undefined && store.sim.leader() !== old, 10_000), 'a new leader')
  await store.sim.settle() // until it applied its first entry and promoted its lessor
  return old
}

describe('lease checkpoints', () => {
  test('a new leader resumes the checkpointed remaining TTL, not the full TTL', async () => {
    await withStore({ leaseCheckpointIntervalMs: 2000 }, async (store) => {
      const { id } = await store.lease.grant({ ttl: 60 })
      await store.kv.put({ key: 'held', value: 'x', lease: id })
      await store.sim.advance(20_000)
      const left = (await store.lease.timeToLive({ id })).ttl
      assert.ok(left >= 39 && left <= 40, `the old leader: 40 s left: ${left}`)
      const seen = recorded(store, id)
      for (const r of seen) assert.ok(r >= 40 && r <= 43, `every member recorded a checkpoint of about 40 s: ${seen}`)
      await killLeader(store)
      const t = await store.lease.timeToLive({ id })
      assert.equal(t.grantedTtl, 60)
      assert.ok(t.ttl >= 38 && t.ttl <= 43, `the new leader resumes about 40 s, not 60: ${t.ttl}`)
      await store.sim.advance((t.ttl + 2) * 1000)
      assert.equal((await store.kv.range({ key: 'held' })).count, 0, 'and the lease expires then')
    })
  })

  test('a keep-alive clears the checkpoint on every member, so a new leader gives the full TTL', async () => {
    await withStore({ leaseCheckpointIntervalMs: 2000 }, async (store) => {
      const { id } = await store.lease.grant({ ttl: 60 })
      await store.sim.advance(20_000)
      assert.ok(recorded(store, id).every((r) => r > 0 && r < 60), `checkpointed: ${recorded(store, id)}`)
      assert.equal((await store.lease.keepAliveOnce({ id })).ttl, 60)
      await store.sim.settle()
      assert.deepEqual(recorded(store, id), [0, 0, 0], 'the renew cleared the checkpoint through Raft before answering')
      await killLeader(store)
      const t = await store.lease.timeToLive({ id })
      assert.ok(t.ttl >= 59, `full TTL after the renew: ${t.ttl}`)
    })
  })

  test('with the default 5-minute interval a 60 s lease is never checkpointed (etcd 3.4 behaviour within a short run)', async () => {
    await withStore({}, async (store) => {
      const { id } = await store.lease.grant({ ttl: 60 })
      await store.sim.advance(20_000)
      assert.deepEqual(recorded(store, id), [0, 0, 0])
      await killLeader(store)
      const t = await store.lease.timeToLive({ id })
      assert.ok(t.ttl >= 59, `the new leader grants the full TTL again: ${t.ttl}`)
    })
  })

  test('a long lease is checkpointed every interval, in one entry for many leases', async () => {
    await withStore({ leaseCheckpointIntervalMs: 10_000, members: 1 }, async (store) => {
      const ids: string[] = []
      for (let i = 0; i < 5; i++) ids.push((await store.lease.grant({ ttl: 100 })).id)
      const m = store.runningMember(store.memberNames[0]!)!
      const before = m.applied
      await store.sim.advance(10_600)
      assert.deepEqual(ids.map((id) => m.leases.lookup(id)!.remainingTtl), [90, 90, 90, 90, 90])
      assert.equal(m.applied - before, 1, 'the five checkpoints share one Raft entry')
      await store.sim.advance(10_000)
      assert.deepEqual(ids.map((id) => m.leases.lookup(id)!.remainingTtl), [80, 80, 80, 80, 80])
    })
  })

  test('the interval is validated', async () => {
    await assert.rejects(Store.open({ clock: 'manual', leaseCheckpointIntervalMs: 0 }), /leaseCheckpointIntervalMs/)
  })
})
