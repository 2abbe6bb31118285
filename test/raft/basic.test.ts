import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { Network } from './network.js'

describe('raft basics', () => {
  test('a 3-member cluster elects a leader and replicates a proposal', () => {
    const net = new Network(['1', '2', '3'])
    net.campaign('1')
    assert.equal(net.leader(), '1')
    net.propose('1', 'hello')
    for (const id of net.ids()) assert.deepEqual(net.node(id).applied.map((e) => e.data), ['hello'])
    net.checkLogMatching()
  })

  test('a single member elects itself and commits at once', () => {
    const net = new Network(['1'])
    net.campaign('1')
    assert.equal(net.leader(), '1')
    net.propose('1', 'x')
    assert.deepEqual(net.node('1').applied.map((e) => e.data), ['x'])
  })

  test('elections happen by ticking', () => {
    const net = new Network(['1', '2', '3'], { preVote: true, checkQuorum: true })
    const l = net.electLeader()
    net.propose(l, 'a')
    for (const id of net.ids()) assert.equal(net.node(id).applied.length, 1)
  })
})
