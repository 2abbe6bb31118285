import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { EMPTY_BYTES, isRaftError } from '../../src/raft/index.js'
import type { ConfChangeType } from '../../src/raft/index.js'
import { Network } from './network.js'

const cc = (type: ConfChangeType, nodeId: string) => ({ type, nodeId, context: EMPTY_BYTES })

describe('membership changes', () => {
  test('a learner catches up, never votes or counts for quorum, and is promoted with AddNode', () => {
    const net = new Network(['1', '2', '3'])
    net.campaign('1')
    for (let i = 0; i < 5; i++) net.propose('1', `p${i}`)
    net.addNode('4')
    net.node('1').rn.proposeConfChange(cc('AddLearnerNode', '4'))
    net.stabilize()
    net.tick('1')
    net.stabilize()
    assert.deepEqual(net.node('4').applied, net.node('1').applied, 'learner caught up')
    assert.deepEqual(net.node('1').rn.status().config, { voters: ['1', '2', '3'], learners: ['4'] })
    assert.equal(net.node('1').rn.status().progress?.['4']?.isLearner, true)
    // A learner never campaigns.
    net.isolate('4')
    net.tick('4', 100)
    assert.equal(net.node('4').rn.raft.state, 'Follower')
    // Not counted for quorum: leader + learner cannot commit.
    net.heal()
    net.partition(['1', '4'], ['2', '3'])
    const commit = net.node('1').rn.raft.raftLog.committed
    net.propose('1', 'no quorum')
    assert.equal(net.node('1').rn.raft.raftLog.committed, commit)
    net.heal()
    net.tick('1')
    net.stabilize()
    // Promotion.
    net.node('1').rn.proposeConfChange(cc('AddNode', '4'))
    net.stabilize()
    assert.deepEqual(net.node('4').confState, { voters: ['1', '2', '3', '4'], learners: [] })
    assert.equal(net.node('4').rn.raft.isLearner, false)
    // With four voters a quorum is three: 1 and 4 alone cannot commit, 1, 2 and 4 can.
    net.partition(['1', '4'], ['2', '3'])
    const c2 = net.node('1').rn.raft.raftLog.committed
    net.propose('1', 'two of four')
    assert.equal(net.node('1').rn.raft.raftLog.committed, c2)
    net.heal()
    net.isolate('3')
    net.tick('1')
    net.stabilize()
    assert.ok(net.node('1').rn.raft.raftLog.committed > c2)
    // The promoted member can now lead.
    net.heal()
    net.campaign('4')
    assert.equal(net.leader(), '4')
  })

  test('removing the leader: it steps down once the change applies, the rest elect a new leader', () => {
    const net = new Network(['1', '2', '3'])
    net.campaign('1')
    net.propose('1', 'a')
    net.node('1').rn.proposeConfChange(cc('RemoveNode', '1'))
    net.stabilize()
    assert.equal(net.node('1').rn.raft.state, 'Follower')
    assert.deepEqual(net.node('1').confState.voters, ['2', '3'])
    assert.throws(() => net.node('1').rn.propose(new Uint8Array([1])), (e) => isRaftError(e, 'ErrProposalDropped'))
    const l = net.electLeader()
    assert.ok(l === '2' || l === '3')
    net.propose(l, 'b')
    assert.deepEqual(net.node('2').applied.map((e) => e.data), ['a', 'b'])
    assert.deepEqual(net.node('3').applied.map((e) => e.data), ['a', 'b'])
    // The removed member never campaigns again.
    const term = net.node('1').rn.raft.term
    net.isolate('1')
    net.tick('1', 100)
    assert.equal(net.node('1').rn.raft.state, 'Follower')
    assert.equal(net.node('1').rn.raft.term, term)
  })

  test('removing a follower shrinks the quorum', () => {
    const net = new Network(['1', '2', '3'])
    net.campaign('1')
    net.node('1').rn.proposeConfChange(cc('RemoveNode', '3'))
    net.stabilize()
    assert.deepEqual(net.node('1').rn.status().config.voters, ['1', '2'])
    assert.equal(net.node('1').rn.status().progress?.['3'], undefined)
    net.isolate('3')
    net.propose('1', 'x')
    assert.deepEqual(net.node('2').applied.map((e) => e.data), ['x'])
  })

  test('one change at a time: a second conf change while one is pending becomes an empty entry', () => {
    const net = new Network(['1', '2', '3'])
    net.campaign('1')
    net.addNode('4')
    net.addNode('5')
    const rn = net.node('1').rn
    rn.proposeConfChange(cc('AddNode', '4'))
    rn.proposeConfChange(cc('AddNode', '5'))
    const ents = rn.raft.raftLog.unstableEntries()
    assert.deepEqual(ents.map((e) => e.type), ['ConfChange', 'Normal'])
    net.stabilize()
    assert.deepEqual(net.node('1').rn.status().config.voters, ['1', '2', '3', '4'])
    // Once applied, the next change is accepted.
    rn.proposeConfChange(cc('AddNode', '5'))
    net.stabilize()
    assert.deepEqual(net.node('1').rn.status().config.voters, ['1', '2', '3', '4', '5'])
    net.tick('1')
    net.stabilize()
    assert.deepEqual(net.node('5').confState.voters, ['1', '2', '3', '4', '5'])
  })

  test('removing the last voter is refused', () => {
    const net = new Network(['1'])
    net.campaign('1')
    assert.throws(() => net.node('1').rn.applyConfChange(cc('RemoveNode', '1')), (e) => isRaftError(e, 'ErrInvalidConfChange'))
  })
})
