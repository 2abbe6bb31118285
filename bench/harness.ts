/**
 * The measuring loop of the benchmarks: N workers keep one operation each in flight, a
 * warm-up runs first and is not recorded, then operations are timed one by one with
 * `performance.now()` until a time or operation budget is spent. Benchmarks may use real
 * time; the library's core may not.
 *
 * @module
 */
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

/** One operation: `i` is a run-wide sequence number (unique per call), `worker` the caller's slot. Resolves `false` on a soft failure (a miss, a failed compare). */
export type Op = (i: number, worker: number) => Promise<boolean>

/** Budget of one measurement. */
export interface MeasureOptions {
  /** Operations kept in flight (workers). */
  concurrency: number
  /** Unrecorded warm-up, in ms. */
  warmupMs: number
  /** Recorded phase, in ms; it also ends after `maxOps` operations. */
  durationMs: number
  /** Cap on recorded operations. */
  maxOps: number
}

/** What one measurement observed. */
export interface Measurement {
  /** Recorded operations completed. */
  ops: number
  /** Wall time of the recorded phase, from its start until the last recorded operation finished, in ms. */
  elapsedMs: number
  /** `ops / elapsed`. */
  opsPerSec: number
  /** Median latency of one operation, in ms. */
  p50Ms: number
  /** 99th percentile latency of one operation, in ms. */
  p99Ms: number
  /** CPU time of this process (all its threads, user + system) per recorded operation, in µs: the client's share when the server is another process. */
  cpuUsPerOp: number
  /** Operations that resolved `false` (misses, failed compares). */
  failures: number
  /** Operations that threw; the run stops at the first one. */
  errors: number
  /** Message of the first error, if any. */
  firstError?: string
}

/** The value at quantile `q` (0..1) of sorted latencies (nearest rank). */
export function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return Number.NaN
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))
  return sorted[rank] ?? Number.NaN
}

/**
 * Runs `op` with `concurrency` operations in flight: a warm-up of `warmupMs`, then a recorded
 * phase; only operations started in the recorded phase are recorded. An operation that
 * throws ends the measurement (a benchmark of a broken operation measures nothing) and is
 * reported in `errors`/`firstError`.
 */
export async function measure(op: Op, options: MeasureOptions): Promise<Measurement> {
  const latencies = new Float64Array(Math.max(1, options.maxOps))
  let recorded = 0
  let failures = 0
  let errors = 0
  let firstError: string | undefined
  let next = 0
  let recording = false
  let stop = false
  let started = 0
  let lastEnd = 0
  const warmupEnd = performance.now() + options.warmupMs
  let deadline = Number.POSITIVE_INFINITY
  let cpuStart: NodeJS.CpuUsage | undefined

  const worker = async (w: number): Promise<void> => {
    while (!stop) {
      const now = performance.now()
      if (!recording && now >= warmupEnd) {
        // the first worker past the warm-up opens the recorded phase for everyone
        recording = true
        started = now
        deadline = now + options.durationMs
        cpuStart = process.cpuUsage()
      }
      const rec = recording
      if (rec && recorded + inFlightRecorded >= options.maxOps) break
      const i = next++
      if (rec) inFlightRecorded++
      const t0 = performance.now()
      let ok: boolean
      try {
        ok = await op(i, w)
      } catch (err) {
        errors++
        firstError ??= err instanceof Error ? err.message : String(err)
        stop = true
        if (rec) inFlightRecorded--
        break
      }
      const t1 = performance.now()
      if (rec) {
        inFlightRecorded--
        latencies[recorded++] = t1 - t0
        if (!ok) failures++
        lastEnd = t1
        if (t1 >= deadline) stop = true
      }
    }
  }
  let inFlightRecorded = 0
  await Promise.all(Array.from({ length: options.concurrency }, (_, w) => worker(w)))
  const cpu = cpuStart === undefined ? undefined : process.cpuUsage(cpuStart)

  const sorted = latencies.subarray(0, recorded).sort()
  const elapsedMs = recorded > 0 ? lastEnd - started : 0
  const m: Measurement = {
    ops: recorded,
    elapsedMs,
    opsPerSec: elapsedMs > 0 ? (recorded * 1000) / elapsedMs : 0,
    p50Ms: quantile(sorted, 0.5),
    p99Ms: quantile(sorted, 0.99),
    cpuUsPerOp: cpu === undefined || recorded === 0 ? Number.NaN : (cpu.user + cpu.system) / recorded,
    failures,
    errors,
  }
  if (firstError !== undefined) m.firstError = firstError
  return m
}

let gcFn: (() => void) | undefined | null = null

/**
 * Runs a full garbage collection between measurements: `globalThis.gc` when node was
 * started with `--expose-gc`, else one obtained through `v8.setFlagsFromString` (node
 * allows that at run time); nothing when neither works.
 */
export function collectGarbage(): void {
  if (gcFn === null) {
    gcFn = (globalThis as { gc?: () => void }).gc
    if (typeof gcFn !== 'function') {
      try {
        setFlagsFromString('--expose-gc')
        gcFn = runInNewContext('gc') as () => void
      } catch {
        gcFn = undefined
      }
    }
  }
  gcFn?.()
}

/** True when {@link collectGarbage} really collects (memory numbers are then meaningful). */
export function canCollectGarbage(): boolean {
  collectGarbage()
  return typeof gcFn === 'function'
}

/**
 * Live memory after a full GC: V8 heap in use plus ArrayBuffer backing stores (where keys and
 * values live), in bytes. It first lets the event loop run a few turns: a target closed just
 * before still has callbacks queued (a 3-member Store's in-flight messages) that hold it,
 * and a collection in the same turn would count it as live.
 */
export async function liveBytes(): Promise<number> {
  for (let i = 0; i < 3; i++) await new Promise((resolve) => setTimeout(resolve, 0))
  collectGarbage()
  collectGarbage()
  const m = process.memoryUsage()
  return m.heapUsed + m.arrayBuffers
}
