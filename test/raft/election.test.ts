import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { MemoryStorage, RawNode, makeMessage } from '../../src/raft/index.js'
import type { Message, MessageType } from '../../src/raft/index.js'
import { Network, storageWith } from './network.js'

/** A follower at term 2 whose log ends at index 3 with term 2 (voters 1, 2, 3). */
function follower(opts: { vote?: string; lead?: string; checkQuorum?: boolean } = {}): RawNode {
  const st = storageWith(['1', '2', '3'], [2, 2])
  st.setHardState({ term: 2, vote: opts.vote ?? '0', commit: 1 })
  const rn = new RawNode({ id: '1', storage: st, electionTick: 10, heartbeatTick: 1, random: () => 0, checkQuorum: opts.checkQuorum ?? false })
  if (opts.lead !== undefined) rn.raft.lead = opts.lead
  return rn
}

describe('elections', () => {
  // The vote rules of etcd-io/raft's Step: term handling, canVote, log up-to-dateness.
  const cases: {
    name: string
    type: MessageType
    term: number
    index: number
    logTerm: number
    vote?: string
    lead?: string
    grant: boolean | undefined
    termAfter: number
    voteAfter: string
  }[] = [
    { name: 'vote, higher term, same log', type: 'MsgVote', term: 3, index: 3, logTerm: 2, grant: true, termAfter: 3, voteAfter: '2' },
    { name: 'vote, higher term, shorter log', type: 'MsgVote', term: 3, index: 2, logTerm: 2, grant: false, termAfter: 3, voteAfter: '0' },
    { name: 'vote, higher term, older last term', type: 'MsgVote', term: 3, index: 9, logTerm: 1, grant: false, termAfter: 3, voteAfter: '0' },
    { name: 'vote, higher term, newer last term', type: 'MsgVote', term: 3, index: 1, logTerm: 3, grant: true, termAfter: 3, voteAfter: '2' },
    { name: 'vote, same term, already voted other', type: 'MsgVote', term: 2, index: 3, logTerm: 2, vote: '3', grant: false, termAfter: 2, voteAfter: '3' },
    { name: 'vote, same term, already voted same', type: 'MsgVote', term: 2, index: 3, logTerm: 2, vote: '2', grant: true, termAfter: 2, voteAfter: '2' },
    { name: 'vote, same term, knows a leader', type: 'MsgVote', term: 2, index: 3, logTerm: 2, lead: '3', grant: false, termAfter: 2, voteAfter: '0' },
    { name: 'vote, lower term is ignored', type: 'MsgVote', term: 1, index: 3, logTerm: 2, grant: undefined, termAfter: 2, voteAfter: '0' },
    { name: 'pre-vote, higher term: granted without changing term', type: 'MsgPreVote', term: 3, index: 3, logTerm: 2, grant: true, termAfter: 2, voteAfter: '0' },
    { name: 'pre-vote, higher term, voted already: still granted', type: 'MsgPreVote', term: 3, index: 3, logTerm: 2, vote: '3', grant: true, termAfter: 2, voteAfter: '3' },
    { name: 'pre-vote, higher term, shorter log', type: 'MsgPreVote', term: 3, index: 2, logTerm: 2, grant: false, termAfter: 2, voteAfter: '0' },
    { name: 'pre-vote, lower term is rejected', type: 'MsgPreVote', term: 1, index: 3, logTerm: 2, grant: false, termAfter: 2, voteAfter: '0' },
  ]
  for (const c of cases) {
    test(c.name, () => {
      const rn = follower({ ...(c.vote !== undefined ? { vote: c.vote } : {}), ...(c.lead !== undefined ? { lead: c.lead } : {}) })
      rn.step(makeMessage({ type: c.type, from: '2', to: '1', term: c.term, index: c.index, logTerm: c.logTerm }))
      const msgs = rn.ready().messages
      if (c.grant === undefined) {
        assert.equal(msgs.length, 0)
      } else {
        assert.equal(msgs.length, 1)
        const m = msgs[0] as Message
        assert.equal(m.type, c.type === 'MsgVote' ? 'MsgVoteResp' : 'MsgPreVoteResp')
        assert.equal(m.reject, !c.grant)
        // Grants carry the term asked about; rejections carry ours.
        assert.equal(m.term, c.grant ? c.term : Math.max(c.termAfter, 2))
      }
      assert.equal(rn.raft.term, c.termAfter)
      assert.equal(rn.raft.vote, c.voteAfter)
    })
  }

  test('election timeout is randomized in [electionTick, 2*electionTick) from the injected random', () => {
    for (const r of [0, 3, 9]) {
      const st = storageWith(['1', '2', '3'], [])
      const rn = new RawNode({ id: '1', storage: st, electionTick: 10, heartbeatTick: 1, random: () => r })
      let ticks = 0
      while (rn.raft.state === 'Follower') {
        rn.tick()
        ticks++
      }
      assert.equal(ticks, 10 + r)
      assert.equal(rn.raft.state, 'Candidate')
    }
  })

  test('a stale leader cannot commit while partitioned and steps down on rejoin', () => {
    const net = new Network(['1', '2', '3'])
    net.campaign('1')
    net.propose('1', 'before')
    net.isolate('1')
    net.campaign('2')
    assert.equal(net.node('2').rn.raft.state, 'Leader')
    assert.equal(net.node('1').rn.raft.state, 'Leader', 'the old leader does not know yet')
    const committedBefore = net.node('1').rn.raft.raftLog.committed
    net.propose('1', 'stale')
    assert.equal(net.node('1').rn.raft.raftLog.committed, committedBefore, 'no quorum, no commit')
    net.propose('2', 'fresh')
    net.heal()
    net.tick('2') // heartbeat carries the newer term
    net.stabilize()
    assert.equal(net.node('1').rn.raft.state, 'Follower')
    assert.equal(net.node('1').rn.raft.term, net.node('2').rn.raft.term)
    net.propose('2', 'after')
    for (const id of net.ids()) assert.deepEqual(net.node(id).applied.map((e) => e.data), ['before', 'fresh', 'after'])
    net.checkLogMatching()
  })

  test('with pre-vote a partitioned member does not disrupt the term when it rejoins', () => {
    const net = new Network(['1', '2', '3'], { preVote: true })
    net.campaign('1')
    const term = net.node('1').rn.raft.term
    net.isolate('3')
    net.propose('1', 'while 3 was away')
    net.tick('3', 100)
    assert.equal(net.node('3').rn.raft.term, term, 'pre-votes never bump the term')
    assert.equal(net.node('3').rn.raft.state, 'PreCandidate')
    net.heal()
    for (let i = 0; i < 30; i++) {
      net.tickAll()
      net.stabilize()
    }
    assert.equal(net.leader(), '1')
    assert.equal(net.node('1').rn.raft.term, term)
    assert.equal(net.node('3').rn.raft.state, 'Follower')
  })

  test('without pre-vote the same rejoin deposes the leader', () => {
    const net = new Network(['1', '2', '3'])
    net.campaign('1')
    const term = net.node('1').rn.raft.term
    net.isolate('3')
    net.tick('3', 100)
    assert.ok(net.node('3').rn.raft.term > term)
    net.heal()
    net.tick('3', 30)
    net.stabilize()
    assert.ok(net.node('1').rn.raft.term > term, 'the leader was forced into a newer term')
  })

  test('check-quorum: a leader that cannot hear a quorum steps down', () => {
    const net = new Network(['1', '2', '3'], { checkQuorum: true })
    net.campaign('1')
    net.isolate('1')
    net.tick('1', 9)
    assert.equal(net.node('1').rn.raft.state, 'Leader')
    net.tick('1', 11)
    assert.equal(net.node('1').rn.raft.state, 'Follower')
    assert.equal(net.node('1').rn.raft.lead, '0')
  })

  test('check-quorum: a leader in contact with a quorum stays', () => {
    const net = new Network(['1', '2', '3'], { checkQuorum: true })
    net.campaign('1')
    net.isolate('3')
    for (let i = 0; i < 50; i++) {
      net.tick('1')
      net.stabilize()
    }
    assert.equal(net.node('1').rn.raft.state, 'Leader')
  })

  test('check-quorum lease: followers ignore votes while their leader is live', () => {
    const net = new Network(['1', '2', '3'], { checkQuorum: true })
    net.campaign('1')
    const f = net.node('2').rn
    const term = f.raft.term
    f.step(makeMessage({ type: 'MsgVote', from: '3', to: '2', term: term + 1, index: 100, logTerm: 100 }))
    assert.equal(f.ready().messages.length, 0)
    assert.equal(f.raft.term, term)
    assert.equal(f.raft.vote, '1')
    // Past the lease, the vote is considered.
    net.tick('2', 10)
    net.take()
    f.step(makeMessage({ type: 'MsgVote', from: '3', to: '2', term: term + 1, index: 100, logTerm: 100 }))
    const resp = f.ready().messages.find((m) => m.type === 'MsgVoteResp')
    assert.equal(resp?.reject, false)
  })

  test('a single voter elects itself on its first timeout', () => {
    const st = new MemoryStorage()
    const rn = new RawNode({ id: '1', storage: st, electionTick: 5, heartbeatTick: 1, random: () => 0 })
    rn.bootstrap(['1'])
    // Campaigning waits until the bootstrap conf change is applied.
    for (let i = 0; i < 5; i++) rn.tick()
    assert.equal(rn.raft.state, 'Follower')
    const rd = rn.ready()
    st.append(rd.entries)
    if (rd.hardState) st.setHardState(rd.hardState)
    rn.advance(rd)
    for (let i = 0; i < 5; i++) rn.tick()
    assert.equal(rn.raft.state, 'Leader')
  })

  test('a member that is not in the configuration never campaigns', () => {
    const rn = new RawNode({ id: '9', storage: new MemoryStorage(), electionTick: 5, heartbeatTick: 1, random: () => 0 })
    for (let i = 0; i < 100; i++) rn.tick()
    assert.equal(rn.raft.state, 'Follower')
    assert.equal(rn.raft.term, 0)
  })
})
