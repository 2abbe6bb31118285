/**
 * Faults, one at a time, on a manual clock with a fixed seed: an isolated leader, a member
 * cut off from quorum, crashed followers and leaders, and a follower so far behind that only
 * a snapshot (MsgSnap) can bring it up to date. Each test asserts only what etcd guarantees:
 * an acknowledged write survives on every member; a member without a quorum acknowledges no
 * write and serves no linearizable read; a timed-out write may or may not have been applied.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { Store } from '../../src/store.js'
import { MemoryLevel } from 'memory-level'
import { assertConverged, drive, dumpMember, openManual, rejectsWith, text } from './helpers.js'

/** What a member without a quorum answers a write or linearizable read with, as etcd does. */
const UNAVAILABLE = ['ErrTimeout', 'ErrTimeoutDueToLeaderFail', 'ErrNoLeader', 'ErrLeaderChanged']
const OPTS = { requestTimeoutMs: 1_000 } as const

async function newLeaderAmong(store: Store, names: string[], notName: string): Promise<string> {
  let found: string | undefined
  const ok = await store.sim.until(() => {
    for (const n of names) {
      const m = store.runningMember(n)
      if (m && m.leaderId === m.id && n !== notName) found = n
    }
    // every member of the group follows the new leader
    return found !== undefined && names.every((n) => store.runningMember(n)?.leaderId === store.runningMember(found!)!.id)
  }, 10_000)
  assert.ok(ok && found, `no new leader among ${names.join(',')}`)
  return found
}

/** Puts `count` keys `prefix/i` through member `via`; returns the acknowledged ones with their revision. */
async function writeMany(store: Store, via: string, prefix: string, count: number): Promise<Map<string, number>> {
  const acked = new Map<string, number>()
  for (let i = 0; i < count; i++) {
    const key = `${prefix}/${i}`
    const p = await store.member(via).kv.put({ key, value: key })
    acked.set(key, p.header.revision)
  }
  return acked
}

async function assertAllPresent(store: Store, acked: Map<string, number>, context: string): Promise<void> {
  for (const name of store.memberNames) {
    const kvs = new Map((await dumpMember(store, name)).kvs.map((kv) => [kv.key, kv]))
    for (const [key] of acked) assert.equal(kvs.get(key)?.value, key, `acknowledged ${key} missing on ${name} (${context})`)
  }
}

describe('faults', () => {
  it('an isolated leader acknowledges nothing; the majority elects a new leader and serves; after heal the old leader catches up', async () => {
    const store = await openManual({ members: 5, seed: 11, ...OPTS })
    try {
      const acked = await writeMany(store, store.sim.leader()!, 'before', 5)
      const old = store.sim.leader()!
      const oldTerm = store.runningMember(old)!.raftTerm
      store.sim.isolate(old)

      // a write to the isolated leader: proposed in its log but never committed
      const lost = drive(store, store.member(old).kv.put({ key: 'minority', value: 'x' }))
      const majority = store.memberNames.filter((n) => n !== old)
      const leader = await newLeaderAmong(store, majority, old)
      assert.ok(store.runningMember(leader)!.raftTerm > oldTerm, 'the new leader has a higher term')
      const outcome = await lost
      assert.equal(outcome.ok, false, 'the minority leader must not acknowledge a write')
      if (outcome.ok === false) {
        assert.ok(UNAVAILABLE.includes((outcome.error as { code?: string }).code ?? ''), `minority write failed with ${String(outcome.error)}`)
      }
      // the old leader has stepped down (check quorum) and refuses writes and linearizable reads
      assert.notEqual(store.runningMember(old)!.leaderId, store.runningMember(old)!.id)
      const w2 = await drive(store, store.member(old).kv.put({ key: 'minority2', value: 'x' }))
      assert.equal(w2.ok, false)
      const r2 = await drive(store, store.member(old).kv.range({ key: 'before/0' }))
      assert.equal(r2.ok, false, 'a linearizable read on a member without quorum fails')
      // serializable reads are served from its local state
      const local = await store.member(old).kv.range({ key: 'before/0', serializable: true })
      assert.equal(text(local.kvs[0]!.value), 'before/0')
      // the unacknowledged write never reached the majority
      for (const n of majority) assert.equal((await dumpMember(store, n)).kvs.some((kv) => kv.key.startsWith('minority')), false)

      for (const [k, v] of await writeMany(store, leader, 'during', 10)) acked.set(k, v)
      for (const [k, v] of await writeMany(store, majority.find((n) => n !== leader)!, 'via-follower', 5)) acked.set(k, v)

      store.sim.heal()
      await assertConverged(store, 'after heal')
      await assertAllPresent(store, acked, 'after heal')
      // the old leader serves again, linearizably
      const r3 = await drive(store, store.member(old).kv.range({ key: 'during/9' }))
      assert.equal(r3.ok, true)
    } finally {
      await store.close()
    }
  })

  it('a member cut off from quorum fails linearizable reads with a timeout but serves serializable ones', async () => {
    const store = await openManual({ members: 3, seed: 5, ...OPTS })
    try {
      await store.kv.put({ key: 'k', value: 'v1' })
      await assertConverged(store)
      const leader = store.sim.leader()!
      const follower = store.memberNames.find((n) => n !== leader)!
      store.sim.isolate(follower)
      await store.kv.put({ key: 'k', value: 'v2' })
      const read = await drive(store, store.member(follower).kv.range({ key: 'k' }))
      assert.equal(read.ok, false, 'linearizable read without quorum must fail')
      if (read.ok === false) assert.ok(UNAVAILABLE.includes((read.error as { code?: string }).code ?? ''), String(read.error))
      const ser = await store.member(follower).kv.range({ key: 'k', serializable: true })
      assert.equal(text(ser.kvs[0]!.value), 'v1', 'served locally, stale')
      // a read-only txn follows the same rules
      const txn = await drive(store, store.member(follower).kv.txn({ success: [{ requestRange: { key: 'k' } }] }))
      assert.equal(txn.ok, false)
      const sertxn = await store.member(follower).kv.txn({ success: [{ requestRange: { key: 'k', serializable: true } }] })
      assert.ok('responseRange' in sertxn.responses[0]!)
      store.sim.heal()
      await assertConverged(store, 'after heal')
      const healed = await drive(store, store.member(follower).kv.range({ key: 'k' }))
      assert.ok(healed.ok === true && text(healed.value.kvs[0]!.value) === 'v2')
    } finally {
      await store.close()
    }
  })

  it('a crashed follower restarts and catches up', async () => {
    const store = await openManual({ members: 3, seed: 3, ...OPTS })
    try {
      const leader = store.sim.leader()!
      const follower = store.memberNames.find((n) => n !== leader)!
      const acked = await writeMany(store, leader, 'a', 10)
      await store.sim.crash(follower)
      for (const [k, v] of await writeMany(store, leader, 'b', 30)) acked.set(k, v)
      await store.sim.restart(follower)
      for (const [k, v] of await writeMany(store, leader, 'c', 5)) acked.set(k, v)
      await assertConverged(store, 'after restart')
      await assertAllPresent(store, acked, 'after restart')
    } finally {
      await store.close()
    }
  })

  it('restarts and crashes that overlap a member start (concurrent restarts, a member still being added) run one member', async () => {
    const store = await openManual({ members: 3, seed: 3, ...OPTS })
    try {
      await store.sim.crash('m2')
      // two restarts at once: the second is the first's start, not a second member on the same endpoint
      await Promise.all([store.sim.restart('m2'), store.sim.restart('m2')])
      // restart and crash the member memberAdd is still adding: they wait for it to run
      const adding = store.cluster.memberAdd({ peerURLs: ['http://10.0.0.4:2380'], isLearner: true })
      // m4 is listed as soon as its storage exists, before its conf change commits (no clock moves here)
      for (let turn = 0; turn < 1000 && !store.memberNames.includes('m4'); turn++) await new Promise((resolve) => setImmediate(resolve))
      const restarted = store.sim.restart('m4')
      assert.equal(store.runningMember('m4'), undefined, 'the restart came while m4 was still being added')
      const crashed = store.sim.crash('m4')
      await drive(store, adding)
      await restarted
      await crashed
      assert.equal(store.runningMember('m4'), undefined, 'the crash waited for the start, then stopped it')
      await store.sim.restart('m4')
      assert.notEqual(store.runningMember('m4'), undefined)
      await drive(store, store.kv.put({ key: 'after', value: '1' }))
      assert.ok(await store.sim.until(() => store.runningMember('m4')!.applied >= store.runningMember(store.sim.leader()!)!.applied, 10_000))
    } finally {
      await store.close()
    }
  })

  it('a crashed leader is replaced and no acknowledged write is lost', async () => {
    const store = await openManual({ members: 5, seed: 8, ...OPTS })
    try {
      const old = store.sim.leader()!
      const acked = await writeMany(store, old, 'a', 20)
      await store.sim.crash(old)
      const rest = store.memberNames.filter((n) => n !== old)
      const leader = await newLeaderAmong(store, rest, old)
      for (const [k, v] of await writeMany(store, leader, 'b', 10)) acked.set(k, v)
      // the root endpoint follows the new leader
      const p = await store.kv.put({ key: 'root', value: 'root' })
      assert.equal(p.header.memberId, store.member(leader).id)
      acked.set('root', p.header.revision)
      await store.sim.restart(old)
      await assertConverged(store, 'after the old leader restarted')
      await assertAllPresent(store, acked, 'after the old leader restarted')
      // revisions of acknowledged writes are what every member reports as their modRevision
      const all = new Map((await dumpMember(store, old)).kvs.map((kv) => [kv.key, kv.modRevision]))
      for (const [k, rev] of acked) assert.equal(all.get(k), rev, `modRevision of ${k}`)
    } finally {
      await store.close()
    }
  })

  for (const how of ['crash', 'isolate'] as const) {
    it(`a follower behind the compacted log (${how}) is brought up to date by a snapshot`, async () => {
      const store = await openManual({ members: 3, seed: 21, snapshotCount: 20, ...OPTS })
      try {
        let snaps = 0
        store.sim.onNetworkEvent((e) => {
          if (e.type === 'deliver' && e.msg.type === 'MsgSnap') snaps++
        })
        const leader = store.sim.leader()!
        const follower = store.memberNames.find((n) => n !== leader)!
        const acked = await writeMany(store, leader, 'a', 5)
        await store.kv.put({ key: 'gone', value: 'x' })
        if (how === 'crash') await store.sim.crash(follower)
        else store.sim.isolate(follower)
        for (const [k, v] of await writeMany(store, leader, 'b', 60)) acked.set(k, v)
        await store.kv.deleteRange({ key: 'gone' })
        await store.kv.txn({ success: [{ requestPut: { key: 'txn', value: 't' } }, { requestPut: { key: 'txn2', value: 't' } }] })
        const c = await store.kv.compact({ revision: 30 })
        assert.ok(c.header.revision > 30)
        if (how === 'crash') await store.sim.restart(follower)
        else store.sim.heal()
        await assertConverged(store, 'after catch-up')
        assert.ok(snaps >= 1, `the follower was caught up by a snapshot (saw ${snaps} MsgSnap)`)
        await assertAllPresent(store, acked, 'after snapshot')
        const f = store.member(follower).kv
        assert.equal((await f.range({ key: 'gone', serializable: true })).kvs.length, 0)
        await rejectsWith(f.range({ key: 'a/0', revision: 10, serializable: true }), ['ErrCompacted'], 'compaction came with the snapshot')
        // the follower keeps applying normally after the snapshot, and can be restarted from it
        for (const [k, v] of await writeMany(store, leader, 'c', 5)) acked.set(k, v)
        await store.sim.crash(follower)
        await store.sim.restart(follower)
        await assertConverged(store, 'after restart from the snapshot')
        await assertAllPresent(store, acked, 'after restart from the snapshot')
      } finally {
        await store.close()
      }
    })
  }

  it('a follower that crashes right after persisting a received snapshot recovers a consistent state', async () => {
    let armed: string | undefined
    let store: Store | undefined
    let crashedAtSnapshot = false
    const SNAPSHOT_KEY = '!raft-meta!snapshot'
    // a database that lets the test crash its member the moment a snapshot's metadata is stored
    class CrashAfterSnapshot extends MemoryLevel<Uint8Array, Uint8Array> {
      constructor(private readonly member: string) {
        super({ keyEncoding: 'view', valueEncoding: 'view' })
      }
      async _batch(operations: { type: string; key: unknown }[], options: object): Promise<void> {
        await (MemoryLevel.prototype as unknown as { _batch(o: unknown, p: unknown): Promise<void> })._batch.call(this, operations, options)
        const hit = operations.some((op) => op.type === 'put' && Buffer.from(op.key as Uint8Array).toString('latin1') === SNAPSHOT_KEY)
        if (hit && armed === this.member) {
          armed = undefined
          crashedAtSnapshot = true
          void store!.sim.crash(this.member)
        }
      }
    }
    store = await openManual({ members: 3, seed: 21, snapshotCount: 20, backend: (name) => new CrashAfterSnapshot(name), ...OPTS })
    try {
      const leader = store.sim.leader()!
      const follower = store.memberNames.find((n) => n !== leader)!
      const acked = await writeMany(store, leader, 'a', 5)
      store.sim.isolate(follower)
      for (const [k, v] of await writeMany(store, leader, 'b', 60)) acked.set(k, v)
      armed = follower
      store.sim.heal()
      assert.ok(await store.sim.until(() => crashedAtSnapshot && store!.runningMember(follower) === undefined, 10_000), 'the follower received a snapshot and crashed')
      await store.sim.restart(follower)
      await assertConverged(store, 'after the crash during snapshot install')
      await assertAllPresent(store, acked, 'after the crash during snapshot install')
    } finally {
      await store.close()
    }
  })

  it('the leader itself falls behind no one: snapshotting on every member keeps serving', async () => {
    const store = await openManual({ members: 3, seed: 2, snapshotCount: 5, ...OPTS })
    try {
      const acked = new Map<string, number>()
      for (let round = 0; round < 4; round++) {
        const leader = store.sim.leader()!
        for (const [k, v] of await writeMany(store, leader, `r${round}`, 12)) acked.set(k, v)
        await store.sim.crash(leader)
        await newLeaderAmong(store, store.memberNames.filter((n) => n !== leader), leader)
        await store.sim.restart(leader)
        await assertConverged(store, `round ${round}`)
      }
      await assertAllPresent(store, acked, 'after rounds of leader crashes')
    } finally {
      await store.close()
    }
  })
})
