import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { Network, b, s } from './network.js'

describe('ReadIndex (ReadOnlySafe)', () => {
  test('on the leader: answered after a heartbeat round confirms leadership', () => {
    const net = new Network(['1', '2', '3'])
    net.campaign('1')
    net.propose('1', 'x')
    const commit = net.node('1').rn.raft.raftLog.committed
    net.node('1').rn.readIndex(b('req1'))
    net.processAll()
    assert.equal(net.node('1').readStates.length, 0, 'not before the heartbeat round')
    assert.ok(net.queue.some((m) => m.type === 'MsgHeartbeat' && s(m.context) === 'req1'))
    net.stabilize()
    assert.deepEqual(
      net.node('1').readStates.map((r) => [r.index, s(r.requestCtx)]),
      [[commit, 'req1']],
    )
  })

  test('a partitioned leader cannot serve a read', () => {
    const net = new Network(['1', '2', '3'])
    net.campaign('1')
    net.isolate('1')
    net.node('1').rn.readIndex(b('r'))
    net.stabilize()
    assert.equal(net.node('1').readStates.length, 0)
  })

  test('via a follower: forwarded to the leader and answered with MsgReadIndexResp', () => {
    const net = new Network(['1', '2', '3'])
    net.campaign('1')
    net.propose('1', 'x')
    net.node('2').rn.readIndex(b('f'))
    net.stabilize()
    assert.deepEqual(
      net.node('2').readStates.map((r) => [r.index, s(r.requestCtx)]),
      [[net.node('1').rn.raft.raftLog.committed, 'f']],
    )
  })

  test('a single-voter cluster answers at once', () => {
    const net = new Network(['1'])
    net.campaign('1')
    net.node('1').rn.readIndex(b('solo'))
    const rd = net.node('1').rn.ready()
    assert.equal(rd.messages.length, 0)
    assert.equal(rd.readStates.length, 1)
    assert.equal(s(rd.readStates[0]!.requestCtx), 'solo')
    net.node('1').rn.advance(rd)
  })

  test('a new leader holds reads until it has committed an entry of its term', () => {
    const net = new Network(['1', '2', '3'])
    net.campaign('1')
    net.propose('1', 'x')
    // Node 2 wins, but acks of its empty entry are lost.
    net.filter = (m) => m.type === 'MsgAppResp' && m.to === '2'
    net.campaign('2')
    assert.equal(net.node('2').rn.raft.state, 'Leader')
    const noop = net.node('2').rn.raft.raftLog.lastIndex()
    net.node('2').rn.readIndex(b('held'))
    net.stabilize()
    assert.equal(net.node('2').readStates.length, 0)
    net.filter = undefined
    net.tick('2')
    net.stabilize()
    assert.deepEqual(net.node('2').readStates.map((r) => [r.index, s(r.requestCtx)]), [[noop, 'held']])
  })

  test('a follower without a leader drops the read', () => {
    const net = new Network(['1', '2', '3'])
    net.node('2').rn.readIndex(b('nobody'))
    net.stabilize()
    assert.equal(net.node('2').readStates.length, 0)
  })
})
