/** Helpers of the watch tests: read a stream with a deadline, render events, check a watcher against the write history. */
import assert from 'node:assert/strict'
import type { WatchEvent, WatchResponse } from '../../src/api/messages.js'
import type { WatchStream } from '../../src/services/watch-api.js'

export const text = (b: Uint8Array): string => Buffer.from(b).toString('utf8')

/** `PUT k=v@rev` / `DELETE k@rev`, with `(prev v@rev)` when present. */
export function show(e: WatchEvent): string {
  const base = e.type === 'PUT' ? `PUT ${text(e.kv.key)}=${text(e.kv.value)}@${e.kv.modRevision}` : `DELETE ${text(e.kv.key)}@${e.kv.modRevision}`
  return e.prevKv ? `${base} (prev ${text(e.prevKv.value)}@${e.prevKv.modRevision})` : base
}

/** Reads `n` responses, failing after `ms` of real time. */
export async function take(s: WatchStream, n: number, ms = 5000): Promise<WatchResponse[]> {
  const out: WatchResponse[] = []
  const deadline = Date.now() + ms
  while (out.length < n) {
    const left = deadline - Date.now()
    const r = await Promise.race([s.next(), new Promise<'timeout'>((res) => setTimeout(() => res('timeout'), Math.max(0, left)).unref())])
    if (r === 'timeout') assert.fail(`timed out after ${out.length} of ${n} responses: ${JSON.stringify(out.map((x) => x.events.map(show)))}`)
    if (r.done === true) break
    out.push(r.value)
  }
  return out
}

/** Reads responses until `count` events arrived (or the stream ended). */
export async function takeEvents(s: WatchStream, count: number, ms = 5000): Promise<{ events: WatchEvent[]; responses: WatchResponse[] }> {
  const responses: WatchResponse[] = []
  const events: WatchEvent[] = []
  while (events.length < count) {
    const [r] = await take(s, 1, ms)
    if (r === undefined) break
    responses.push(r)
    events.push(...r.events)
  }
  return { events, responses }
}

/** One acknowledged write: its revision and the events it made. */
export interface Written {
  rev: number
  events: { type: 'PUT' | 'DELETE'; key: string; value: string }[]
}

/**
 * The watch checker: the watcher's events are exactly the acknowledged writes' events in
 * the watched range from `fromRev` on, in revision order (sub-order within a revision), no
 * gap, no duplicate.
 */
export function checkAgainstHistory(got: WatchEvent[], written: Written[], inRange: (key: string) => boolean, fromRev: number, what: string): void {
  const expected = [...written]
    .sort((a, b) => a.rev - b.rev)
    .filter((w) => w.rev >= fromRev)
    .flatMap((w) => w.events.filter((e) => inRange(e.key)).map((e) => (e.type === 'PUT' ? `PUT ${e.key}=${e.value}@${w.rev}` : `DELETE ${e.key}@${w.rev}`)))
  const actual = got.map((e) => (e.type === 'PUT' ? `PUT ${text(e.kv.key)}=${text(e.kv.value)}@${e.kv.modRevision}` : `DELETE ${text(e.kv.key)}@${e.kv.modRevision}`))
  for (let i = 1; i < got.length; i++) assert.ok(got[i]!.kv.modRevision >= got[i - 1]!.kv.modRevision, `${what}: revisions go back at ${i}`)
  assert.deepEqual(actual, expected, `${what}: events differ from the history`)
}
