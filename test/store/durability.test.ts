/**
 * Durability on disk: members kept in classic-level directories (`Store.open({ dataDir })`)
 * survive a crash and restart of one member, and the whole Store survives close and reopen,
 * with every acknowledged write, the same revision and the same member identities. Entries
 * are applied exactly once across restarts (a key's version counts its puts).
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Store } from '../../src/store.js'
import type { StoreOptions } from '../../src/store.js'
import { InvalidArgumentError } from '../../src/errors.js'
import { assertConverged, drive, dumpMember, hashes, putWithRetry, text } from './helpers.js'

let root: string
let n = 0
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'pocket-etcd-durability-'))
})
after(async () => {
  await rm(root, { recursive: true, force: true })
})

function freshDir(): string {
  return join(root, `store-${++n}`)
}

function open(dataDir: string, extra: StoreOptions = {}): Promise<Store> {
  return Store.open({ members: 3, clock: 'manual', seed: 4, requestTimeoutMs: 1_000, dataDir, ...extra })
}

describe('durability (classic-level)', () => {
  it('a crashed member recovers everything it acknowledged, then catches up', async () => {
    const store = await open(freshDir())
    try {
      const acked = new Map<string, number>()
      for (let i = 0; i < 20; i++) {
        const p = await store.member('m1').kv.put({ key: `k/${i}`, value: `v${i}` })
        acked.set(`k/${i}`, p.header.revision)
      }
      await store.sim.crash('m1')
      assert.equal(store.runningMember('m1'), undefined)
      // keep writing through the others while m1 is down
      for (let i = 20; i < 40; i++) {
        // the first ones may time out until the others notice m1 is gone: retry like a client
        const p = await putWithRetry(store, `k/${i}`, `v${i}`)
        acked.set(`k/${i}`, p.header.revision)
      }
      // restart m1 cut off from the others: what it serves is what it had persisted
      store.sim.isolate('m1')
      await store.sim.restart('m1')
      const local = new Map((await dumpMember(store, 'm1')).kvs.map((kv) => [kv.key, kv]))
      for (let i = 0; i < 20; i++) assert.equal(local.get(`k/${i}`)?.value, `v${i}`, `m1 lost k/${i} it acknowledged`)
      store.sim.heal()
      await assertConverged(store, 'after m1 restarted')
      const all = new Map((await dumpMember(store, 'm1')).kvs.map((kv) => [kv.key, kv]))
      for (const [k, rev] of acked) assert.equal(all.get(k)?.modRevision, rev, `m1 has ${k} at its acknowledged revision`)
    } finally {
      await store.close()
    }
  })

  it('restarts neither repeat nor skip entries: a key put N times has version N on every member', async () => {
    const store = await open(freshDir())
    try {
      let puts = 0
      for (let round = 0; round < 6; round++) {
        const leader = store.sim.leader()!
        const victim = store.memberNames.find((m) => m !== leader)!
        // crash a follower while it is applying a burst of committed entries
        const burst = Array.from({ length: 8 }, () => store.member(leader).kv.put({ key: 'counter', value: String(++puts) }))
        await Promise.resolve()
        await store.sim.crash(victim)
        for (const r of await Promise.allSettled(burst)) assert.equal(r.status, 'fulfilled', `a write through the leader failed: ${r.status === 'rejected' ? String(r.reason) : ''}`)
        await store.sim.restart(victim)
        await assertConverged(store, `round ${round}`)
      }
      for (const name of store.memberNames) {
        const r = await store.member(name).kv.range({ key: 'counter', serializable: true })
        assert.equal(r.kvs[0]!.version, puts, `version of counter on ${name}`)
        assert.equal(text(r.kvs[0]!.value), String(puts))
        assert.equal(r.header.revision, 1 + puts, `revision on ${name}`)
      }
    } finally {
      await store.close()
    }
  })

  it('txn increments survive leader crashes exactly once', async () => {
    const store = await open(freshDir())
    try {
      let acked = 0
      const increment = async (via: string): Promise<boolean> => {
        const cur = await store.member(via).kv.range({ key: 'ctr' })
        const kv = cur.kvs[0]
        const value = kv ? Number(text(kv.value)) : 0
        const t = await store.member(via).kv.txn({
          compare: [{ key: 'ctr', target: 'MOD', result: 'EQUAL', modRevision: kv?.modRevision ?? 0 }],
          success: [{ requestPut: { key: 'ctr', value: String(value + 1) } }],
        })
        return t.succeeded
      }
      for (let round = 0; round < 4; round++) {
        const leader = store.sim.leader()!
        for (let i = 0; i < 5; i++) if (await increment(leader)) acked++
        await store.sim.crash(leader)
        const elected = await store.sim.until(() => {
          const l = store.sim.leader()
          return l !== undefined && l !== leader
        }, 10_000)
        assert.ok(elected, 'a new leader after the crash')
        await store.sim.restart(leader)
        await assertConverged(store, `round ${round}`)
      }
      for (const name of store.memberNames) {
        const r = await store.member(name).kv.range({ key: 'ctr', serializable: true })
        assert.equal(text(r.kvs[0]!.value), String(acked), `counter on ${name}`)
        assert.equal(r.kvs[0]!.version, acked)
      }
    } finally {
      await store.close()
    }
  })

  it('close and reopen from the same dataDir: same data, revision, compaction and members', async () => {
    const dir = freshDir()
    const first = await open(dir, { snapshotCount: 15 })
    let before: Awaited<ReturnType<typeof dumpMember>>
    let beforeHashes: Awaited<ReturnType<typeof hashes>>
    let ids: string[]
    let clusterId: string
    try {
      for (let i = 0; i < 40; i++) await first.kv.put({ key: `k/${i % 10}`, value: `v${i}` })
      await first.kv.deleteRange({ key: 'k/9' })
      await first.kv.compact({ revision: 20 })
      await assertConverged(first)
      before = await dumpMember(first, 'm1')
      beforeHashes = await hashes(first)
      ids = first.memberNames.map((m) => first.member(m).id)
      clusterId = first.clusterId
    } finally {
      await first.close()
    }
    // reopened with another seed: identity comes from the data directory, not the seed
    for (const seed of [4, 77]) {
      const again = await open(dir, { snapshotCount: 15, seed })
      try {
        assert.equal(again.clusterId, clusterId, `clusterId after reopen (seed ${seed})`)
        assert.deepEqual(again.memberNames.map((m) => again.member(m).id), ids, `member ids after reopen (seed ${seed})`)
        for (const name of again.memberNames) assert.deepEqual(await dumpMember(again, name), before, `data on ${name} after reopen`)
        assert.deepEqual(await hashes(again), beforeHashes)
        const r = await drive(again, again.kv.range({ key: 'k/0', revision: 10 }))
        assert.equal(r.ok, false, 'compaction survives reopen')
        const p = await drive(again, again.kv.put({ key: 'after', value: String(seed) }))
        assert.ok(p.ok === true, 'writes after reopen')
        assert.equal(p.value.header.revision, before.revision + 1)
        assert.equal(p.value.header.clusterId, clusterId)
        await assertConverged(again, `after reopen (seed ${seed})`)
        before = await dumpMember(again, 'm1')
        beforeHashes = await hashes(again)
      } finally {
        await again.close()
      }
    }
  })

  it('reopening with a different member count is refused', async () => {
    const dir = freshDir()
    const first = await open(dir)
    await first.kv.put({ key: 'a', value: 'b' })
    await first.close()
    await assert.rejects(Store.open({ members: 5, clock: 'manual', dataDir: dir }), InvalidArgumentError)
    const again = await open(dir)
    try {
      const r = await drive(again, again.kv.range({ key: 'a' }))
      assert.ok(r.ok === true && text(r.value.kvs[0]!.value) === 'b', 'the refused open changed nothing')
    } finally {
      await again.close()
    }
  })
})
