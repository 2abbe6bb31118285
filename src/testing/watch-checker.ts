/**
 * Checks what watchers received against the KV history: every watcher sees every revision in
 * its key range exactly once, in order, from its start revision on, with no gap and no
 * duplicate, with the keys and values the history has, and all events of one revision in
 * one response (etcd's watch guarantees: ordered, reliable, atomic).
 *
 * @module
 */
import type { WatchEvent } from '../api/messages.js'

/** One change of one key at one revision, in text form. */
export interface KvEvent {
  revision: number
  type: 'PUT' | 'DELETE'
  key: string
  /** The value written (PUT); ignored for DELETE. */
  value?: string
}

/** What one watcher asked for and received. */
export interface WatcherRecord {
  /** A name for reports. */
  id: string
  /** The watched key (or range start). */
  key: string
  /** etcd's range end: absent or `''` for the single key, `'\0'` for every key from `key` on. */
  rangeEnd?: string
  /** The first revision it asked for (inclusive). */
  startRevision: number
  /** Each response's events, in the order the responses arrived. */
  responses: { events: KvEvent[] }[]
  /**
   * The revision up to which the watcher must have received everything (e.g. the store's
   * revision when it was closed, after it caught up). Without it, only the revisions up to the
   * last one received are required: a watcher may lag, but never skip.
   */
  complete?: number
}

/** One broken guarantee. */
export interface WatchViolation {
  watcher: string
  kind: 'gap' | 'duplicate' | 'out-of-order' | 'split-revision' | 'wrong-event' | 'outside-range' | 'missing'
  revision: number
  message: string
}

/** Converts a received event (bytes) to the text form, for recording watch responses. */
export function kvEventOf(e: WatchEvent): KvEvent {
  const d = new TextDecoder()
  return { revision: e.kv.modRevision, type: e.type, key: d.decode(e.kv.key), ...(e.type === 'PUT' ? { value: d.decode(e.kv.value) } : {}) }
}

const encoder = new TextEncoder()

function compareBytes(a: string, b: string): number {
  const x = encoder.encode(a)
  const y = encoder.encode(b)
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i]! - y[i]!
  return x.length - y.length
}

/** True when `key` is in etcd's range [`start`, `end`) (`end` empty: the single key; `'\0'`: no end). */
export function inRange(key: string, start: string, end: string | undefined): boolean {
  if (end === undefined || end === '') return key === start
  if (compareBytes(key, start) < 0) return false
  return end === '\0' || compareBytes(key, end) < 0
}

function same(a: KvEvent, b: KvEvent): boolean {
  return a.type === b.type && a.key === b.key && (a.type === 'DELETE' || a.value === b.value)
}

function show(e: KvEvent): string {
  return `${e.type} ${e.key}${e.type === 'PUT' ? `=${e.value ?? ''}` : ''}@${e.revision}`
}

/**
 * Checks every watcher against `writes`, the KV history (every event of every revision, from
 * acknowledged writes or a dump of the history per revision), and returns what it found
 * (empty: all guarantees held).
 */
export function checkWatches(writes: readonly KvEvent[], watchers: readonly WatcherRecord[]): WatchViolation[] {
  const out: WatchViolation[] = []
  const byRevision = new Map<number, KvEvent[]>()
  for (const e of writes) {
    let l = byRevision.get(e.revision)
    if (l === undefined) byRevision.set(e.revision, (l = []))
    l.push(e)
  }
  for (const w of watchers) {
    const expected = new Map<number, KvEvent[]>()
    for (const [rev, evs] of byRevision) {
      if (rev < w.startRevision) continue
      const mine = evs.filter((e) => inRange(e.key, w.key, w.rangeEnd))
      if (mine.length > 0) expected.set(rev, mine)
    }
    const seenIn = new Map<number, number>()
    let last = 0
    w.responses.forEach((resp, ri) => {
      const revs = new Map<number, KvEvent[]>()
      for (const e of resp.events) {
        let l = revs.get(e.revision)
        if (l === undefined) revs.set(e.revision, (l = []))
        l.push(e)
        if (!inRange(e.key, w.key, w.rangeEnd) || e.revision < w.startRevision) {
          out.push({ watcher: w.id, kind: 'outside-range', revision: e.revision, message: `${w.id} received ${show(e)} outside its range or before start revision ${w.startRevision}` })
        }
      }
      for (const [rev, evs] of revs) {
        const earlier = seenIn.get(rev)
        if (earlier !== undefined) {
          const kind = isDuplicate(evs, expected.get(rev) ?? []) ? 'duplicate' : 'split-revision'
          out.push({ watcher: w.id, kind, revision: rev, message: `${w.id} received revision ${rev} in response ${earlier} and again in response ${ri}` })
          continue
        }
        seenIn.set(rev, ri)
        if (rev < last) out.push({ watcher: w.id, kind: 'out-of-order', revision: rev, message: `${w.id} received revision ${rev} after revision ${last}` })
        const want = expected.get(rev) ?? []
        if (want.length === 0) {
          if (!out.some((v) => v.watcher === w.id && v.revision === rev)) out.push({ watcher: w.id, kind: 'wrong-event', revision: rev, message: `${w.id} received ${evs.map(show).join(', ')}, but revision ${rev} changed nothing in its range` })
        } else if (evs.length < want.length && evs.every((e) => want.some((x) => same(x, e)))) {
          out.push({ watcher: w.id, kind: 'split-revision', revision: rev, message: `${w.id} received ${evs.length} of revision ${rev}'s ${want.length} events in response ${ri}: ${evs.map(show).join(', ')}` })
        } else if (evs.length !== want.length || evs.some((e, i) => !same(e, want[i]!))) {
          out.push({ watcher: w.id, kind: 'wrong-event', revision: rev, message: `${w.id} received ${evs.map(show).join(', ')}; the history has ${want.map(show).join(', ')}` })
        }
        last = Math.max(last, rev)
      }
    })
    const upTo = w.complete ?? last
    for (const rev of [...expected.keys()].sort((a, b) => a - b)) {
      if (rev > upTo || seenIn.has(rev)) continue
      const kind = w.complete !== undefined && rev > last ? 'missing' : 'gap'
      out.push({ watcher: w.id, kind, revision: rev, message: `${w.id} never received revision ${rev} (${expected.get(rev)!.map(show).join(', ')})${kind === 'gap' ? `, yet received revision ${last}` : ` before ${upTo}`}` })
    }
  }
  return out
}

function isDuplicate(got: KvEvent[], want: KvEvent[]): boolean {
  return got.length === want.length && got.every((e, i) => same(e, want[i]!))
}

/** Throws an `Error` listing every violation unless all watchers' deliveries were correct. */
export function assertWatchesValid(writes: readonly KvEvent[], watchers: readonly WatcherRecord[]): void {
  const v = checkWatches(writes, watchers)
  if (v.length > 0) throw new Error(`watch guarantees broken (${v.length}):\n${v.map((x) => `  ${x.kind} r${x.revision}: ${x.message}`).join('\n')}`)
}
