// The Raft log is held in memory (and in the member's database) until a snapshot compacts it:
// besides etcd's entry count (snapshotCount, snapshotCatchUpEntries), a member snapshots once
// 32 MiB of log accumulated and keeps at most 16 MiB of it for slow followers, so large
// entries cannot grow the log without bound.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Store } from '../../src/index.js'
import { assertConverged } from '../../src/testing/index.js'

test('large entries: the log is compacted by bytes long before snapshotCount entries', async () => {
  const store = await Store.open({ members: 3, clock: 'manual', seed: 4 })
  try {
    const value = 'v'.repeat(256 * 1024)
    const follower = store.memberNames.find((n) => n !== store.sim.leader())!
    // 200 entries of 256 KiB = 50 MiB: one byte-triggered snapshot, then at most 16 MiB kept
    for (let i = 0; i < 200; i++) await store.kv.put({ key: `k/${i % 10}`, value })
    await store.sim.settle()
    for (const name of store.memberNames) {
      const m = store.runningMember(name)!
      assert.ok(m.applied >= 200, `${name} applied ${m.applied}`)
      const kept = m.applied - m.logFirstIndex + 1
      assert.ok(kept > 0 && kept * value.length <= 50 * 1024 * 1024 - 32 * 1024 * 1024 + 16 * 1024 * 1024, `${name} keeps ${kept} entries`)
      // a count-only policy would keep everything (snapshotCount 10,000); bytes compacted it
      assert.ok(m.logFirstIndex > 50, `${name}'s log starts at ${m.logFirstIndex}: compacted`)
    }
    // a follower that misses more than the kept bytes catches up by snapshot
    await store.sim.crash(follower)
    for (let i = 0; i < 200; i++) await store.kv.put({ key: `j/${i % 10}`, value })
    await store.sim.restart(follower)
    await store.kv.put({ key: 'after', value: '1' })
    assert.ok(await store.sim.until(() => store.runningMember(follower)!.applied >= store.runningMember(store.sim.leader()!)!.applied, 20_000))
    await assertConverged(store)
  } finally {
    await store.close()
  }
})

test('small entries: etcd\'s entry counts decide, as before', async () => {
  const store = await Store.open({ members: 1, clock: 'manual', seed: 4, snapshotCount: 100 })
  try {
    for (let i = 0; i < 150; i++) await store.kv.put({ key: `k/${i}`, value: 'v' })
    const m = store.runningMember('m1')!
    // one snapshot at 100 applied entries, compacted to keep snapshotCatchUpEntries (50) behind it
    assert.ok(m.logFirstIndex > 1, `log starts at ${m.logFirstIndex}`)
    const kept = m.applied - m.logFirstIndex + 1
    assert.ok(kept >= 50 && kept < 150, `${kept} entries kept`)
  } finally {
    await store.close()
  }
})
