/**
 * Snapshots (etcd's Maintenance.Snapshot) and restore (etcdctl snapshot restore): an image
 * is one member's consistent state at one applied index; a restore starts a NEW cluster from
 * it with the same data, revision, compaction and leases, new ids and a fresh Raft log.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Store } from '../../src/store.js'
import { snapshotStatus } from '../../src/snapshot/snapshot.js'
import { assertConverged, dumpMember, hashes, openManual, rejectsWith, text } from '../store/helpers.js'

let root: string
let n = 0
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'pocket-etcd-snapshot-'))
})
after(async () => {
  await rm(root, { recursive: true, force: true })
})

/** A store with history: puts, overwrites, a delete, a compaction, leases with keys. */
async function populated(): Promise<{ store: Store; leaseA: string; leaseB: string }> {
  const store = await openManual({ seed: 11 })
  for (let i = 0; i < 30; i++) await store.kv.put({ key: `k/${i % 12}`, value: `v${i}` })
  await store.kv.deleteRange({ key: 'k/11' })
  await store.kv.compact({ revision: 15 })
  const a = await store.lease.grant({ ttl: 60 })
  const b = await store.lease.grant({ ttl: 120 })
  await store.kv.put({ key: 'leased/a1', value: 'x', lease: a.id })
  await store.kv.put({ key: 'leased/a2', value: 'y', lease: a.id })
  await store.kv.put({ key: 'leased/b', value: 'z', lease: b.id })
  await assertConverged(store)
  return { store, leaseA: a.id, leaseB: b.id }
}

describe('snapshot and restore', () => {
  it('round trip: the restored cluster has the same hashKV at the revision, the same ranges and the leases, under new ids', async () => {
    const { store, leaseA, leaseB } = await populated()
    let restored: Store | undefined
    try {
      const image = await store.maintenance.snapshot().bytes()
      const status = await snapshotStatus(image)
      const rev = status.header.revision
      assert.equal(rev, (await store.kv.range({ key: 'k/0' })).header.revision)
      assert.equal(status.header.compactRevision, 15)
      assert.equal(status.header.clusterId, store.clusterId)
      const original = await hashes(store)
      const before = await dumpMember(store, 'm1')

      restored = await Store.restore(image, { clock: 'manual', seed: 11 })
      assert.notEqual(restored.clusterId, store.clusterId, 'a restore is a new cluster')
      for (const name of restored.memberNames) {
        assert.ok(!store.memberNames.some((o) => store.member(o).id === restored!.member(name).id), `member ${name} has a new id`)
      }
      await assertConverged(restored)
      const after = await hashes(restored)
      for (const name of restored.memberNames) {
        assert.deepEqual(after[name], original.m1, `hashKV of restored ${name} equals the original's at revision ${rev}`)
        assert.deepEqual(await dumpMember(restored, name), before, `range over everything on restored ${name}`)
      }
      // compaction is kept: history below 15 is gone, history from 15 on is readable
      await rejectsWith(restored.kv.range({ key: 'k/0', revision: 10 }), ['ErrCompacted'])
      const at15 = await restored.kv.range({ key: 'k/', rangeEnd: 'k0', revision: 15 })
      assert.deepEqual(at15.kvs.map((kv) => text(kv.value)), (await store.kv.range({ key: 'k/', rangeEnd: 'k0', revision: 15 })).kvs.map((kv) => text(kv.value)))
      // leases: present, same granted TTL, same keys attached
      const leases = (await restored.lease.leases()).leases.map((l) => l.id).sort()
      assert.deepEqual(leases, [leaseA, leaseB].sort())
      const ttlA = await restored.lease.timeToLive({ id: leaseA, keys: true })
      assert.equal(ttlA.grantedTtl, 60)
      assert.deepEqual(ttlA.keys.map(text), ['leased/a1', 'leased/a2'])
      // a revoke in the new cluster deletes the attached keys: the attachment was restored, not just the key
      await restored.lease.revoke({ id: leaseA })
      assert.equal((await restored.kv.range({ key: 'leased/', rangeEnd: 'leased0' })).count, 1)
      // the new cluster serves writes, continuing the revision
      const put = await restored.kv.put({ key: 'after', value: 'restore' })
      assert.equal(put.header.revision, rev + 2, 'revoke took rev+1, this put rev+2')
      await assertConverged(restored, 'after writes on the restored cluster')
    } finally {
      await restored?.close()
      await store.close()
    }
  })

  it('the image is taken at one applied index: writes after it starts are not in it', async () => {
    const { store } = await populated()
    let restored: Store | undefined
    try {
      const stream = store.member('m2').maintenance.snapshot()
      const it = stream[Symbol.asyncIterator]()
      const chunks: Uint8Array[] = []
      const first = await it.next() // the image is pinned when iteration starts
      assert.equal(first.done, false)
      chunks.push(first.value as Uint8Array)
      const late = await store.kv.put({ key: 'late', value: 'not in the image' })
      for (let r = await it.next(); !r.done; r = await it.next()) chunks.push(r.value)
      const status = await snapshotStatus(chunks)
      assert.equal(status.header.memberName, 'm2')
      assert.equal(status.header.revision, late.header.revision - 1)
      restored = await Store.restore(chunks, { clock: 'manual', seed: 3, members: 1 })
      assert.equal((await restored.kv.range({ key: 'late' })).count, 0)
      assert.equal((await restored.kv.range({ key: 'k/0' })).header.revision, late.header.revision - 1)
    } finally {
      await restored?.close()
      await store.close()
    }
  })

  it('restore into a dataDir: the cluster survives close and reopen; a non-empty dataDir is refused and left as it was', async () => {
    const { store } = await populated()
    const dir = join(root, `restore-${++n}`)
    try {
      const image = await store.maintenance.snapshot().bytes()
      const want = await dumpMember(store, 'm1')
      const wantHash = (await hashes(store)).m1
      const restored = await Store.restore(image, { clock: 'manual', seed: 5, dataDir: dir })
      const id = restored.clusterId
      await restored.kv.put({ key: 'post', value: 'restore' })
      await restored.close()
      const reopened = await Store.open({ clock: 'manual', seed: 99, dataDir: dir })
      try {
        assert.equal(reopened.clusterId, id)
        await assertConverged(reopened)
        const got = await dumpMember(reopened, 'm1')
        assert.deepEqual(got.kvs.filter((kv) => kv.key !== 'post'), want.kvs)
        assert.equal(got.revision, want.revision + 1)
        assert.deepEqual((await reopened.runningMember('m1')!.store.hashKV(want.revision)).hash, wantHash!.hash)
      } finally {
        await reopened.close()
      }
      const listing = await readdir(dir)
      const err = await rejectsWith(Store.restore(image, { clock: 'manual', dataDir: dir }), ['ErrDataDirNotEmpty'], 'restore into a used dataDir')
      assert.match(err.message, /^data-dir ".*m1" not empty or could not be read$/)
      assert.deepEqual(await readdir(dir), listing, 'the refused restore changed nothing')
      const again = await Store.open({ clock: 'manual', dataDir: dir })
      assert.equal(again.clusterId, id, 'the existing cluster is intact')
      await again.close()
    } finally {
      await store.close()
    }
  })

  it('membership is reset to the new members', async (t) => {
    const { store } = await populated()
    const cluster = (store as unknown as { cluster?: { memberList(r: object): Promise<{ members: { id: string }[] }> } }).cluster
    if (cluster === undefined) {
      t.skip('store.cluster is not there yet: membership is checked once it lands')
      await store.close()
      return
    }
    let restored: Store | undefined
    try {
      restored = await Store.restore(await store.maintenance.snapshot().bytes(), { clock: 'manual', seed: 8, members: 5 })
      const list = await (restored as unknown as { cluster: typeof cluster }).cluster.memberList({})
      assert.deepEqual(list.members.map((m) => m.id).sort(), restored.memberNames.map((m) => restored!.member(m).id).sort())
    } finally {
      await restored?.close()
      await store.close()
    }
  })

  it('a snapshot of a stopped member or a closed store fails with etcd\'s errors', async () => {
    const store = await openManual({ seed: 2 })
    try {
      await store.sim.crash('m3')
      await rejectsWith(store.member('m3').maintenance.snapshot().bytes(), ['ErrStopped'])
      assert.throws(() => store.member('m9'), /no member named "m9"/)
    } finally {
      await store.close()
    }
    await rejectsWith(store.maintenance.snapshot().bytes(), ['ErrStoreClosed'])
  })
})
