/**
 * W6, watch fan-out: N watchers on one prefix (`store.watch.watch({ key, rangeEnd })`)
 * while W2 (puts of new keys under that prefix, 64 in flight) runs. Measures the writer's
 * puts/s and CPU per put, how many events were delivered, and the time from the start of
 * a put until every watcher has received its event. The cost
 * of delivering one event to N watchers vs to one is the ratio of CPU per put at N watchers
 * to CPU per put at one, measured in the same run on the same store.
 *
 * @module
 */
import type { Store } from '../src/store.js'
import { prefixEnd } from '../src/api/bytes.js'
import { collectGarbage, measure, quantile, type MeasureOptions, type Measurement } from './harness.js'
import { makeKey, type WorkloadContext } from './workloads.js'

/** What one W6 run at a given number of watchers observed. */
export interface FanOutResult {
  /** Watchers on the prefix. */
  watchers: number
  /** The writer's measurement (puts/s, CPU µs per put: the CPU of delivering to every watcher included). */
  writer: Measurement
  /** Events delivered to all watchers together during the recorded puts. */
  delivered: number
  /** Events expected (recorded puts × watchers). */
  expected: number
  /**
   * From the start of a put until its event reached the last watcher, p50 / p99, in ms.
   * (The member hands events to the watch layer when it applies an entry, before the
   * proposer is answered, so "from commit" would mostly read 0.)
   */
  p50Ms: number
  p99Ms: number
  /** True when every watcher got every event before the drain timeout. */
  complete: boolean
}

/** The prefix W6 watches and writes. */
const TAG = 'w/'

/**
 * Runs W2 under `prefix` with `watchers` watchers on the prefix. `run` distinguishes runs
 * (each writes its own keys), so a later run's watchers never see an earlier run's puts.
 */
export async function fanOut(store: Store, watchers: number, run: number, ctx: WorkloadContext, budget: Omit<MeasureOptions, 'concurrency'>): Promise<FanOutResult> {
  // every run writes under its own sub-prefix: `w/<run>`
  const prefix = makeKey(TAG, run * 1e12).subarray(0, 4)
  const end = prefixEnd(prefix)
  const startRev = (await store.kv.range({ key: prefix, rangeEnd: end, countOnly: true })).header.revision + 1
  const streams = await Promise.all(Array.from({ length: watchers }, () => store.watch.watch({ key: prefix, rangeEnd: end, startRevision: startRev })))
  // per revision (offset from startRev): when its put started, and how many watchers got it and when the last did
  const cap = budget.maxOps + 10_000
  const startedAt = new Float64Array(cap)
  const got = new Uint32Array(cap)
  const lastAt = new Float64Array(cap)
  const consumers = streams.map(async (s) => {
    for (;;) {
      const r = await s.next()
      if (r.done) return
      for (const ev of r.value.events) {
        const at = ev.kv.modRevision - startRev
        // the clock is read once per event, by the watcher that completes it: the bench's
        // own bookkeeping should not grow with the number of watchers it measures
        if (at >= 0 && at < cap && ++got[at]! === watchers) lastAt[at] = performance.now()
      }
    }
  })
  let lastRev = 0
  collectGarbage()
  const writer = await measure(
    async (i) => {
      const key = makeKey(TAG, run * 1e12 + i)
      const t0 = performance.now()
      const r = await store.kv.put({ key, value: ctx.value })
      const rev = r.header.revision
      const at = rev - startRev
      if (at >= 0 && at < cap) startedAt[at] = t0
      if (rev > lastRev) lastRev = rev
      return true
    },
    { ...budget, concurrency: 64 },
  )
  // drain: wait until every watcher has seen the last put (or give up after 60 s)
  const deadline = performance.now() + 60_000
  const lastAtOffset = lastRev - startRev
  while (performance.now() < deadline && (got[lastAtOffset] ?? 0) < watchers) await new Promise((r) => setTimeout(r, 5))
  const complete = (got[lastAtOffset] ?? 0) >= watchers
  // latencies of the puts made during the recorded phase: the last `writer.ops` revisions
  const firstRecordedRev = Math.max(startRev, lastRev - writer.ops + 1)
  const lat: number[] = []
  let deliveredRecorded = 0
  for (let rev = firstRecordedRev; rev <= lastRev; rev++) deliveredRecorded += got[rev - startRev] ?? 0
  for (let rev = firstRecordedRev; rev <= lastRev; rev++) {
    const at = rev - startRev
    if (at >= cap || startedAt[at] === 0 || got[at]! < watchers) continue
    lat.push(lastAt[at]! - startedAt[at]!)
  }
  const sorted = Float64Array.from(lat).sort()
  await Promise.all(streams.map((s) => s.cancel()))
  await Promise.all(consumers)
  return {
    watchers,
    writer,
    delivered: deliveredRecorded,
    expected: writer.ops * watchers,
    p50Ms: quantile(sorted, 0.5),
    p99Ms: quantile(sorted, 0.99),
    complete,
  }
}
