/**
 * The watch, lease and lock checkers on hand-made records that are and are not valid.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { checkWatches, assertWatchesValid, checkLeases, checkLocks, assertMutualExclusion, inRange } from '../../src/testing/index.js'
import type { KvEvent, WatcherRecord } from '../../src/testing/index.js'

const put = (revision: number, key: string, value: string): KvEvent => ({ revision, type: 'PUT', key, value })
const del = (revision: number, key: string): KvEvent => ({ revision, type: 'DELETE', key })

// revision 2: a=1; 3: b=1; 4: txn a=2, b=2; 5: delete a; 6: c=1 (outside the a..b prefix watchers' ranges)
const WRITES: KvEvent[] = [put(2, 'a', '1'), put(3, 'b', '1'), put(4, 'a', '2'), put(4, 'b', '2'), del(5, 'a'), put(6, 'c', '1')]

const watcher = (responses: KvEvent[][], extra: Partial<WatcherRecord> = {}): WatcherRecord => ({
  id: 'w1', key: 'a', rangeEnd: 'c', startRevision: 2, responses: responses.map((events) => ({ events })), ...extra,
})

describe('watch checker', () => {
  it('accepts a complete, ordered delivery, however responses batch revisions', () => {
    assertWatchesValid(WRITES, [
      watcher([[put(2, 'a', '1')], [put(3, 'b', '1'), put(4, 'a', '2'), put(4, 'b', '2')], [del(5, 'a')]], { complete: 6 }),
      watcher([[put(2, 'a', '1'), put(3, 'b', '1'), put(4, 'a', '2'), put(4, 'b', '2'), del(5, 'a')]], { id: 'w2' }),
      // a watcher that lags is fine without `complete`
      watcher([[put(2, 'a', '1')]], { id: 'w3' }),
      // a single-key watcher from revision 4 on, and a from-key watcher
      { id: 'w4', key: 'a', startRevision: 4, responses: [{ events: [put(4, 'a', '2')] }, { events: [del(5, 'a')] }], complete: 6 },
      { id: 'w5', key: 'b', rangeEnd: '\0', startRevision: 5, responses: [{ events: [put(6, 'c', '1')] }], complete: 6 },
    ])
  })

  const bad: { name: string; w: WatcherRecord; kind: string }[] = [
    { name: 'a gap', w: watcher([[put(2, 'a', '1')], [put(4, 'a', '2'), put(4, 'b', '2')]]), kind: 'gap' },
    { name: 'a duplicate revision', w: watcher([[put(2, 'a', '1')], [put(2, 'a', '1'), put(3, 'b', '1')]]), kind: 'duplicate' },
    { name: 'revisions out of order', w: watcher([[put(3, 'b', '1')], [put(2, 'a', '1')]]), kind: 'out-of-order' },
    { name: 'a revision split over two responses', w: watcher([[put(2, 'a', '1'), put(3, 'b', '1'), put(4, 'a', '2')], [put(4, 'b', '2')]]), kind: 'split-revision' },
    { name: 'a wrong value', w: watcher([[put(2, 'a', '1'), put(3, 'b', '7')]]), kind: 'wrong-event' },
    { name: 'a put reported as a delete', w: watcher([[put(2, 'a', '1'), put(3, 'b', '1'), put(4, 'a', '2'), put(4, 'b', '2'), put(5, 'a', '')]]), kind: 'wrong-event' },
    { name: 'an event that never happened', w: watcher([[put(2, 'a', '1'), put(3, 'b', '1'), put(4, 'a', '2'), put(4, 'b', '2'), del(5, 'a'), put(7, 'a', '9')]]), kind: 'wrong-event' },
    { name: 'an event outside the range', w: watcher([[put(2, 'a', '1'), put(3, 'b', '1'), put(4, 'a', '2'), put(4, 'b', '2'), del(5, 'a'), put(6, 'c', '1')]]), kind: 'outside-range' },
    { name: 'an event before the start revision', w: watcher([[put(2, 'a', '1'), put(3, 'b', '1')]], { startRevision: 3 }), kind: 'outside-range' },
    { name: 'a missing tail when the watcher must be complete', w: watcher([[put(2, 'a', '1'), put(3, 'b', '1')]], { complete: 6 }), kind: 'missing' },
    { name: 'a missing first revision', w: watcher([[put(3, 'b', '1')]]), kind: 'gap' },
  ]
  for (const c of bad) {
    it(`detects ${c.name}`, () => {
      const v = checkWatches(WRITES, [c.w])
      assert.ok(v.some((x) => x.kind === c.kind), `expected ${c.kind}, got ${JSON.stringify(v)}`)
      assert.throws(() => assertWatchesValid(WRITES, [c.w]), /watch guarantees broken/)
    })
  }

  it('ranges follow etcd: single key, [key, end), from key', () => {
    assert.ok(inRange('a', 'a', undefined) && !inRange('ab', 'a', ''))
    assert.ok(inRange('ab', 'a', 'b') && !inRange('b', 'a', 'b'))
    assert.ok(inRange('zzz', 'b', '\0') && !inRange('a', 'b', '\0'))
  })
})

describe('lease checker', () => {
  const leases = [
    { id: '1', ttlMs: 1000, grantedAt: 0, keepAlives: [800, 1600] },
    { id: '2', ttlMs: 1000, grantedAt: 0, revokedAt: 300 },
  ]
  it('accepts keys seen while their lease lives, or within the allowed bound after', () => {
    assert.deepEqual(checkLeases(leases, [
      { key: 'k1', lease: '1', time: 2500 }, // refreshed at 1600: alive until 2600
      { key: 'k1', lease: '1', time: 2900 }, // 300 ms late, allowed 500
      { key: 'k2', lease: '2', time: 250 },
      { key: 'k2', lease: '2', time: 700 },
    ], 500), [])
  })
  it('detects a key that outlived an expired lease', () => {
    const v = checkLeases(leases, [{ key: 'k1', lease: '1', time: 3200 }], 500)
    assert.equal(v.length, 1)
    assert.equal(v[0]!.leaseEnd, 2600)
    assert.match(v[0]!.message, /expired at 2600/)
  })
  it('keep-alives after the observation do not excuse it', () => {
    assert.equal(checkLeases([{ id: '1', ttlMs: 1000, grantedAt: 0, keepAlives: [5000] }], [{ key: 'k', lease: '1', time: 1600 }], 500).length, 1)
  })
  it('a refresh inside the read window excuses it (the key may have been read just after it)', () => {
    const l = [{ id: '1', ttlMs: 1000, grantedAt: 0, keepAlives: [5000] }]
    assert.deepEqual(checkLeases(l, [{ key: 'k', lease: '1', time: 1600, completed: 5200 }], 500), [])
    // the window ends before the refresh: still a violation, reported with its window
    const v = checkLeases(l, [{ key: 'k', lease: '1', time: 1600, completed: 4900 }], 500)
    assert.equal(v.length, 1)
    assert.match(v[0]!.message, /read 1600-4900/)
  })
  it('a refresh after a revoke does not bring the lease back', () => {
    const l = [{ id: '2', ttlMs: 1000, grantedAt: 0, revokedAt: 300, keepAlives: [2000] }]
    assert.equal(checkLeases(l, [{ key: 'k', lease: '2', time: 900, completed: 2100 }], 500).length, 1)
  })
  it('detects a key that outlived a revoke', () => {
    const v = checkLeases(leases, [{ key: 'k2', lease: '2', time: 900 }], 500)
    assert.equal(v.length, 1)
    assert.match(v[0]!.message, /revoked at 300/)
  })
  it('detects a key attached to a lease never granted', () => {
    assert.equal(checkLeases(leases, [{ key: 'k', lease: '9', time: 0 }], 500).length, 1)
  })
})

describe('lock checker', () => {
  it('accepts holds one after another, and a client re-acquiring its own lock', () => {
    assertMutualExclusion([
      { client: 'a', lock: 'L', acquired: 0, released: 10 },
      { client: 'b', lock: 'L', acquired: 10, released: 20 },
      { client: 'c', lock: 'L', acquired: 25, released: 30 },
      { client: 'c', lock: 'L', acquired: 26, released: 31 },
      { client: 'a', lock: 'M', acquired: 5, released: 40 },
    ])
  })
  it('detects two holders at once', () => {
    const v = checkLocks([{ client: 'a', lock: 'L', acquired: 0, released: 10 }, { client: 'b', lock: 'L', acquired: 5, released: 20 }])
    assert.equal(v.length, 1)
    assert.match(v[0]!.message, /client b acquired it at 5 while client a held it \[0, 10\]/)
  })
  it('an unknown release lasts forever, unless bounded by a known point', () => {
    assert.equal(checkLocks([{ client: 'a', lock: 'L', acquired: 0 }, { client: 'b', lock: 'L', acquired: 1000 }]).length, 1)
    assert.throws(() => assertMutualExclusion([{ client: 'a', lock: 'L', acquired: 0, released: Infinity }, { client: 'b', lock: 'L', acquired: 1000, released: 1001 }]), /held it \[0, ∞\]/)
    assert.equal(checkLocks([{ client: 'a', lock: 'L', acquired: 0, released: 700 }, { client: 'b', lock: 'L', acquired: 1000 }]).length, 0)
  })
})
