import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { RawNode } from '../../src/raft/index.js'
import { Network, b, logOf, storageWith } from './network.js'

describe('log replication', () => {
  test('Figure 8: a leader never commits an entry of an older term by counting replicas', () => {
    // maxSizePerMsg 1: one entry per MsgApp, so we can let old entries through but not new ones.
    const net = new Network(['1', '2', '3', '4', '5'], { maxSizePerMsg: 1 })
    net.campaign('1') // term 2, log ends at 6
    const base = net.node('1').rn.raft.raftLog.lastIndex()
    // (a) S1 replicates index base+1 (term 2) to S2 only.
    net.partition(['1', '2'], ['3', '4', '5'])
    net.propose('1', 'a')
    assert.equal(net.node('2').rn.raft.raftLog.lastIndex(), base + 1)
    // (b) S5 wins term 3 with S3 and S4, but its own entries never leave it.
    net.filter = (m) => m.from === '5' && m.type === 'MsgApp'
    net.campaign('5')
    assert.equal(net.node('5').rn.raft.state, 'Leader')
    net.propose('5', 'b')
    net.filter = undefined
    // S1 crashes and restarts (as a follower, with its log).
    net.crash('1')
    net.restart('1')
    // (c) S1 wins term 4 (S4, S5 away) and replicates its old term-2 entry to S3, but its
    // new term-4 entry only to S2: a majority (S1, S2, S3) holds the old entry...
    net.heal()
    net.isolate('5')
    net.isolate('4')
    const term4 = () => net.node('1').rn.raft.term
    net.filter = (m) =>
      m.from === '1' &&
      m.to === '3' &&
      m.type === 'MsgApp' &&
      m.entries.some((e) => e.term === term4()) &&
      net.node('3').rn.raft.raftLog.lastIndex() >= base + 1
    net.campaign('1')
    if (net.node('1').rn.raft.state !== 'Leader') net.campaign('1')
    assert.equal(net.node('1').rn.raft.state, 'Leader')
    for (const id of ['1', '2', '3']) assert.equal(net.node(id).rn.raft.raftLog.maybeTerm(base + 1), 2, `${id} holds a`)
    // ...but it is from an older term, so it is not committed.
    assert.equal(net.node('1').rn.raft.raftLog.committed, base)
    // (d) S1 fails; S5 (last term 3) can win and overwrite index base+1: committing it would have been unsafe.
    net.filter = undefined
    net.heal()
    net.isolate('1')
    net.crash('5')
    net.restart('5')
    net.campaign('5')
    if (net.node('5').rn.raft.state !== 'Leader') net.campaign('5')
    assert.equal(net.node('5').rn.raft.state, 'Leader')
    for (const id of ['2', '3', '4', '5']) assert.equal(net.node(id).rn.raft.raftLog.maybeTerm(base + 1), 3, `${id} overwritten`)
    net.heal()
    net.tick('5')
    net.stabilize()
    for (const id of net.ids()) assert.deepEqual(net.node(id).applied.map((e) => e.data), ['b'])
    net.checkLogMatching()
  })

  test('proposeAll appends several entries in order and replicates them in one append per follower', () => {
    const net = new Network(['1', '2', '3'])
    net.campaign('1')
    net.stabilize()
    let appends = 0
    net.filter = (m) => {
      if (m.type === 'MsgApp' && m.entries.length > 0) appends++
      return false
    }
    const leader = net.node('1').rn
    leader.proposeAll([])
    assert.equal(leader.hasReady(), false, 'an empty list proposes nothing')
    leader.proposeAll([b('x'), b('y'), b('z')])
    net.stabilize()
    net.filter = undefined
    assert.equal(appends, 2, 'one append carrying all three to each follower')
    for (const id of net.ids()) assert.deepEqual(net.node(id).applied.map((e) => e.data).slice(-3), ['x', 'y', 'z'], id)
    net.checkLogMatching()
    // a follower forwards the whole batch to the leader
    net.node('2').rn.proposeAll([b('p'), b('q')])
    net.stabilize()
    for (const id of net.ids()) assert.deepEqual(net.node(id).applied.map((e) => e.data).slice(-2), ['p', 'q'], id)
  })

  test('once an entry of the current term commits, earlier entries commit with it', () => {
    const net = new Network(['1', '2', '3', '4', '5'])
    net.campaign('1')
    net.partition(['1', '2'], ['3', '4', '5'])
    net.propose('1', 'x') // on S1 and S2 only: not committed
    assert.equal(net.node('2').applied.length, 0)
    net.heal()
    net.isolate('1')
    net.campaign('2') // term 3: the empty entry of the new term carries 'x' to commitment
    for (const id of ['2', '3', '4', '5']) assert.deepEqual(net.node(id).applied.map((e) => e.data), ['x'])
  })

  test('fast back-off: a diverged follower is repaired with one rejection per conflicting term, not per entry', () => {
    const leaderTerms = [1, 1, 4, 4, 5, 5, 6, 6, 6] // indexes 2..10
    const followerTerms = [1, 1, 2, 2, 2, 3, 3, 3, 3, 3, 3] // indexes 2..12, diverges at 4
    const net = new Network(['1', '2', '3'], { trace: true })
    // Replace the bootstrapped members with hand-made logs.
    const mk = (id: string, terms: number[]) => {
      const st = storageWith(['1', '2', '3'], terms, (i) => `${id === '2' ? followerTerms[i - 2] : leaderTerms[i - 2]}-${i}`)
      const n = net.node(id)
      n.storage = st
      n.rn = new RawNode({ id, storage: st, electionTick: 10, heartbeatTick: 1, random: () => 0, applied: 1 })
      n.appliedIndex = 1
    }
    mk('1', leaderTerms)
    mk('2', followerTerms)
    mk('3', leaderTerms)
    net.committedAt.clear()
    net.campaign('1')
    assert.equal(net.node('1').rn.raft.state, 'Leader')
    const rejects = net.trace.filter((l) => l.startsWith('2->1 MsgAppResp') && l.includes(' R'))
    assert.ok(rejects.length <= 2, `expected at most 2 rejections, got ${rejects.length}: ${rejects.join(' | ')}`)
    assert.deepEqual(
      logOf(net.node('2')).map((e) => [e.index, e.term]),
      logOf(net.node('1')).map((e) => [e.index, e.term]),
    )
    net.checkLogMatching()
  })

  test('a follower with a shorter log is caught up by probing', () => {
    const net = new Network(['1', '2', '3'])
    net.campaign('1')
    net.isolate('3')
    for (let i = 0; i < 20; i++) net.propose('1', `p${i}`)
    net.heal()
    net.tick('1')
    net.stabilize()
    assert.equal(net.node('3').applied.length, 20)
  })

  test('inflights: at most maxInflightMsgs unacknowledged MsgApp to a replicating follower', () => {
    const net = new Network(['1', '2', '3'], { maxInflightMsgs: 2, maxSizePerMsg: 1 })
    net.campaign('1')
    assert.equal(net.node('1').rn.status().progress?.['2']?.state, 'Replicate')
    for (let i = 0; i < 5; i++) net.node('1').rn.propose(new Uint8Array([i]))
    net.processAll()
    const toTwo = net.take((m) => m.to === '2' && m.type === 'MsgApp')
    assert.equal(toTwo.length, 2, 'window of 2')
    const pr = net.node('1').rn.status().progress?.['2']
    assert.equal(pr?.paused, true)
    assert.equal(pr?.inflight, 2)
    // A heartbeat response frees one slot even though the MsgApp acks were lost.
    net.take()
    net.tick('1')
    const hb = net.take((m) => m.type === 'MsgHeartbeat' && m.to === '2')
    for (const m of hb) net.deliver(m)
    const resp = net.take((m) => m.type === 'MsgHeartbeatResp' && m.from === '2')
    for (const m of resp) net.deliver(m)
    assert.equal(net.take((m) => m.to === '2' && m.type === 'MsgApp').length, 1)
    // Everything flows once acks arrive.
    net.take()
    net.tick('1')
    net.stabilize()
    for (const id of net.ids()) assert.equal(net.node(id).applied.length, 5)
  })

  test('maxSizePerMsg bounds the bytes of entries per MsgApp (but sends at least one)', () => {
    const net = new Network(['1', '2', '3'], { maxSizePerMsg: 350 })
    net.campaign('1')
    net.isolate('3')
    for (let i = 0; i < 10; i++) net.propose('1', 'x'.repeat(100))
    net.heal()
    net.tick('1')
    net.processAll()
    let maxEntries = 0
    let total = 0
    while (net.queue.length > 0) {
      for (const m of net.take()) {
        if (m.type === 'MsgApp' && m.to === '3') {
          maxEntries = Math.max(maxEntries, m.entries.length)
          const bytes = m.entries.reduce((n, e) => n + e.data.byteLength + 16, 0)
          assert.ok(m.entries.length <= 1 || bytes <= 350, `MsgApp of ${bytes} bytes`)
        }
        net.deliver(m)
      }
      total++
      net.processAll()
    }
    assert.equal(maxEntries, 3)
    assert.equal(net.node('3').applied.length, 10)
  })

  test('Ready reports hard state and soft state only when they change, and mustSync for entries or term/vote', () => {
    const net = new Network(['1', '2', '3'])
    const rn = net.node('1').rn
    rn.campaign()
    const rd = rn.ready()
    assert.equal(rd.softState?.raftState, 'Candidate')
    assert.equal(rd.hardState?.vote, '1')
    assert.equal(rd.mustSync, true)
    net.node('1').storage.setHardState(rd.hardState!)
    rn.advance(rd)
    assert.equal(rn.hasReady(), false)
  })
})
