// Ports the cases of etcd's server/mvcc/key_index_test.go.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { KeyIndex } from '../../src/mvcc/key-index.js'
import type { Generation } from '../../src/mvcc/key-index.js'
import type { Revision } from '../../src/mvcc/revision.js'
import { RevisionSet } from '../../src/mvcc/revision.js'

type R = number | [number, number]
const rev = (r: R): Revision => (typeof r === 'number' ? { main: r, sub: 0 } : { main: r[0], sub: r[1] })
/** A generation: created, version, revisions. */
const gen = (created: R, version: number, ...revs: R[]): Generation => ({ created: rev(created), version, revs: revs.map(rev) })
const EMPTY_GEN = gen(0, 0)

function shape(ki: KeyIndex): { modified: Revision; generations: Generation[] } {
  return { modified: ki.modified, generations: ki.generations }
}

/**
 * key "foo", rev 16:
 *   {2, 4, 6(t)} {8, 10, 12(t)} {14, 15.1, 16(t)} {}
 */
function newTestKeyIndex(): KeyIndex {
  const ki = new KeyIndex('foo')
  ki.put(rev(2))
  ki.put(rev(4))
  ki.tombstone(rev(6))
  ki.put(rev(8))
  ki.put(rev(10))
  ki.tombstone(rev(12))
  ki.put(rev(14))
  ki.put(rev([15, 1]))
  ki.tombstone(rev(16))
  return ki
}

describe('KeyIndex', () => {
  it('get: the revision, creation and version at each revision', () => {
    const ki = newTestKeyIndex()
    ki.compact(4, new RevisionSet())
    const cases: [number, R, R, number][] = [
      // [atRev, modified, created, version]; modified 0 = not found
      [17, 0, 0, 0],
      [16, 0, 0, 0],
      [15, [15, 1], 14, 2],
      [14, 14, 14, 1],
      [13, 0, 0, 0],
      [12, 0, 0, 0],
      [11, 10, 8, 2],
      [10, 10, 8, 2],
      [9, 8, 8, 1],
      [8, 8, 8, 1],
      [7, 0, 0, 0],
      [6, 0, 0, 0],
      [5, 4, 2, 2],
      [4, 4, 2, 2],
      [3, 0, 0, 0],
      [2, 0, 0, 0],
      [1, 0, 0, 0],
      [0, 0, 0, 0],
    ]
    for (const [at, mod, created, version] of cases) {
      const got = ki.get(at)
      if (mod === 0) assert.equal(got, undefined, `get(${at})`)
      else assert.deepEqual(got, { modified: rev(mod), created: rev(created), version }, `get(${at})`)
    }
  })

  it('get before compaction finds the generation of each revision', () => {
    const ki = newTestKeyIndex()
    const live: Record<number, number | undefined> = { 0: undefined, 1: undefined, 2: 2, 3: 2, 4: 2, 5: 2, 6: undefined, 7: undefined, 8: 8, 9: 8, 10: 8, 11: 8, 12: undefined, 13: undefined }
    for (const [at, created] of Object.entries(live)) {
      assert.equal(ki.get(Number(at))?.created.main, created, `get(${at})`)
    }
  })

  it('since: revisions from a revision on, the last sub revision per main', () => {
    const ki = newTestKeyIndex()
    ki.compact(4, new RevisionSet())
    const all: R[] = [4, 6, 8, 10, 12, 14, [15, 1], 16]
    const cases: [number, number][] = [
      [17, 8], [16, 7], [15, 6], [14, 5], [13, 5], [12, 4], [11, 4], [10, 3], [9, 3],
      [8, 2], [7, 2], [6, 1], [5, 1], [4, 0], [3, 0], [2, 0], [1, 0], [0, 0],
    ]
    for (const [since, from] of cases) assert.deepEqual(ki.since(since), all.slice(from).map(rev), `since(${since})`)
  })

  it('since keeps only the highest sub revision of a main revision', () => {
    const ki = new KeyIndex('foo')
    ki.put(rev([3, 0]))
    ki.put(rev([3, 2]))
    ki.put(rev([4, 1]))
    assert.deepEqual(ki.since(0), [rev([3, 2]), rev([4, 1])])
  })

  it('put appends to the current generation', () => {
    const ki = new KeyIndex('foo')
    ki.put(rev(5))
    assert.deepEqual(shape(ki), { modified: rev(5), generations: [gen(5, 1, 5)] })
    ki.put(rev(7))
    assert.deepEqual(shape(ki), { modified: rev(7), generations: [gen(5, 2, 5, 7)] })
    assert.throws(() => ki.put(rev(7)), /invariant/)
  })

  it('restore makes one generation from the latest record', () => {
    const ki = new KeyIndex('foo')
    ki.restore(rev(5), rev(7), 2)
    assert.deepEqual(shape(ki), { modified: rev(7), generations: [gen(5, 2, 7)] })
  })

  it('tombstone ends the generation; a tombstone on a deleted key is refused', () => {
    const ki = new KeyIndex('foo')
    ki.put(rev(5))
    assert.equal(ki.tombstone(rev(7)), true)
    assert.deepEqual(shape(ki), { modified: rev(7), generations: [gen(5, 2, 5, 7), EMPTY_GEN] })
    ki.put(rev(8))
    ki.put(rev(9))
    assert.equal(ki.tombstone(rev(15)), true)
    assert.deepEqual(shape(ki), { modified: rev(15), generations: [gen(5, 2, 5, 7), gen(8, 3, 8, 9, 15), EMPTY_GEN] })
    assert.equal(ki.tombstone(rev(16)), false)
    assert.equal(ki.modified.main, 15)
  })

  // [compact rev, expected generations, expected kept revisions]
  const compactCases: [number, Generation[], R[]][] = [
    [1, [gen(2, 3, 2, 4, 6), gen(8, 3, 8, 10, 12), gen(14, 3, 14, [15, 1], 16), EMPTY_GEN], []],
    [2, [gen(2, 3, 2, 4, 6), gen(8, 3, 8, 10, 12), gen(14, 3, 14, [15, 1], 16), EMPTY_GEN], [2]],
    [3, [gen(2, 3, 2, 4, 6), gen(8, 3, 8, 10, 12), gen(14, 3, 14, [15, 1], 16), EMPTY_GEN], [2]],
    [4, [gen(2, 3, 4, 6), gen(8, 3, 8, 10, 12), gen(14, 3, 14, [15, 1], 16), EMPTY_GEN], [4]],
    [5, [gen(2, 3, 4, 6), gen(8, 3, 8, 10, 12), gen(14, 3, 14, [15, 1], 16), EMPTY_GEN], [4]],
    [6, [gen(8, 3, 8, 10, 12), gen(14, 3, 14, [15, 1], 16), EMPTY_GEN], []],
    [7, [gen(8, 3, 8, 10, 12), gen(14, 3, 14, [15, 1], 16), EMPTY_GEN], []],
    [8, [gen(8, 3, 8, 10, 12), gen(14, 3, 14, [15, 1], 16), EMPTY_GEN], [8]],
    [9, [gen(8, 3, 8, 10, 12), gen(14, 3, 14, [15, 1], 16), EMPTY_GEN], [8]],
    [10, [gen(8, 3, 10, 12), gen(14, 3, 14, [15, 1], 16), EMPTY_GEN], [10]],
    [11, [gen(8, 3, 10, 12), gen(14, 3, 14, [15, 1], 16), EMPTY_GEN], [10]],
    [12, [gen(14, 3, 14, [15, 1], 16), EMPTY_GEN], []],
    [13, [gen(14, 3, 14, [15, 1], 16), EMPTY_GEN], []],
    [14, [gen(14, 3, 14, [15, 1], 16), EMPTY_GEN], [14]],
    [15, [gen(14, 3, [15, 1], 16), EMPTY_GEN], [[15, 1]]],
    [16, [EMPTY_GEN], []],
  ]

  function compactAndKeep(ki: KeyIndex, i: number): void {
    const [at, wantGens, wantKept] = compactCases[i]!
    const before = ki.clone()
    const kept = new RevisionSet()
    ki.keep(at, kept)
    assert.deepEqual(shape(ki), shape(before), `#${i} keep(${at}) must not change the index`)
    assert.deepEqual(kept.sorted(), wantKept.map(rev), `#${i} keep(${at})`)
    const available = new RevisionSet()
    ki.compact(at, available)
    assert.deepEqual(ki.generations, wantGens, `#${i} compact(${at})`)
    assert.deepEqual(ki.modified, rev(16))
    assert.deepEqual(available.sorted(), wantKept.map(rev), `#${i} compact(${at}) kept`)
  }

  it('compact and keep, continuously', () => {
    const ki = newTestKeyIndex()
    for (let i = 0; i < compactCases.length; i++) compactAndKeep(ki, i)
    assert.ok(ki.isEmpty())
  })

  it('compact and keep, jumping', () => {
    const ki = newTestKeyIndex()
    for (let i = 0; i < compactCases.length; i++) {
      if ((i % 2 === 0 && i < 6) || (i % 2 === 1 && i > 6)) compactAndKeep(ki, i)
    }
  })

  it('compact and keep, once', () => {
    for (let i = 0; i < compactCases.length; i++) compactAndKeep(newTestKeyIndex(), i)
  })

  it('compact beyond the last revision keeps the latest revision of a live key', () => {
    const ki = new KeyIndex('foo')
    ki.put(rev(1))
    ki.put(rev(2))
    const available = new RevisionSet()
    ki.compact(3, available)
    assert.deepEqual(shape(ki), { modified: rev(2), generations: [gen(1, 2, 2)] })
    assert.deepEqual(available.sorted(), [rev(2)])
  })

  it('a key written once (kept without arrays) answers get, since, compact and keep as etcd', () => {
    const ki = new KeyIndex('foo')
    ki.put(rev([5, 2]))
    assert.deepEqual(ki.get(4), undefined)
    assert.deepEqual(ki.get(5), { modified: rev([5, 2]), created: rev([5, 2]), version: 1 })
    assert.deepEqual(ki.since(5), [rev([5, 2])])
    assert.deepEqual(ki.since(6), [])
    const below = new RevisionSet()
    ki.keep(4, below)
    ki.compact(4, below)
    assert.deepEqual(below.sorted(), [], 'nothing at or below 4 to keep')
    const kept = new RevisionSet()
    ki.keep(9, kept)
    assert.deepEqual(kept.sorted(), [rev([5, 2])])
    const at = new RevisionSet()
    ki.compact(9, at)
    assert.deepEqual(at.sorted(), [rev([5, 2])], 'the only revision of a live key stays')
    assert.deepEqual(shape(ki), { modified: rev([5, 2]), generations: [gen([5, 2], 1, [5, 2])] })
    // a second put, a delete and a new life: the general shapes, then back to a lone revision
    ki.put(rev(10))
    assert.equal(ki.tombstone(rev(11)), true)
    ki.put(rev(12))
    assert.deepEqual(shape(ki), { modified: rev(12), generations: [gen([5, 2], 3, [5, 2], 10, 11), gen(12, 1, 12)] })
    assert.deepEqual(ki.get(10), { modified: rev(10), created: rev([5, 2]), version: 2 })
    assert.equal(ki.get(11), undefined)
    assert.deepEqual(ki.get(12), { modified: rev(12), created: rev(12), version: 1 })
    assert.deepEqual(ki.since(0), [rev([5, 2]), rev(10), rev(11), rev(12)])
    const after = new RevisionSet()
    ki.compact(11, after)
    assert.deepEqual(shape(ki), { modified: rev(12), generations: [gen(12, 1, 12)] })
    assert.deepEqual(after.sorted(), [], 'the ended generation is gone with its tombstone')
    assert.deepEqual(ki.get(12), { modified: rev(12), created: rev(12), version: 1 })
    assert.equal(ki.get(11), undefined)
    assert.equal(ki.tombstone(rev(13)), true)
    assert.equal(ki.tombstone(rev(14)), false)
    ki.compact(13, new RevisionSet())
    assert.ok(ki.isEmpty())
  })

  it('isEmpty', () => {
    assert.equal(new KeyIndex('foo').isEmpty(), true)
    const ki = new KeyIndex('foo')
    ki.restore(rev(1), rev(2), 2)
    assert.equal(ki.isEmpty(), false)
  })
})
