import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { toBytes, toText } from '../../src/api/bytes.js'
import type { Revision } from '../../src/mvcc/revision.js'
import { TreeIndex } from '../../src/mvcc/tree-index.js'

const b = toBytes
const rev = (main: number, sub = 0): Revision => ({ main, sub })
const ALL = new Uint8Array(0)

/** foo:1(put) 3(put) 5(del); foo1:2(put) 4.1(put); foo2:4.0(put); bar:6(put) */
function newIndex(): TreeIndex {
  const ti = new TreeIndex()
  ti.put(b('foo'), rev(1))
  ti.put(b('foo1'), rev(2))
  ti.put(b('foo'), rev(3))
  ti.put(b('foo2'), rev(4, 0))
  ti.put(b('foo1'), rev(4, 1))
  assert.ok(ti.tombstone(b('foo'), rev(5)))
  ti.put(b('bar'), rev(6))
  return ti
}

describe('TreeIndex', () => {
  it('get at revisions', () => {
    const ti = newIndex()
    assert.equal(ti.get(b('foo'), 0), undefined)
    assert.deepEqual(ti.get(b('foo'), 1), { modified: rev(1), created: rev(1), version: 1 })
    assert.deepEqual(ti.get(b('foo'), 4), { modified: rev(3), created: rev(1), version: 2 })
    assert.equal(ti.get(b('foo'), 5), undefined)
    assert.deepEqual(ti.get(b('foo1'), 4), { modified: rev(4, 1), created: rev(2), version: 2 })
    assert.equal(ti.get(b('nope'), 10), undefined)
    assert.equal(ti.tombstone(b('nope'), rev(7)), false)
    assert.equal(ti.tombstone(b('foo'), rev(7)), false, 'already deleted')
  })

  it('range: single key, [key, end), key to infinity, empty when end <= key', () => {
    const ti = newIndex()
    const keys = (r: { keys: Uint8Array[] }): string[] => r.keys.map(toText)
    const cases: [string, string | undefined, number, string[], Revision[]][] = [
      ['foo', undefined, 4, ['foo'], [rev(3)]],
      ['foo', undefined, 6, [], []],
      ['foo', 'foo3', 4, ['foo', 'foo1', 'foo2'], [rev(3), rev(4, 1), rev(4, 0)]],
      ['foo', 'foo3', 2, ['foo', 'foo1'], [rev(1), rev(2)]],
      ['foo', 'foo3', 6, ['foo1', 'foo2'], [rev(4, 1), rev(4, 0)]],
      ['a', '', 6, ['bar', 'foo1', 'foo2'], [rev(6), rev(4, 1), rev(4, 0)]],
      ['foo1', '', 6, ['foo1', 'foo2'], [rev(4, 1), rev(4, 0)]],
      ['foo1', 'foo1', 6, [], []],
      ['foo2', 'foo1', 6, [], []],
      ['foo1', 'foo2', 6, ['foo1'], [rev(4, 1)]],
    ]
    for (const [key, end, at, wantKeys, wantRevs] of cases) {
      const r = ti.range(b(key), end === undefined ? undefined : end === '' ? ALL : b(end), at)
      assert.deepEqual(keys(r), wantKeys, `range(${key}, ${end}, ${at})`)
      assert.deepEqual(r.revs, wantRevs, `range(${key}, ${end}, ${at}) revs`)
    }
  })

  it('revisions honour limit but count every key; countRevisions', () => {
    const ti = newIndex()
    assert.deepEqual(ti.revisions(b('a'), ALL, 6, 2), { revs: [rev(6), rev(4, 1)], total: 3 })
    assert.deepEqual(ti.revisions(b('a'), ALL, 6, 0), { revs: [rev(6), rev(4, 1), rev(4, 0)], total: 3 })
    assert.deepEqual(ti.revisions(b('foo'), undefined, 3, 0), { revs: [rev(3)], total: 1 })
    assert.deepEqual(ti.revisions(b('foo'), undefined, 5, 0), { revs: [], total: 0 })
    assert.equal(ti.countRevisions(b('a'), ALL, 4), 3)
    assert.equal(ti.countRevisions(b('a'), ALL, 6), 3)
    assert.equal(ti.countRevisions(b('foo'), undefined, 6), 0)
  })

  it('rangeSince returns every change in revision order', () => {
    const ti = newIndex()
    assert.deepEqual(ti.rangeSince(b('foo'), b('foo3'), 1), [rev(1), rev(2), rev(3), rev(4, 0), rev(4, 1), rev(5)])
    assert.deepEqual(ti.rangeSince(b('a'), ALL, 5), [rev(5), rev(6)])
    assert.deepEqual(ti.rangeSince(b('a'), ALL, 4), [rev(4, 0), rev(4, 1), rev(5), rev(6)])
    assert.deepEqual(ti.rangeSince(b('foo'), undefined, 3), [rev(3), rev(5)])
    assert.deepEqual(ti.rangeSince(b('nope'), undefined, 0), [])
  })

  it('compact drops history and removes keys left empty; keep agrees', () => {
    const ti = newIndex()
    const kept = ti.keep(5)
    const available = ti.compact(5)
    assert.deepEqual(available.sorted(), kept.sorted())
    // foo was deleted at 5: gone. foo1 keeps 4.1, foo2 keeps 4.0; bar (6) is above.
    assert.deepEqual(available.sorted(), [rev(4, 0), rev(4, 1)])
    assert.equal(ti.size, 3)
    assert.equal(ti.keyIndex(b('foo')), undefined)
    assert.deepEqual(ti.get(b('foo1'), 5), { modified: rev(4, 1), created: rev(2), version: 2 })
    ti.put(b('foo'), rev(7))
    assert.deepEqual(ti.get(b('foo'), 7), { modified: rev(7), created: rev(7), version: 1 })
  })

  it('lookup answers a key\'s history or a new key\'s name, and put files the key from either', () => {
    const ti = newIndex()
    const foo = ti.lookup(b('foo'))
    assert.ok(typeof foo !== 'string', 'a deleted key still has its history')
    assert.equal(foo.get(5), undefined)
    ti.put(b('foo'), rev(7), undefined, foo)
    assert.deepEqual(ti.get(b('foo'), 7)?.created, rev(7), 'a new generation')
    const fresh = ti.lookup(b('baz'))
    assert.equal(typeof fresh, 'string', 'no history: the name to file it under')
    ti.put(b('baz'), rev(8), undefined, fresh)
    assert.equal(ti.size, 5)
    assert.deepEqual(ti.get(b('baz'), 8)?.modified, rev(8))
    assert.deepEqual(ti.range(b('a'), b('z'), 8).keys.map(toText), ['bar', 'baz', 'foo', 'foo1', 'foo2'])
    assert.equal(ti.lookup(b('baz')), ti.keyIndex(b('baz')), 'now found by both')
  })

  it('holds 1M keys: puts, ranges and compaction stay fast', () => {
    const ti = new TreeIndex()
    const n = 1_000_000
    const keys: Uint8Array[] = new Array(n)
    for (let i = 0; i < n; i++) keys[i] = b(`/registry/pods/ns-${i % 100}/pod-${(i * 7919) % n}`)
    global.gc?.()
    const heapBefore = process.memoryUsage().heapUsed
    // CPU time, not wall time: the assertion must hold on a loaded CI machine.
    const cpu0 = process.cpuUsage()
    const t0 = performance.now()
    for (let i = 0; i < n; i++) ti.put(keys[i]!, rev(i + 2))
    const wallMs = performance.now() - t0
    const cpu = process.cpuUsage(cpu0)
    const ms = (cpu.user + cpu.system) / 1000
    const mb = (process.memoryUsage().heapUsed - heapBefore) / 2 ** 20
    const t1 = performance.now()
    const { total } = ti.revisions(b('/registry/pods/ns-1/'), b('/registry/pods/ns-10'), n + 2, 10)
    const rangeMs = performance.now() - t1
    console.log(`TreeIndex: 1M key puts in ${ms.toFixed(0)} ms CPU (${wallMs.toFixed(0)} ms wall), ~${mb.toFixed(0)} MB heap (${((mb * 2 ** 20) / n).toFixed(0)} B/key); range over ${total} keys in ${rangeMs.toFixed(0)} ms`)
    assert.equal(ti.size, n)
    assert.equal(total, 10_000)
    assert.ok(ms < 10_000, `1M puts took ${ms} ms of CPU`)
  })
})
