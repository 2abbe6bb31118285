/**
 * The Maintenance service through the Store: status fields, hashKV equal on every member,
 * defragment (packing in-memory records; shrinking a classic-level database), moveLeader and its errors, and the
 * NOSPACE quota alarm cycle (raise, capped writes, free space, disarm). Manual clock.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { Store } from '../../src/store.js'
import { EtcdError } from '../../src/errors.js'
import { assertConverged, openManual } from '../store/helpers.js'
import { drive } from '../cluster/membership.test.js'
import { NemesisLevel } from '../../src/testing/index.js'
import { ClassicLevel } from 'classic-level'

async function rejects(p: Promise<unknown>, message: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => err instanceof EtcdError && err.message === message)
}

describe('maintenance', () => {
  test('status reports version, sizes, leader, Raft indexes and learner state per member', async () => {
    const store = await openManual()
    try {
      await store.kv.put({ key: 'a', value: '1' })
      await assertConverged(store)
      const leaderId = store.member(store.sim.leader()!).id
      for (const name of store.memberNames) {
        const s = await store.member(name).maintenance.status()
        assert.equal(s.version, '3.4.23')
        assert.equal(s.header.memberId, store.member(name).id)
        assert.equal(s.leader, leaderId)
        assert.ok(s.dbSize > 0 && s.dbSizeInUse > 0 && s.dbSizeInUse <= s.dbSize)
        assert.ok(s.raftIndex >= s.raftAppliedIndex && s.raftAppliedIndex > 0)
        assert.ok(s.raftTerm >= 2)
        assert.equal(s.isLearner, false)
        assert.deepEqual(s.errors, [])
      }
    } finally {
      await store.close()
    }
  })

  test('hashKV is equal on every member at the same revision, and differs once history differs', async () => {
    const store = await openManual()
    try {
      for (let i = 0; i < 30; i++) await store.kv.put({ key: `k${i % 7}`, value: `v${i}` })
      await store.kv.compact({ revision: 10 })
      await assertConverged(store)
      const at = async (rev: number) => Promise.all(store.memberNames.map((n) => store.member(n).maintenance.hashKV({ revision: rev })))
      const now = await at(0)
      assert.equal(new Set(now.map((h) => h.hash)).size, 1)
      assert.ok(now.every((h) => h.compactRevision === 10 && h.header.revision === 31))
      const old = await at(20)
      assert.equal(new Set(old.map((h) => h.hash)).size, 1)
      assert.notEqual(old[0]!.hash, now[0]!.hash)
      await rejects(store.maintenance.hashKV({ revision: 5 }), 'etcdserver: mvcc: required revision has been compacted')
      await rejects(store.maintenance.hashKV({ revision: 99 }), 'etcdserver: mvcc: required revision is a future revision')
    } finally {
      await store.close()
    }
  })

  test('moveLeader hands leadership over; not leader and bad transferee are refused', async () => {
    const store = await openManual()
    try {
      const leader = store.sim.leader()!
      const target = store.memberNames.find((n) => n !== leader)!
      const follower = store.memberNames.find((n) => n !== leader && n !== target)!
      await rejects(store.member(follower).maintenance.moveLeader({ targetID: store.member(target).id }), 'etcdserver: not leader')
      await rejects(store.member(leader).maintenance.moveLeader({ targetID: '99' }), 'etcdserver: bad leader transferee')
      await drive(store, store.member(leader).maintenance.moveLeader({ targetID: store.member(target).id }))
      assert.equal(store.sim.leader(), target)
      await store.kv.put({ key: 'x', value: 'y' })
    } finally {
      await store.close()
    }
  })

  test('quota: NOSPACE is raised through Raft, writes fail, reads/deletes/compaction work; freed and disarmed, writes work again', async () => {
    const store = await openManual({ quotaBackendBytes: 64 * 1024 })
    try {
      const big = 'x'.repeat(4000)
      let failed: unknown
      for (let i = 0; i < 100 && failed === undefined; i++) {
        await store.kv.put({ key: `big/${i % 5}`, value: big }).catch((err: unknown) => (failed = err))
      }
      assert.ok(failed instanceof EtcdError && failed.message === 'etcdserver: mvcc: database space exceeded', String(failed))
      await assertConverged(store)
      const leaderId = store.member(store.sim.leader()!).id
      for (const name of store.memberNames) {
        const alarms = await store.member(name).maintenance.alarm({ action: 'GET' })
        assert.deepEqual(alarms.alarms, [{ memberID: leaderId, alarm: 'NOSPACE' }], name)
        assert.deepEqual((await store.member(name).maintenance.status()).errors, [`memberID:${leaderId} alarm:NOSPACE `])
      }
      // the capped applier: small puts and txns with puts and lease grants fail too
      await rejects(store.kv.put({ key: 'small', value: '1' }), 'etcdserver: mvcc: database space exceeded')
      await rejects(store.kv.txn({ compare: [], success: [{ requestPut: { key: 's', value: '1' } }], failure: [] }), 'etcdserver: mvcc: database space exceeded')
      await rejects(store.lease.grant({ ttl: 60 }), 'etcdserver: mvcc: database space exceeded')
      // reads, deletes and compaction keep working
      assert.ok((await store.kv.range({ key: 'big/', rangeEnd: 'big0' })).kvs.length > 0)
      const del = await store.kv.deleteRange({ key: 'big/', rangeEnd: 'big0' })
      assert.ok(del.deleted > 0)
      await store.kv.compact({ revision: del.header.revision, physical: true })
      for (const name of store.memberNames) await store.member(name).maintenance.defragment()
      // still capped until disarmed
      await rejects(store.kv.put({ key: 'small', value: '1' }), 'etcdserver: mvcc: database space exceeded')
      const off = await store.maintenance.alarm({ action: 'DEACTIVATE', memberID: leaderId, alarm: 'NOSPACE' })
      assert.deepEqual(off.alarms, [{ memberID: leaderId, alarm: 'NOSPACE' }])
      assert.deepEqual((await store.maintenance.alarm()).alarms, [])
      await store.kv.put({ key: 'small', value: '1' })
      await assertConverged(store)
    } finally {
      await store.close()
    }
  })

  test('quota: writes are refused exactly when the database would exceed it, however many writes it took', async () => {
    // a quota large enough that most writes pass on the size estimate, without measuring
    const quota = 1024 * 1024
    const store = await openManual({ quotaBackendBytes: quota })
    try {
      const value = 'v'.repeat(1000)
      let i = 0
      let failed: unknown
      for (; i < 5000 && failed === undefined; i++) await store.kv.put({ key: `k/${i}`, value }).catch((err: unknown) => (failed = err))
      assert.ok(failed instanceof EtcdError && failed.message === 'etcdserver: mvcc: database space exceeded', String(failed))
      const leader = store.sim.leader()!
      const { dbSize } = await store.member(leader).maintenance.status()
      // refused only once the measured size plus the request passes the quota, never long before
      assert.ok(dbSize > quota - 4 * 1024 && dbSize <= quota + 4 * 1024, `refused at dbSize ${dbSize} after ${i} writes (quota ${quota})`)
    } finally {
      await store.close()
    }
  })

  test('alarm ACTIVATE/DEACTIVATE of CORRUPT is replicated and blocks writes', async () => {
    const store = await openManual()
    try {
      const id = store.member('m2').id
      const on = await store.maintenance.alarm({ action: 'ACTIVATE', memberID: id, alarm: 'CORRUPT' })
      assert.deepEqual(on.alarms, [{ memberID: id, alarm: 'CORRUPT' }])
      await rejects(store.kv.put({ key: 'a', value: '1' }), 'etcdserver: corrupt cluster')
      assert.deepEqual((await store.member('m3').maintenance.alarm({ action: 'GET', alarm: 'CORRUPT' })).alarms, [{ memberID: id, alarm: 'CORRUPT' }])
      assert.deepEqual((await store.maintenance.alarm({ action: 'GET', alarm: 'NOSPACE' })).alarms, [])
      await store.maintenance.alarm({ action: 'DEACTIVATE', memberID: id, alarm: 'CORRUPT' })
      await store.kv.put({ key: 'a', value: '1' })
      assert.deepEqual((await store.maintenance.alarm({ action: 'DEACTIVATE', memberID: id, alarm: 'CORRUPT' })).alarms, [])
    } finally {
      await store.close()
    }
  })

  test('defragment on in-memory members after compaction: the same data, revision and hash on each, writes go on', async () => {
    const store = await openManual()
    try {
      const value = 'v'.repeat(100)
      for (let i = 0; i < 20; i++) {
        await store.kv.put({ key: `cold/${i}`, value })
        for (let j = 0; j < 10; j++) await store.kv.put({ key: 'hot', value: `${value}${i}.${j}` })
      }
      const rev = (await store.kv.deleteRange({ key: 'cold/0' })).header.revision
      await store.kv.compact({ revision: rev, physical: true })
      await assertConverged(store)
      const read = async (name: string): Promise<string[]> =>
        (await store.member(name).kv.range({ key: '\0', rangeEnd: '\0', serializable: true })).kvs.map(
          (kv) => `${new TextDecoder().decode(kv.key)}@${kv.createRevision}/${kv.modRevision}/${kv.version}:${kv.value.length}`,
        )
      const before = new Map<string, { kvs: string[]; hash: number }>()
      for (const name of store.memberNames) {
        before.set(name, { kvs: await read(name), hash: (await store.member(name).maintenance.hashKV({ revision: 0 })).hash })
      }
      for (const name of store.memberNames) await store.member(name).maintenance.defragment()
      for (const name of store.memberNames) {
        assert.deepEqual(await read(name), before.get(name)!.kvs, name)
        assert.equal((await store.member(name).maintenance.hashKV({ revision: 0 })).hash, before.get(name)!.hash, name)
        assert.equal((await store.member(name).maintenance.status()).header.revision, rev, name)
      }
      assert.equal(before.get(store.memberNames[0]!)!.kvs.length, 20, '19 cold keys and the hot one')
      const put = await store.kv.put({ key: 'hot', value: 'after', prevKv: true })
      assert.equal(new TextDecoder().decode(put.prevKv!.value), `${value}19.9`)
      await assertConverged(store)
    } finally {
      await store.close()
    }
  })

  test('a defragment whose database write fails stops its member (etcdserver: server stopped); the others serve on', async () => {
    const dbs = new Map<string, NemesisLevel>()
    const store = await openManual({
      backend: (name) => {
        const db = new NemesisLevel()
        dbs.set(name, db)
        return db
      },
    })
    try {
      for (let i = 0; i < 50; i++) await store.kv.put({ key: `k${i}`, value: 'v'.repeat(100) })
      await assertConverged(store)
      const victim = store.memberNames.find((n) => n !== store.sim.leader())!
      dbs.get(victim)!.inject('fail')
      await rejects(store.member(victim).maintenance.defragment(), 'etcdserver: server stopped')
      assert.equal(dbs.get(victim)!.fired.fail, 1, 'the injected failure fired in the defragment')
      assert.equal(store.runningMember(victim), undefined, 'the member stopped')
      await store.kv.put({ key: 'after', value: '1' })
      assert.equal((await store.kv.range({ key: 'k', rangeEnd: 'l' })).count, 50)
    } finally {
      await store.close()
    }
  })

  test('a classic-level compaction that fails in a defragment stops its member; the others serve on', async () => {
    /** classic-level whose next compactRange fails once armed, as a disk error would. */
    class FailingCompaction extends ClassicLevel<Uint8Array, Uint8Array> {
      armed = false
      fired = 0
      override async compactRange<K = Uint8Array>(start: K, end: K, options?: object): Promise<void> {
        if (this.armed) {
          this.armed = false
          this.fired++
          throw new Error('injected: compaction failed')
        }
        return super.compactRange(start, end, options ?? {})
      }
    }
    const dir = mkdtempSync(join(tmpdir(), 'pocket-etcd-defrag-fail-'))
    const dbs = new Map<string, FailingCompaction>()
    const store = await openManual({
      backend: (name) => {
        const db = new FailingCompaction(join(dir, name), { keyEncoding: 'view', valueEncoding: 'view' })
        dbs.set(name, db)
        return db
      },
    })
    try {
      for (let i = 0; i < 30; i++) await store.kv.put({ key: `k${i}`, value: 'v'.repeat(100) })
      await assertConverged(store)
      const [healthy, victim] = store.memberNames.filter((n) => n !== store.sim.leader())
      // the unarmed path compacts and keeps the member running
      await store.member(healthy!).maintenance.defragment()
      assert.ok(store.runningMember(healthy!) !== undefined)
      dbs.get(victim!)!.armed = true
      await rejects(store.member(victim!).maintenance.defragment(), 'etcdserver: server stopped')
      assert.equal(dbs.get(victim!)!.fired, 1, 'the injected failure fired in the defragment')
      assert.equal(store.runningMember(victim!), undefined, 'the member stopped')
      await store.kv.put({ key: 'after', value: '1' })
      assert.equal((await store.kv.range({ key: 'k', rangeEnd: 'l' })).count, 30)
    } finally {
      await store.close()
      rmSync(dir, { recursive: true, force: true })
    }
  })

  test('defragment shrinks a classic-level database after deletes and compaction', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pocket-etcd-defrag-'))
    const store = await Store.open({ clock: 'manual', seed: 2, members: 1, dataDir: dir, snapshotCount: 100 })
    try {
      const value = 'v'.repeat(8192)
      for (let i = 0; i < 1500; i++) await store.kv.put({ key: `k${i}`, value })
      const del = await store.kv.deleteRange({ key: 'k', rangeEnd: 'l' })
      await store.kv.compact({ revision: del.header.revision, physical: true })
      const before = await store.maintenance.status()
      await store.maintenance.defragment()
      const after = await store.maintenance.status()
      assert.ok(after.dbSize < before.dbSize / 2, `dbSize ${before.dbSize} -> ${after.dbSize}`)
      assert.ok(after.dbSizeInUse < 1_000_000, `in use ${after.dbSizeInUse}`)
    } finally {
      await store.close()
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
