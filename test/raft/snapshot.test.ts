import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { MemoryStorage, RaftError, isRaftError } from '../../src/raft/index.js'
import type { Entry } from '../../src/raft/index.js'
import { Network, b } from './network.js'

function ents(...terms: [number, number][]): Entry[] {
  return terms.map(([index, term]) => ({ index, term, type: 'Normal', data: b(`${index}`) }))
}

describe('MemoryStorage', () => {
  const mk = () => {
    const st = new MemoryStorage()
    st.applySnapshot({ metadata: { index: 3, term: 3, confState: { voters: ['1'], learners: [] } }, data: b('') })
    st.append(ents([4, 4], [5, 5]))
    return st
  }
  const code = (f: () => unknown): string | undefined => {
    try {
      f()
      return undefined
    } catch (e) {
      assert.ok(e instanceof RaftError)
      return e.code
    }
  }
  test('term: compacted, snapshot boundary, present, unavailable', () => {
    const st = mk()
    assert.equal(code(() => st.term(2)), 'ErrCompacted')
    assert.equal(st.term(3), 3)
    assert.equal(st.term(5), 5)
    assert.equal(code(() => st.term(6)), 'ErrUnavailable')
  })
  test('entries: bounds and size limit', () => {
    const st = mk()
    assert.equal(code(() => st.entries(3, 5, Infinity)), 'ErrCompacted')
    assert.deepEqual(st.entries(4, 6, Infinity).map((e) => e.index), [4, 5])
    assert.deepEqual(st.entries(4, 6, 0).map((e) => e.index), [4], 'always at least one')
  })
  test('append overwrites a conflicting suffix and skips compacted entries', () => {
    const st = mk()
    st.append(ents([2, 2], [3, 3], [4, 6]))
    assert.equal(st.lastIndex(), 4)
    assert.equal(st.term(4), 6)
    assert.throws(() => st.append(ents([9, 9])), (e) => isRaftError(e, 'ErrInvariant'))
  })
  test('compact and createSnapshot', () => {
    const st = mk()
    assert.equal(code(() => st.compact(3)), 'ErrCompacted')
    const snap = st.createSnapshot(4, { voters: ['1', '2'], learners: [] }, b('s'))
    assert.equal(snap.metadata.term, 4)
    assert.equal(code(() => st.createSnapshot(4, undefined, b(''))), 'ErrSnapOutOfDate')
    st.compact(4)
    assert.equal(st.firstIndex(), 5)
    assert.equal(st.term(4), 4)
    assert.equal(code(() => st.applySnapshot(snap)), 'ErrSnapOutOfDate')
    assert.deepEqual(st.initialState().confState.voters, ['1', '2'])
  })
})

describe('snapshots', () => {
  test('a lagging follower whose entries were compacted is sent a snapshot and catches up', () => {
    const net = new Network(['1', '2', '3'], { trace: true })
    net.campaign('1')
    net.isolate('3')
    for (let i = 0; i < 10; i++) net.propose('1', `p${i}`)
    net.compact('1')
    net.compact('2')
    net.heal()
    net.tick('1')
    net.stabilize()
    assert.ok(net.trace.some((l) => l.startsWith('1->3 MsgSnap')), 'snapshot sent')
    assert.equal(net.node('3').storage.snapshot().metadata.index, net.node('1').storage.snapshot().metadata.index)
    assert.deepEqual(net.node('3').applied, net.node('1').applied)
    assert.equal(net.node('1').rn.status().progress?.['3']?.state, 'Replicate')
    net.propose('1', 'after')
    assert.deepEqual(net.node('3').applied, net.node('1').applied)
    net.checkLogMatching()
  })

  test('a failed snapshot (reportSnapshot Failure) is retried after the next heartbeat', () => {
    const net = new Network(['1', '2', '3'], { trace: true })
    net.campaign('1')
    net.isolate('3')
    for (let i = 0; i < 5; i++) net.propose('1', `p${i}`)
    net.compact('1')
    net.heal()
    net.ignored.add('MsgSnap') // the network loses it; deliver() reports Failure to the leader
    net.tick('1')
    net.stabilize()
    assert.equal(net.node('1').rn.status().progress?.['3']?.state, 'Probe')
    assert.equal(net.node('3').applied.length, 0)
    net.ignored.delete('MsgSnap')
    net.tick('1')
    net.stabilize()
    assert.deepEqual(net.node('3').applied, net.node('1').applied)
  })

  test('a restarted member recovers from its storage', () => {
    const net = new Network(['1', '2', '3'])
    net.campaign('1')
    for (let i = 0; i < 5; i++) net.propose('1', `p${i}`)
    net.compact('2')
    net.propose('1', 'last')
    net.crash('2')
    net.restart('2')
    assert.equal(net.node('2').rn.raft.raftLog.committed, net.node('1').rn.raft.raftLog.committed)
    assert.deepEqual(net.node('2').applied, net.node('1').applied)
  })
})
