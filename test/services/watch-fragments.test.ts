/**
 * Watch fragmenting (etcd's sendFragments): sizes are protobuf's, and a watch created with
 * `fragment` gets an oversized revision split into parts that join back to the same events.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { Store } from '../../src/store.js'
import type { WatchEvent, WatchResponse } from '../../src/api/messages.js'
import { fragmentWatchResponse, watchResponseSize } from '../../src/services/watch-fragments.js'
import { take } from '../watch/support.js'

const enc = (s: string) => new TextEncoder().encode(s)

function response(events: WatchEvent[]): WatchResponse {
  return { header: { clusterId: '1', memberId: '2', revision: 3, raftTerm: 4 }, watchId: '0', created: false, canceled: false, compactRevision: 0, cancelReason: '', fragment: false, events }
}

function put(key: string, value: string): WatchEvent {
  return { type: 'PUT', kv: { key: enc(key), createRevision: 3, modRevision: 3, version: 1, value: enc(value), lease: '0' } }
}

describe('watch response size', () => {
  it('is the size of the protobuf encoding', () => {
    // header: 4 fields of 2 bytes, inside a 2-byte field = 10
    assert.equal(watchResponseSize(response([])), 10)
    // kv: key 3 + 3 revisions/version 6 + value 3 = 12; event: kv field 14; events field 16
    assert.equal(watchResponseSize(response([put('a', 'b')])), 26)
    // a DELETE type adds 2; a 200-byte value takes a 2-byte length; a negative lease 11 bytes
    const del: WatchEvent = { type: 'DELETE', kv: { key: enc('a'), createRevision: 0, modRevision: 3, version: 0, value: new Uint8Array(0), lease: '0' } }
    assert.equal(watchResponseSize(response([del])), 10 + 2 + 2 + 2 + 3 + 2)
    const big = put('a', 'x'.repeat(200))
    assert.equal(watchResponseSize(response([big])), 10 + 2 + 2 + 2 + 3 + 6 + 203)
    const leased: WatchEvent = { type: 'PUT', kv: { ...put('a', 'b').kv, lease: '-1' } }
    assert.equal(watchResponseSize(response([leased])), 26 + 11)
    assert.equal(watchResponseSize({ ...response([]), watchId: '5', created: true, cancelReason: 'no', fragment: true }), 10 + 2 + 2 + 4 + 2)
  })

  it('splits as etcd: parts under the limit, at least one event each, all but the last marked', () => {
    const events = Array.from({ length: 10 }, (_, i) => put(`k${i}`, 'v'.repeat(100)))
    const r = response(events)
    assert.deepEqual(fragmentWatchResponse(r, watchResponseSize(r) + 1), [r])
    assert.deepEqual(fragmentWatchResponse(response([put('a', 'x'.repeat(5000))]), 100).length, 1)
    const parts = fragmentWatchResponse(r, 400)
    assert.ok(parts.length > 1)
    assert.deepEqual(parts.map((p) => p.fragment), [...parts.slice(1).map(() => true), false])
    assert.deepEqual(parts.flatMap((p) => p.events), events)
    for (const p of parts) {
      assert.ok(p.events.length >= 1)
      if (p.events.length > 1) assert.ok(watchResponseSize({ ...p, fragment: true }) < 400, 'a part with several events stays under the limit')
    }
    // a single event over the limit still goes, alone
    const huge = fragmentWatchResponse(response([put('a', 'x'.repeat(500)), put('b', 'y')]), 100)
    assert.deepEqual(huge.map((p) => p.events.length), [1, 1])
  })
})

describe('watch with fragment', () => {
  it('splits a revision over --max-request-bytes + 512 KiB into fragments that join to the same events', async () => {
    // 10 keys of 400 KiB; deleting them is one revision whose events carry 4 MiB of prevKv
    const store = await Store.open({ members: 1, limits: { maxRequestBytes: 512 * 1024 } })
    try {
      const value = 'v'.repeat(400 * 1024)
      for (let i = 0; i < 10; i++) await store.kv.put({ key: `big/${i}`, value })
      const fragmented = await store.watch.watch({ key: 'big/', rangeEnd: 'big0', prevKv: true, fragment: true })
      const whole = await store.watch.watch({ key: 'big/', rangeEnd: 'big0', prevKv: true })
      await take(fragmented, 1)
      await take(whole, 1)
      await store.kv.deleteRange({ key: 'big/', rangeEnd: 'big0' })
      const [one] = await take(whole, 1)
      assert.equal(one!.events.length, 10)
      assert.equal(one!.fragment, false)
      const parts: WatchResponse[] = []
      while (parts.length === 0 || parts[parts.length - 1]!.fragment) parts.push(...(await take(fragmented, 1)))
      // limit 1 MiB: two 400 KiB events per part
      assert.deepEqual(parts.map((p) => p.events.length), [2, 2, 2, 2, 2])
      assert.deepEqual(parts.map((p) => p.fragment), [true, true, true, true, false])
      assert.ok(parts.every((p) => p.header.revision === one!.header.revision && p.watchId === parts[0]!.watchId))
      assert.deepEqual(parts.flatMap((p) => p.events), one!.events)
      assert.ok(parts.flatMap((p) => p.events).every((e) => e.prevKv?.value.length === value.length))
      // small revisions are not fragmented
      await store.kv.put({ key: 'big/x', value: 'small' })
      const [next] = await take(fragmented, 1)
      assert.equal(next!.fragment, false)
      assert.equal(next!.events.length, 1)
    } finally {
      await store.close()
    }
  })
})
