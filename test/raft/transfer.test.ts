import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { EMPTY_BYTES, isRaftError } from '../../src/raft/index.js'
import { Network, b } from './network.js'

describe('leader transfer', () => {
  test('the leader hands over to an up-to-date transferee with MsgTimeoutNow', () => {
    const net = new Network(['1', '2', '3'], { checkQuorum: true, trace: true })
    net.campaign('1')
    const term = net.node('1').rn.raft.term
    net.node('1').rn.transferLeader('2')
    net.stabilize()
    assert.ok(net.trace.some((l) => l.startsWith('1->2 MsgTimeoutNow')))
    assert.equal(net.leader(), '2')
    assert.equal(net.node('2').rn.raft.term, term + 1)
    assert.equal(net.node('1').rn.raft.state, 'Follower')
  })

  test('a follower may ask; the request is forwarded to the leader', () => {
    const net = new Network(['1', '2', '3'])
    net.campaign('1')
    net.node('3').rn.transferLeader('3')
    net.stabilize()
    assert.equal(net.leader(), '3')
  })

  test('a lagging transferee is caught up first, then takes over', () => {
    const net = new Network(['1', '2', '3'])
    net.campaign('1')
    net.isolate('3')
    for (let i = 0; i < 5; i++) net.propose('1', `p${i}`)
    net.heal()
    net.node('1').rn.transferLeader('3')
    net.stabilize()
    assert.equal(net.leader(), '1', 'the probe to 3 is paused until the next heartbeat response')
    net.tick('1')
    net.stabilize()
    assert.equal(net.leader(), '3')
    assert.equal(net.node('3').applied.length, 5)
  })

  test('proposals are dropped during a transfer, which aborts after an election timeout', () => {
    const net = new Network(['1', '2', '3'])
    net.campaign('1')
    net.isolate('3')
    net.propose('1', 'x')
    net.node('1').rn.transferLeader('3')
    net.stabilize()
    assert.equal(net.node('1').rn.basicStatus().leadTransferee, '3')
    assert.throws(() => net.node('1').rn.propose(b('y')), (e) => isRaftError(e, 'ErrProposalDropped'))
    net.tick('1', 10)
    net.stabilize()
    assert.equal(net.node('1').rn.basicStatus().leadTransferee, '0')
    assert.equal(net.leader(), '1')
    net.propose('1', 'z')
    assert.deepEqual(net.node('2').applied.map((e) => e.data), ['x', 'z'])
  })

  test('transfer to a learner is ignored', () => {
    const net = new Network(['1', '2', '3'])
    net.campaign('1')
    net.addNode('4')
    net.node('1').rn.proposeConfChange({ type: 'AddLearnerNode', nodeId: '4', context: EMPTY_BYTES })
    net.stabilize()
    net.node('1').rn.transferLeader('4')
    assert.equal(net.node('1').rn.basicStatus().leadTransferee, '0')
  })
})

describe('proposals', () => {
  test('a follower forwards proposals to the leader', () => {
    const net = new Network(['1', '2', '3'])
    net.campaign('1')
    net.propose('3', 'from 3')
    for (const id of net.ids()) assert.deepEqual(net.node(id).applied.map((e) => e.data), ['from 3'])
  })

  test('dropped with ErrProposalDropped when there is no leader', () => {
    const net = new Network(['1', '2', '3'])
    assert.throws(() => net.node('2').rn.propose(b('x')), (e) => isRaftError(e, 'ErrProposalDropped'))
  })

  test('dropped by a candidate', () => {
    const net = new Network(['1', '2', '3'])
    net.isolate('1')
    net.campaign('1')
    assert.equal(net.node('1').rn.raft.state, 'Candidate')
    assert.throws(() => net.node('1').rn.propose(b('x')), (e) => isRaftError(e, 'ErrProposalDropped'))
  })

  test('dropped by a follower when forwarding is disabled', () => {
    const net = new Network(['1', '2', '3'], { disableProposalForwarding: true })
    net.campaign('1')
    assert.throws(() => net.node('2').rn.propose(b('x')), (e) => isRaftError(e, 'ErrProposalDropped'))
    net.propose('1', 'ok')
    assert.equal(net.node('2').applied.length, 1)
  })

  test('local message types are refused by step', () => {
    const net = new Network(['1', '2', '3'])
    const m = { type: 'MsgHup' as const, to: '1', from: '2', term: 0, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0, context: EMPTY_BYTES }
    assert.throws(() => net.node('1').rn.step(m), (e) => isRaftError(e, 'ErrStepLocalMsg'))
  })
})
