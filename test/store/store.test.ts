/**
 * The Store as a client sees it: one KV behaviour suite run against 1, 3 and 5 members,
 * serializable vs linearizable reads, requests sent to a chosen member (followers forward
 * writes), and options validation. Manual clock: nothing here depends on real time.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { Store } from '../../src/store.js'
import type { StoreOptions } from '../../src/store.js'
import { InvalidArgumentError } from '../../src/errors.js'
import { ManualClock, RealClock } from '../../src/sim/clock.js'
import { assertConverged, dumpMember, kvShape, openManual, rejectsWith, text } from './helpers.js'

for (const members of [1, 3, 5] as const) {
  describe(`KV suite on ${members} member(s)`, () => {
    it('put/range: revisions, versions and headers of the serving member', async () => {
      const store = await openManual({ members })
      try {
        const leader = store.sim.leader()!
        const lm = store.runningMember(leader)!
        const p1 = await store.kv.put({ key: 'a', value: '1' })
        assert.equal(p1.header.revision, 2)
        assert.equal(p1.header.clusterId, store.clusterId)
        assert.equal(p1.header.memberId, store.member(leader).id)
        assert.equal(p1.header.raftTerm, lm.raftTerm)
        assert.ok(p1.header.raftTerm >= 2, 'a term was won by an election')
        const p2 = await store.kv.put({ key: 'a', value: '2', prevKv: true })
        assert.equal(p2.header.revision, 3)
        assert.deepEqual(kvShape(p2.prevKv!), { key: 'a', value: '1', createRevision: 2, modRevision: 2, version: 1 })
        await store.kv.put({ key: 'b', value: 'x' })
        const r = await store.kv.range({ key: 'a', rangeEnd: 'c' })
        assert.deepEqual(r.kvs.map(kvShape), [
          { key: 'a', value: '2', createRevision: 2, modRevision: 3, version: 2 },
          { key: 'b', value: 'x', createRevision: 4, modRevision: 4, version: 1 },
        ])
        assert.equal(r.count, 2)
        assert.equal(r.header.revision, 4)
        assert.equal(r.header.clusterId, store.clusterId)
        // history is readable at an older revision
        const old = await store.kv.range({ key: 'a', revision: 2 })
        assert.equal(text(old.kvs[0]!.value), '1')
        await assertConverged(store)
      } finally {
        await store.close()
      }
    })

    it('deleteRange: tombstones end a generation, deleting nothing keeps the revision', async () => {
      const store = await openManual({ members })
      try {
        await store.kv.put({ key: 'k1', value: 'v' })
        await store.kv.put({ key: 'k2', value: 'v' })
        const d = await store.kv.deleteRange({ key: 'k', rangeEnd: 'l', prevKv: true })
        assert.equal(d.deleted, 2)
        assert.equal(d.header.revision, 4)
        assert.deepEqual(d.prevKvs.map((kv) => text(kv.key)), ['k1', 'k2'])
        const none = await store.kv.deleteRange({ key: 'k1' })
        assert.equal(none.deleted, 0)
        assert.equal(none.header.revision, 4)
        const again = await store.kv.put({ key: 'k1', value: 'w' })
        const r = await store.kv.range({ key: 'k1' })
        assert.deepEqual(kvShape(r.kvs[0]!), { key: 'k1', value: 'w', createRevision: again.header.revision, modRevision: again.header.revision, version: 1 })
        await assertConverged(store)
      } finally {
        await store.close()
      }
    })

    it('txn: compares choose the branch, all writes share one revision', async () => {
      const store = await openManual({ members })
      try {
        const create = {
          compare: [{ key: 'cfg', target: 'VERSION' as const, result: 'EQUAL' as const, version: 0 }],
          success: [{ requestPut: { key: 'cfg', value: 'v1' } }, { requestPut: { key: 'cfg2', value: 'v1' } }],
          failure: [{ requestRange: { key: 'cfg' } }],
        }
        const t1 = await store.kv.txn(create)
        assert.equal(t1.succeeded, true)
        assert.equal(t1.header.revision, 2)
        assert.equal(t1.header.memberId, store.member(store.sim.leader()!).id)
        const r = await store.kv.range({ key: 'cfg', rangeEnd: 'cfh' })
        assert.deepEqual(r.kvs.map((kv) => [text(kv.key), kv.modRevision]), [['cfg', 2], ['cfg2', 2]])
        const t2 = await store.kv.txn(create)
        assert.equal(t2.succeeded, false)
        assert.equal(t2.header.revision, 2, 'a txn that writes nothing keeps the revision')
        const resp = t2.responses[0]
        assert.ok(resp && 'responseRange' in resp)
        assert.equal(text(resp.responseRange.kvs[0]!.value), 'v1')
        // a read-only txn is served without a Raft entry but still sees the latest state
        const ro = await store.kv.txn({ success: [{ requestRange: { key: 'cfg' } }] })
        assert.equal(ro.header.revision, 2)
        await assertConverged(store)
      } finally {
        await store.close()
      }
    })

    it('compact: old revisions become unreadable on every member, future ones are refused', async () => {
      const store = await openManual({ members })
      try {
        for (let i = 0; i < 5; i++) await store.kv.put({ key: 'c', value: String(i) })
        // revisions 2..6
        await rejectsWith(store.kv.compact({ revision: 100 }), ['ErrFutureRev'], 'compact future')
        const c = await store.kv.compact({ revision: 4 })
        assert.equal(c.header.revision, 6)
        await assertConverged(store)
        for (const name of store.memberNames) {
          await rejectsWith(store.member(name).kv.range({ key: 'c', revision: 3, serializable: true }), ['ErrCompacted'], `range at 3 on ${name}`)
          const at4 = await store.member(name).kv.range({ key: 'c', revision: 4, serializable: true })
          assert.equal(text(at4.kvs[0]!.value), '2', `range at the compacted revision on ${name}`)
        }
        await rejectsWith(store.kv.compact({ revision: 3 }), ['ErrCompacted'], 'compact below compacted')
        const after = await store.kv.put({ key: 'c', value: 'after' })
        assert.equal(after.header.revision, 7)
        await assertConverged(store)
      } finally {
        await store.close()
      }
    })

    it('a write refused while applying (ignoreValue on a missing key) changes nothing and the cluster keeps serving', async () => {
      const store = await openManual({ members })
      try {
        await rejectsWith(store.kv.put({ key: 'missing', ignoreValue: true }), ['ErrKeyNotFound'], 'ignoreValue on a missing key')
        await rejectsWith(
          store.kv.txn({ success: [{ requestPut: { key: 'missing', ignoreLease: true } }] }),
          ['ErrKeyNotFound'],
          'ignoreLease in a txn on a missing key',
        )
        const p = await store.kv.put({ key: 'after', value: 'v' })
        assert.equal(p.header.revision, 2, 'the refused writes took no revision')
        await assertConverged(store)
      } finally {
        await store.close()
      }
    })

    it('binary keys and values, including Node Buffers from earlier responses, replicate byte for byte', async () => {
      const store = await openManual({ members })
      try {
        const key = Buffer.from([0xff, 0x00, 0x01])
        await store.kv.put({ key, value: Buffer.from([0x00, 0x80, 0xfe]) })
        const got = await store.kv.range({ key })
        // write back what a range returned (a Buffer on Node), as a put and inside a txn
        // (the cast: response bytes are Uint8Array<ArrayBufferLike>, request inputs want <ArrayBuffer>)
        const value = got.kvs[0]!.value as Uint8Array<ArrayBuffer>
        await store.kv.put({ key: value, value: got.kvs[0]!.key as Uint8Array<ArrayBuffer> })
        await store.kv.txn({ success: [{ requestPut: { key: Buffer.from('t'), value } }] })
        await assertConverged(store)
        for (const name of store.memberNames) {
          const r = await store.member(name).kv.range({ key: '\0', rangeEnd: '\0', serializable: true })
          assert.deepEqual(
            r.kvs.map((kv) => [[...kv.key], [...kv.value]]),
            [[[0x00, 0x80, 0xfe], [0xff, 0x00, 0x01]], [[0x74], [0x00, 0x80, 0xfe]], [[0xff, 0x00, 0x01], [0x00, 0x80, 0xfe]]],
            `bytes on ${name}`,
          )
        }
      } finally {
        await store.close()
      }
    })

    it('every member serves what the cluster committed, with its own header', async () => {
      const store = await openManual({ members })
      try {
        await store.kv.put({ key: 'x', value: 'y' })
        await assertConverged(store)
        for (const name of store.memberNames) {
          const r = await store.member(name).kv.range({ key: 'x' })
          assert.equal(text(r.kvs[0]!.value), 'y', `linearizable read on ${name}`)
          assert.equal(r.header.memberId, store.member(name).id)
          assert.equal(r.header.raftTerm, store.runningMember(name)!.raftTerm)
          assert.equal(r.header.clusterId, store.clusterId)
        }
      } finally {
        await store.close()
      }
    })
  })
}

describe('reads', () => {
  it('a linearizable read on a follower sees a write acknowledged by the leader at once', async () => {
    const store = await openManual({ members: 3 })
    try {
      const leader = store.sim.leader()!
      const follower = store.memberNames.find((n) => n !== leader)!
      for (let i = 0; i < 20; i++) {
        const p = await store.member(leader).kv.put({ key: 'k', value: String(i) })
        // no settle: the read itself must wait until the follower has applied the write
        const r = await store.member(follower).kv.range({ key: 'k' })
        assert.equal(text(r.kvs[0]!.value), String(i))
        assert.ok(r.header.revision >= p.header.revision)
      }
    } finally {
      await store.close()
    }
  })

  it('a serializable read is served from local state and may be stale; a linearizable one waits', async () => {
    const store = await openManual({ members: 3 })
    try {
      const leader = store.sim.leader()!
      const follower = store.memberNames.find((n) => n !== leader)!
      await store.kv.put({ key: 'k', value: 'old' })
      await assertConverged(store)
      // the follower stops receiving from the leader (the other follower still gives a quorum)
      store.sim.network.cut(leader, follower)
      await store.member(leader).kv.put({ key: 'k', value: 'new' })
      const stale = await store.member(follower).kv.range({ key: 'k', serializable: true })
      assert.equal(text(stale.kvs[0]!.value), 'old', 'a serializable read answers from the follower alone')
      let linDone = false
      const lin = store.member(follower).kv.range({ key: 'k' })
      void lin.then(() => (linDone = true), () => (linDone = true))
      await store.sim.settle()
      assert.equal(linDone, false, 'a linearizable read cannot be answered without hearing from the leader')
      store.sim.heal()
      await store.sim.until(() => linDone, 10_000)
      assert.equal(text((await lin).kvs[0]!.value), 'new')
      const fresh = await store.member(follower).kv.range({ key: 'k', serializable: true })
      assert.equal(text(fresh.kvs[0]!.value), 'new')
    } finally {
      await store.close()
    }
  })
})

describe('requests to a chosen member', () => {
  it('a follower forwards writes to the leader and answers with its own header', async () => {
    const store = await openManual({ members: 5 })
    try {
      const leader = store.sim.leader()!
      for (const name of store.memberNames) {
        const p = await store.member(name).kv.put({ key: `from/${name}`, value: name })
        assert.equal(p.header.memberId, store.member(name).id)
        assert.equal(p.header.clusterId, store.clusterId)
        const d = await store.member(leader).kv.range({ key: `from/${name}` })
        assert.equal(d.kvs.length, 1, `write through ${name} is visible on the leader`)
        assert.equal(d.kvs[0]!.modRevision, p.header.revision)
      }
      const t = await store.member(store.memberNames.find((n) => n !== leader)!).kv.txn({
        compare: [{ key: 'from/m1', target: 'VALUE', result: 'EQUAL', value: 'm1' }],
        success: [{ requestDeleteRange: { key: 'from/', rangeEnd: 'from0' } }],
      })
      assert.equal(t.succeeded, true)
      await assertConverged(store)
      assert.deepEqual((await dumpMember(store, leader)).kvs, [])
    } finally {
      await store.close()
    }
  })

  it('an unknown member name is an InvalidArgumentError', async () => {
    const store = await openManual({ members: 1 })
    try {
      assert.throws(() => store.member('m9'), InvalidArgumentError)
    } finally {
      await store.close()
    }
  })

  it('requests after close fail with StoreClosed, and close is idempotent', async () => {
    const store = await openManual({ members: 3 })
    const m2 = store.member('m2')
    await store.close()
    await store.close()
    await rejectsWith(store.kv.put({ key: 'a', value: 'b' }), ['ErrStoreClosed'], 'put after close')
    await rejectsWith(m2.kv.range({ key: 'a' }), ['ErrStoreClosed'], 'range after close')
  })

  it('a crashed member refuses requests with "server stopped"', async () => {
    const store = await openManual({ members: 3 })
    try {
      await store.sim.crash('m3')
      await rejectsWith(store.member('m3').kv.range({ key: 'a', serializable: true }), ['ErrStopped'], 'range on crashed m3')
      await rejectsWith(store.member('m3').kv.put({ key: 'a', value: 'b' }), ['ErrStopped'], 'put on crashed m3')
      // the root endpoint keeps working through the others
      await store.kv.put({ key: 'a', value: 'b' })
    } finally {
      await store.close()
    }
  })
})

describe('Store.open options', () => {
  const bad: [string, unknown][] = [
    ['members: 2', { members: 2 }],
    ['members: 4', { members: 4 }],
    ['members: "3"', { members: '3' }],
    ['unknown option', { memberz: 3 }],
    ['clock: "fast"', { clock: 'fast' }],
    ['seed: 1.5', { seed: 1.5 }],
    ['seed: unsafe', { seed: 2 ** 60 }],
    ['tickMs: 0', { tickMs: 0 }],
    ['tickMs: -5', { tickMs: -5 }],
    ['electionTicks: 1', { electionTicks: 1 }],
    ['heartbeatTicks: 0', { heartbeatTicks: 0 }],
    ['requestTimeoutMs: 0', { requestTimeoutMs: 0 }],
    ['snapshotCount: 0', { snapshotCount: 0 }],
    ['dataDir: ""', { dataDir: '' }],
    ['backend: not a function', { backend: 'memory' }],
    ['limits.maxTxnOps: 0', { limits: { maxTxnOps: 0 } }],
    ['limits: unknown field', { limits: { maxFoo: 1 } }],
  ]
  for (const [name, options] of bad) {
    it(`refuses ${name} with InvalidArgumentError`, async () => {
      await assert.rejects(Store.open(options as StoreOptions), (err: unknown) => {
        assert.ok(err instanceof InvalidArgumentError, `got ${String(err)}`)
        assert.equal(err.grpcCode, 'InvalidArgument')
        return true
      })
    })
  }

  it('applies limits to requests (maxTxnOps)', async () => {
    const store = await openManual({ members: 1, limits: { maxTxnOps: 2 } })
    try {
      const ops = [1, 2, 3].map((i) => ({ requestPut: { key: `k${i}`, value: 'v' } }))
      await rejectsWith(store.kv.txn({ success: ops }), ['ErrTooManyOps'], 'txn over maxTxnOps')
      assert.deepEqual((await dumpMember(store, 'm1')).kvs, [], 'a refused request changes nothing')
    } finally {
      await store.close()
    }
  })

  it('the same seed gives the same member and cluster ids', async () => {
    const a = await openManual({ members: 3, seed: 99 })
    const b = await openManual({ members: 3, seed: 99 })
    try {
      assert.equal(a.clusterId, b.clusterId)
      assert.deepEqual(a.memberNames.map((n) => a.member(n).id), b.memberNames.map((n) => b.member(n).id))
    } finally {
      await a.close()
      await b.close()
    }
  })

  it('close() cancels every timer it set on a caller-owned clock, even with requests and faults pending', async () => {
    const clock = new ManualClock()
    const store = await Store.open({ members: 3, clock, seed: 3, requestTimeoutMs: 1_000 })
    assert.ok(clock.pendingTimers() > 0, 'a running cluster ticks')
    store.sim.network.configure({ delayMs: [5, 50] })
    const leader = store.sim.leader()!
    store.sim.isolate(leader)
    // requests left waiting: a write on the isolated leader, linearizable reads on both sides
    const pending = [
      store.member(leader).kv.put({ key: 'a', value: 'b' }),
      store.member(leader).kv.range({ key: 'a' }),
      store.member(store.memberNames.find((n) => n !== leader)!).kv.range({ key: 'a' }),
    ]
    await store.sim.advance(30)
    await store.close()
    for (const p of pending) await rejectsWith(p, ['ErrStopped', 'ErrTimeout', 'ErrLeaderChanged', 'ErrNoLeader'], 'request pending at close')
    assert.equal(clock.pendingTimers(), 0, 'timers left on the clock after close')
    assert.equal(clock.closed, false, 'a caller-owned clock is not closed by the Store')
  })

  it('opens and closes with the real clock, leaving no timer behind', async () => {
    const store = await Store.open({ members: 3 })
    await store.kv.put({ key: 'a', value: 'b' })
    const r = await store.member('m3').kv.range({ key: 'a' })
    assert.equal(text(r.kvs[0]!.value), 'b')
    assert.ok(store.sim.clock instanceof RealClock)
    assert.ok(store.sim.clock.pendingTimers() > 0)
    await store.close()
    assert.equal(store.sim.clock.pendingTimers(), 0)
    // if close() left a timer or handle, this file's test process would not exit and the runner would hang
  })
})

describe('bytes in answers are the caller’s own', () => {
  for (const members of [1, 3] as const) {
    it(`${members} member(s): changing returned keys and values (gets, ranges, prevKv, watch events) changes nothing else`, async () => {
      const store = await Store.open({ members })
      try {
        // 100-byte values: the size that is handed out as views of shared slabs
        const value = (i: number, gen: number): string => `${gen}:${i}:`.padEnd(100, String.fromCharCode(97 + (i % 26)))
        const watch = await store.watch.watch({ key: 'k/', rangeEnd: 'k0', prevKv: true })
        await watch.next() // created
        const n = 200
        await Promise.all(Array.from({ length: n }, (_, i) => store.kv.put({ key: `k/${String(i).padStart(3, '0')}`, value: value(i, 1) })))
        const seen: Uint8Array[] = []
        while (seen.length < n) {
          const r = await watch.next()
          assert.equal(r.done, false)
          for (const e of r.value.events) seen.push(e.kv.value)
        }
        // every answer is changed in place as soon as it arrives...
        const gets = await Promise.all(Array.from({ length: n }, (_, i) => store.kv.range({ key: `k/${String(i).padStart(3, '0')}`, serializable: i % 2 === 0 })))
        const before = gets.map((g) => text(g.kvs[0]!.value))
        for (const b of seen) b.fill(0x21)
        for (const g of gets) {
          g.kvs[0]!.value.fill(0x23)
          g.kvs[0]!.key.fill(0x23)
        }
        const overwrite = await store.kv.put({ key: 'k/000', value: value(0, 2), prevKv: true })
        overwrite.prevKv!.value.fill(0x24)
        // ...and the store, and every other answer, still hold the written bytes
        before.forEach((v, i) => assert.equal(v, value(i, 1), `get ${i} before the changes`))
        const all = await store.kv.range({ key: 'k/', rangeEnd: 'k0' })
        assert.deepEqual(all.kvs.map((kv) => text(kv.value)), Array.from({ length: n }, (_, i) => value(i, i === 0 ? 2 : 1)))
        const history = await store.kv.range({ key: 'k/000', revision: all.kvs[0]!.createRevision })
        assert.equal(text(history.kvs[0]!.value), value(0, 1))
        const r = await watch.next()
        assert.equal(r.done, false)
        assert.equal(text(r.value.events[0]!.kv.value), value(0, 2))
        assert.equal(text(r.value.events[0]!.prevKv!.value), value(0, 1))
        await assertConverged(store)
      } finally {
        await store.close()
      }
    })
  }
})
