/**
 * Remaining lease TTLs survive a close and reopen of the same classic-level dataDir (etcd's
 * lease checkpoints, persisted as etcd 3.6 does): a graceful close checkpoints every lease,
 * so the reopened cluster resumes exactly what was left, while a lease kept alive just
 * before the close resumes its full TTL. After a crash of every member (no close-time
 * checkpoint) a lease resumes from its last periodic checkpoint: at most one interval lost.
 * (test/durability/reopen.test.ts and test/lease/lease-service.test.ts reopen 3 members.)
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Store } from '../../src/store.js'
import type { StoreOptions } from '../../src/store.js'

let root: string
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'pocket-etcd-lease-checkpoint-'))
})
after(async () => {
  await rm(root, { recursive: true, force: true })
})

const open = (dataDir: string, options: StoreOptions = {}): Promise<Store> => Store.open({ members: 3, clock: 'manual', seed: 5, dataDir, ...options })

/** Counts `key` once the cluster is quiet (a slow disk under a loaded machine can outlast `advance`'s own settling). */
const count = async (store: Store, key: string): Promise<number> => {
  await store.sim.settle()
  return (await store.kv.range({ key })).count
}

describe('reopen restores remaining lease TTLs', () => {
  it('a closed store resumes each lease where it was; a just-renewed one has its full TTL', async () => {
    const dir = join(root, 'close')
    // one member: no election can move leases' expiries while the clock runs (a new leader resumes from the last checkpoint again)
    const first = await open(dir, { members: 1 })
    let used: string
    let renewed: string
    try {
      used = (await first.lease.grant({ ttl: 100 })).id
      renewed = (await first.lease.grant({ ttl: 100 })).id
      await first.kv.put({ key: 'used', value: 'a', lease: used })
      await first.kv.put({ key: 'renewed', value: 'b', lease: renewed })
      await first.sim.advance(30_000)
      assert.equal((await first.lease.keepAliveOnce({ id: renewed })).ttl, 100)
      assert.equal((await first.lease.timeToLive({ id: used })).ttl, 70)
    } finally {
      await first.close()
    }
    const again = await open(dir, { members: 1 })
    try {
      await again.sim.settle() // the new leader's lessor is promoted once it applied its first entry; before that TimeToLive reports "forever"
      const u = await again.lease.timeToLive({ id: used, keys: true })
      assert.equal(u.grantedTtl, 100)
      assert.ok(u.ttl >= 69 && u.ttl <= 70, `the remaining 70 s resume, not 100: ${u.ttl}`)
      const r = await again.lease.timeToLive({ id: renewed })
      assert.ok(r.ttl >= 99 && r.ttl <= 100, `the lease renewed before the close has its full TTL: ${r.ttl}`)
      await again.sim.advance((u.ttl - 2) * 1000)
      assert.equal(await count(again, 'used'), 1, 'still there just before its remaining TTL runs out')
      await again.sim.advance(4000)
      assert.equal(await count(again, 'used'), 0, 'expired about 70 s after the reopen and deleted its key')
      assert.equal(await count(again, 'renewed'), 1)
      await again.sim.advance(30_000)
      assert.equal(await count(again, 'renewed'), 0, 'the renewed lease expired about 100 s after the reopen')
    } finally {
      await again.close()
    }
  })

  it('after a crash of every member a lease resumes from its last periodic checkpoint', async () => {
    const dir = join(root, 'crash')
    const options: StoreOptions = { leaseCheckpointIntervalMs: 10_000 }
    const first = await open(dir, options)
    let id: string
    try {
      id = (await first.lease.grant({ ttl: 100 })).id
      await first.sim.advance(35_000) // checkpoints at about 10, 20 and 30 s: 70 s recorded, 65 s really left
      for (const name of first.memberNames) await first.sim.crash(name)
    } finally {
      await first.close() // nothing runs any more: no close-time checkpoint
    }
    const again = await open(dir, options)
    try {
      await again.sim.settle()
      const t = await again.lease.timeToLive({ id })
      assert.ok(t.ttl >= 65 && t.ttl <= 71, `the last checkpoint (about 70 s) resumes, at most one interval more than was left: ${t.ttl}`)
    } finally {
      await again.close()
    }
  })
})
