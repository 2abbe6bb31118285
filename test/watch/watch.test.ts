/**
 * The Watch service and the typed Watcher on a real Store: ranges, history, compaction,
 * filters, prevKv, progress, cancel, one response per txn, concurrent writers checked
 * against the write history, slow consumers, leader changes and resuming after a crash.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { Store } from '../../src/store.js'
import { EtcdError } from '../../src/errors.js'
import type { WatchEvent } from '../../src/api/messages.js'
import type { PutResponse } from '../../src/api/messages.js'
import { drive, putWithRetry } from '../store/helpers.js'
import { checkAgainstHistory, show, take, takeEvents, text, type Written } from './support.js'

async function withStore<T>(opts: Parameters<typeof Store.open>[0], fn: (s: Store) => Promise<T>): Promise<T> {
  const store = await Store.open(opts)
  try {
    return await fn(store)
  } finally {
    await store.close()
  }
}

describe('watch service', () => {
  it('watches a key, a range and a prefix; events carry etcd KeyValues', async () => {
    await withStore({ members: 1 }, async (store) => {
      const one = await store.watch.watch({ key: 'a' })
      const range = await store.watch.watch({ key: 'a', rangeEnd: 'c' })
      const from = await store.watch.watch({ key: 'b', rangeEnd: '\0' })
      for (const s of [one, range, from]) {
        const [c] = await take(s, 1)
        assert.equal(c!.created, true)
        assert.equal(c!.header.revision, 1)
      }
      await store.kv.put({ key: 'a', value: '1' })
      await store.kv.put({ key: 'ab', value: '2' })
      await store.kv.put({ key: 'c', value: '3' })
      await store.kv.deleteRange({ key: 'a' })
      assert.deepEqual((await takeEvents(one, 2)).events.map(show), ['PUT a=1@2', 'DELETE a@5'])
      assert.deepEqual((await takeEvents(range, 3)).events.map(show), ['PUT a=1@2', 'PUT ab=2@3', 'DELETE a@5'])
      assert.deepEqual((await takeEvents(from, 1)).events.map(show), ['PUT c=3@4'])
      const put = (await takeEvents(range, 0)).events
      assert.equal(put.length, 0)
    })
  })

  it('replays history from a past start revision, then continues live, in order', async () => {
    await withStore({ members: 1 }, async (store) => {
      for (let i = 0; i < 5; i++) await store.kv.put({ key: `k${i}`, value: `v${i}` })
      const s = await store.watch.watch({ key: 'k', rangeEnd: 'l', startRevision: 3 })
      await store.kv.put({ key: 'k9', value: 'live' })
      const { events } = await takeEvents(s, 4)
      assert.deepEqual(events.map(show), ['PUT k1=v1@3', 'PUT k2=v2@4', 'PUT k3=v3@5', 'PUT k4=v4@6'])
      assert.deepEqual((await takeEvents(s, 1)).events.map(show), ['PUT k9=live@7'])
    })
  })

  it('a compacted start revision: created, then canceled with compactRevision and a header without revision (etcd 3.4)', async () => {
    await withStore({ members: 1 }, async (store) => {
      for (let i = 0; i < 5; i++) await store.kv.put({ key: `k${i}`, value: `v${i}` })
      await store.kv.compact({ revision: 4 })
      const s = await store.watch.watch({ key: 'k', rangeEnd: 'l', startRevision: 2 })
      const rs = await take(s, 3)
      assert.equal(rs.length, 2)
      assert.equal(rs[0]!.created, true)
      assert.deepEqual({ canceled: rs[1]!.canceled, compactRevision: rs[1]!.compactRevision, revision: rs[1]!.header.revision }, { canceled: true, compactRevision: 4, revision: 0 })
      // at the compaction revision itself history is still there
      const ok = await store.watch.watch({ key: 'k', rangeEnd: 'l', startRevision: 4 })
      assert.deepEqual((await takeEvents(ok, 3)).events.map(show), ['PUT k2=v2@4', 'PUT k3=v3@5', 'PUT k4=v4@6'])
    })
  })

  it('an empty range is created and canceled at once (watch id -1); an empty key watches "\\0"; bad requests are refused', async () => {
    await withStore({ members: 1 }, async (store) => {
      const bad = await store.watch.watch({ key: 'z', rangeEnd: 'a' })
      const rs = await take(bad, 2)
      assert.equal(rs.length, 1)
      assert.deepEqual([rs[0]!.created, rs[0]!.canceled, rs[0]!.watchId, rs[0]!.cancelReason], [true, true, '-1', 'mvcc: watcher range is empty'])
      const empty = await store.watch.watch({ key: '' })
      await take(empty, 1)
      await store.kv.put({ key: '\0', value: 'zero' })
      assert.deepEqual((await takeEvents(empty, 1)).events.map(show), ['PUT \0=zero@2'])
      await assert.rejects(store.watch.watch({ key: 'a', filters: ['NOPE'] } as never), /invalid WatchCreateRequest/)
      await assert.rejects(store.watch.watch({ key: 'a', bogus: 1 } as never), /invalid WatchCreateRequest/)
    })
  })

  it('filters NOPUT and NODELETE; prevKv is read at modRevision - 1', async () => {
    await withStore({ members: 1 }, async (store) => {
      const noPut = await store.watch.watch({ key: 'a', rangeEnd: 'b', filters: ['NOPUT'], prevKv: true })
      const noDel = await store.watch.watch({ key: 'a', rangeEnd: 'b', filters: ['NODELETE'], prevKv: true })
      await take(noPut, 1)
      await take(noDel, 1)
      await store.kv.put({ key: 'a1', value: 'x' })
      await store.kv.put({ key: 'a1', value: 'y' })
      await store.kv.deleteRange({ key: 'a1' })
      assert.deepEqual((await takeEvents(noPut, 1)).events.map(show), ['DELETE a1@4 (prev y@3)'])
      assert.deepEqual((await takeEvents(noDel, 2)).events.map(show), ['PUT a1=x@2', 'PUT a1=y@3 (prev x@2)'])
    })
  })

  it('all events of one txn arrive in one response', async () => {
    await withStore({ members: 3 }, async (store) => {
      const s = await store.watch.watch({ key: 'k', rangeEnd: 'l' })
      await take(s, 1)
      await store.kv.put({ key: 'k1', value: 'old' })
      await store.kv.txn({ success: [{ requestPut: { key: 'k2', value: 'a' } }, { requestDeleteRange: { key: 'k1' } }, { requestPut: { key: 'k3', value: 'b' } }, { requestPut: { key: 'zz', value: 'out' } }] })
      const { responses } = await takeEvents(s, 4)
      assert.equal(responses.length, 2)
      assert.deepEqual(responses[1]!.events.map(show), ['PUT k2=a@3', 'DELETE k1@3', 'PUT k3=b@3'])
      assert.equal(responses[1]!.header.revision, 3)
    })
  })

  it('reads issued before responses exist are answered in order: plain, prevKv-filled and the end', async () => {
    await withStore({ members: 1 }, async (store) => {
      const plain = await store.watch.watch({ key: 'k', rangeEnd: 'l' })
      const withPrev = await store.watch.watch({ key: 'k', rangeEnd: 'l', prevKv: true })
      for (const s of [plain, withPrev]) assert.equal((await s.next()).value?.created, true)
      // three reads waiting on each stream before anything is written
      const waiting = [plain, withPrev].map((s) => [s.next(), s.next(), s.next()])
      await store.kv.put({ key: 'k1', value: 'a' })
      await store.kv.put({ key: 'k1', value: 'b' })
      await plain.cancel()
      await withPrev.cancel()
      const [p, w] = await Promise.all(waiting.map((reads) => Promise.all(reads)))
      assert.deepEqual(p!.map((r) => (r.done ? 'done' : r.value.canceled ? 'canceled' : r.value.events.map(show).join())), ['PUT k1=a@2', 'PUT k1=b@3', 'canceled'])
      assert.deepEqual(w!.map((r) => (r.done ? 'done' : r.value.canceled ? 'canceled' : r.value.events.map(show).join())), ['PUT k1=a@2', 'PUT k1=b@3 (prev a@2)', 'canceled'])
      // after the end, every read is done, also one that was already waiting
      assert.equal((await plain.next()).done, true)
      const late = await store.watch.watch({ key: 'z' })
      await late.next() // created
      const pending = late.next()
      await late.cancel()
      const r = await pending
      assert.ok(r.done || r.value.canceled)
    })
  })

  it('a watch created while the store closes ends in a stream or an etcd error, never a broken invariant', async () => {
    for (let delay = 0; delay < 6; delay++) {
      const store = await Store.open({ members: 1 })
      const outcome = store.watch.watch({ key: 'a' }).then(
        () => 'stream',
        (err: unknown) => (err instanceof EtcdError ? 'etcd error' : String(err)),
      )
      // close after a few microtask turns: the watch is somewhere between its checks and its registration
      for (let i = 0; i < delay; i++) await Promise.resolve()
      await store.close()
      assert.ok(['stream', 'etcd error'].includes(await outcome), `close after ${delay} turns: ${await outcome}`)
    }
  })

  it('cancel ends the stream with a canceled response, and nothing after it', async () => {
    await withStore({ members: 1 }, async (store) => {
      const s = await store.watch.watch({ key: 'a' })
      await take(s, 1)
      await s.cancel()
      await store.kv.put({ key: 'a', value: '1' })
      const rs = await take(s, 3)
      assert.equal(rs.length, 1)
      assert.equal(rs[0]!.canceled, true)
      assert.equal(rs[0]!.watchId, s.watchId)
      assert.equal((await s.next()).done, true)
    })
  })

  it('progress: requested (watch id -1, the current revision) and periodic on the store clock, only without events', async () => {
    const store = await Store.open({ members: 1, clock: 'manual', seed: 3, watchProgressNotifyMs: 1000 })
    try {
      const s = await store.watch.watch({ key: 'a', progressNotify: true })
      const quiet = await store.watch.watch({ key: 'b' })
      await take(s, 1)
      await take(quiet, 1)
      await store.kv.put({ key: 'x', value: '1' })
      s.requestProgress()
      const [p] = await take(s, 1)
      assert.deepEqual([p!.watchId, p!.events.length, p!.header.revision, p!.created], ['-1', 0, 2, false])
      await store.sim.advance(1000)
      const [tick] = await take(s, 1)
      assert.deepEqual([tick!.watchId, tick!.events.length, tick!.header.revision], [s.watchId, 0, 2])
      // a tick after events were sent sends nothing; the next quiet one does
      await store.kv.put({ key: 'a', value: '1' })
      await take(s, 1)
      await store.sim.advance(1000)
      await store.sim.advance(1000)
      const [later] = await take(s, 1)
      assert.deepEqual([later!.events.length, later!.header.revision], [0, 3])
      // no progress for a watch that did not ask
      const none = await Promise.race([quiet.next(), new Promise((r) => setTimeout(() => r('none'), 50))])
      assert.equal(none, 'none')
    } finally {
      await store.close()
    }
  })

  it('concurrent writers on 3 members: every watcher (each member, historical and live) sees exactly the history', async () => {
    await withStore({ members: 3 }, async (store) => {
      const watchers = await Promise.all([
        ...store.memberNames.map((n) => store.member(n).watch.watch({ key: 'w/', rangeEnd: 'w0', prevKv: true })),
        store.watch.watch({ key: 'w/1', rangeEnd: 'w/2' }),
      ])
      for (const w of watchers) await take(w, 1)
      const written: Written[] = []
      const writer = async (id: number): Promise<void> => {
        for (let i = 0; i < 40; i++) {
          const key = `w/${id}/${i % 5}`
          if (i % 7 === 6) {
            const r = await store.kv.deleteRange({ key })
            if (r.deleted > 0) written.push({ rev: r.header.revision, events: [{ type: 'DELETE', key, value: '' }] })
          } else if (i % 5 === 4) {
            const r = await store.kv.txn({ success: [{ requestPut: { key: `w/${id}/t`, value: `${i}` } }, { requestPut: { key: `w/${id}/u`, value: `${i}` } }] })
            written.push({ rev: r.header.revision, events: [{ type: 'PUT', key: `w/${id}/t`, value: `${i}` }, { type: 'PUT', key: `w/${id}/u`, value: `${i}` }] })
          } else {
            const r = await store.member(store.memberNames[i % 3]!).kv.put({ key, value: `${id}.${i}` })
            written.push({ rev: r.header.revision, events: [{ type: 'PUT', key, value: `${id}.${i}` }] })
          }
        }
      }
      await Promise.all([0, 1, 2, 3].map(writer))
      const total = written.reduce((n, w) => n + w.events.length, 0)
      const late = await store.member('m2').watch.watch({ key: 'w/', rangeEnd: 'w0', startRevision: 10 })
      await take(late, 1)
      for (const [i, w] of watchers.slice(0, 3).entries()) {
        const { events, responses } = await takeEvents(w, total)
        checkAgainstHistory(events, written, (k) => k.startsWith('w/'), 1, `member m${i + 1}`)
        for (let j = 1; j < responses.length; j++) {
          const before = responses[j - 1]!.events.at(-1)!.kv.modRevision
          assert.ok(before < responses[j]!.events[0]!.kv.modRevision, 'a revision is never split across responses')
        }
      }
      const sub = written.flatMap((w) => w.events).filter((e) => e.key.startsWith('w/1/')).length
      checkAgainstHistory((await takeEvents(watchers[3]!, sub)).events, written, (k) => k.startsWith('w/1/'), 1, 'w/1 range')
      const fromTen = written.filter((w) => w.rev >= 10).reduce((n, w) => n + w.events.length, 0)
      checkAgainstHistory((await takeEvents(late, fromTen)).events, written, (k) => k.startsWith('w/'), 10, 'historical from 10')
    })
  })

  it('a watcher that reads as fast as it can keeps up with 64 concurrent writers: one response per revision', async () => {
    for (const members of [1, 3] as const) {
      await withStore({ members, watchBufferSize: 16 }, async (store) => {
        const s = await store.watch.watch({ key: 'c/', rangeEnd: 'c0' })
        await take(s, 1) // created
        const total = 640
        const responses: { revision: number; events: number }[] = []
        const reading = (async () => {
          let events = 0
          while (events < total) {
            const r = await s.next()
            if (r.done === true) break
            responses.push({ revision: r.value.header.revision, events: r.value.events.length })
            events += r.value.events.length
          }
        })()
        let n = 0
        await Promise.all(Array.from({ length: 64 }, async () => {
          while (n < total) await store.kv.put({ key: `c/${n++ % 50}`, value: 'v' })
        }))
        await reading
        // a watcher that fell behind its stream's buffer is caught up from history, several
        // revisions to a response: that happens only to a consumer slower than the writers
        assert.equal(responses.length, total, `${members} member(s): every revision in its own response, none caught up from history`)
        assert.ok(responses.every((r) => r.events === 1))
      })
    }
  })

  it('a slow consumer does not block writers or other watchers, then catches up from history without gaps', async () => {
    await withStore({ members: 1, watchBufferSize: 4 }, async (store) => {
      const slow = await store.watch.watch({ key: 's', rangeEnd: 't' })
      const fast = await store.watch.watch({ key: 's', rangeEnd: 't' })
      await take(slow, 1)
      await take(fast, 1)
      const written: Written[] = []
      const fastEvents: WatchEvent[] = []
      const reading = (async () => {
        while (fastEvents.length < 200) fastEvents.push(...(await take(fast, 1))[0]!.events)
      })()
      for (let i = 0; i < 200; i++) {
        const r = await store.kv.put({ key: `s${i % 10}`, value: `${i}` })
        written.push({ rev: r.header.revision, events: [{ type: 'PUT', key: `s${i % 10}`, value: `${i}` }] })
      }
      await reading
      checkAgainstHistory(fastEvents, written, () => true, 1, 'fast watcher')
      const { events, responses } = await takeEvents(slow, 200)
      checkAgainstHistory(events, written, () => true, 1, 'slow watcher')
      assert.ok(responses.length < 200, 'the slow watcher caught up in batches from history')
      // and it is live again
      const r = await store.kv.put({ key: 's0', value: 'after' })
      assert.deepEqual((await takeEvents(slow, 1)).events.map(show), [`PUT s0=after@${r.header.revision}`])
    })
  })
})

describe('watch across faults (manual clock)', () => {
  it('a watch on a follower continues across a leader crash and re-election', async () => {
    const store = await Store.open({ members: 3, clock: 'manual', seed: 7 })
    try {
      const leader = store.sim.leader()!
      const follower = store.memberNames.find((n) => n !== leader)!
      const s = await store.member(follower).watch.watch({ key: 'k', rangeEnd: 'l' })
      await take(s, 1)
      const written: Written[] = []
      const put = async (key: string, value: string): Promise<void> => {
        const out = await drive(store, store.member(follower).kv.put({ key, value }))
        assert.equal(out.ok, true, `put ${key} through ${follower}`)
        const r = (out as { ok: true; value: PutResponse }).value
        written.push({ rev: r.header.revision, events: [{ type: 'PUT', key, value }] })
      }
      await put('k1', 'a')
      await store.sim.crash(leader)
      assert.ok(await store.sim.until(() => store.sim.leader() !== undefined && store.sim.leader() !== leader, 20_000))
      await put('k2', 'b')
      await store.sim.restart(leader)
      await put('k3', 'c')
      checkAgainstHistory((await takeEvents(s, 3)).events, written, () => true, 1, 'follower watch')
    } finally {
      await store.close()
    }
  })

  it("each watcher's response carries the serving member's header at its revision, term included", async () => {
    const store = await Store.open({ members: 3, clock: 'manual', seed: 11 })
    try {
      const leader = store.sim.leader()!
      const follower = store.memberNames.find((n) => n !== leader)!
      const streams = await Promise.all(Array.from({ length: 3 }, () => store.member(follower).watch.watch({ key: 'h/', rangeEnd: 'h0' })))
      for (const s of streams) await take(s, 1)
      const putAndCheck = async (key: string): Promise<PutResponse> => {
        const out = await drive(store, store.member(follower).kv.put({ key, value: 'v' }))
        assert.equal(out.ok, true, `put ${key} through ${follower}`)
        const put = (out as { ok: true; value: PutResponse }).value
        for (const s of streams) {
          const [r] = await take(s, 1)
          assert.equal(r!.events.length, 1)
          assert.deepEqual(r!.header, put.header, `${key}: the header the serving member put on the put's answer`)
        }
        return put
      }
      const first = await putAndCheck('h/1')
      assert.equal(first.header.memberId, store.member(follower).id)
      await store.sim.crash(leader)
      assert.ok(await store.sim.until(() => store.sim.leader() !== undefined && store.sim.leader() !== leader, 20_000))
      const later = await putAndCheck('h/2')
      assert.ok(later.header.raftTerm > first.header.raftTerm, 'a new term after the election')
    } finally {
      await store.close()
    }
  })

  it('the typed Watcher resumes on another member when its member crashes: no gap, no duplicate', async () => {
    const store = await Store.open({ members: 3, clock: 'manual', seed: 42 })
    try {
      const w = await store.watch().prefix('job/').withPreviousKV().create()
      const seen: WatchEvent[] = []
      const puts: string[] = []
      w.on('put', (kv, prev) => puts.push(`${text(kv.key)}=${text(kv.value)}${prev ? ` (prev ${text(prev.value)})` : ''}`))
      let disconnected = 0
      w.on('disconnected', () => disconnected++)
      const iterating = (async () => {
        for await (const e of w) seen.push(e)
      })()
      const written: Written[] = []
      const put = async (key: string, value: string): Promise<void> => {
        const r = await putWithRetry(store, key, value)
        written.push({ rev: r.header.revision, events: [{ type: 'PUT', key, value }] })
      }
      for (let i = 0; i < 5; i++) await put(`job/${i}`, `a${i}`)
      await store.sim.until(() => seen.length === 5)
      const serving = store.sim.leader()!
      await store.sim.crash(serving)
      for (let i = 0; i < 5; i++) await put(`job/${i}`, `b${i}`)
      await store.sim.restart(serving)
      for (let i = 5; i < 8; i++) await put(`job/${i}`, `c${i}`)
      assert.ok(await store.sim.until(() => seen.length >= 13, 20_000), `saw ${seen.length} events`)
      assert.ok(disconnected >= 1, 'the watcher noticed its member stop')
      checkAgainstHistory(
        seen,
        written,
        (k) => k.startsWith('job/'),
        1,
        'resumed watcher',
      )
      assert.ok(puts.includes('job/0=b0 (prev a0)'), puts.join(', '))
      await w.cancel()
      await iterating
    } finally {
      await store.close()
    }
  })
})
