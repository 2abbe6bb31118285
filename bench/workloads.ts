/**
 * The benchmark workloads (16-byte keys, 100-byte values). Each one turns a target into an
 * {@link Op} for the harness; `prepare` may read state first and checks that the
 * operation does what it claims (a get finds its key, a range returns 100 keys) before
 * anything is timed.
 *
 * @module
 */
import { prefixEnd } from '../src/api/bytes.js'
import type { Op } from './harness.js'
import type { Bytes, CasToken, Target } from './targets.js'

/** Key length, in bytes. */
export const KEY_BYTES = 16
/** Value length, in bytes. */
export const VALUE_BYTES = 100
/** Keys a W4 prefix range returns. */
export const RANGE_KEYS = 100
const DIGITS = KEY_BYTES - 2

/**
 * A 16-byte ASCII key: a 2-byte tag (`p/`, `x/`, ...) and 14 zero-padded digits. A plain
 * `Uint8Array` of its own, not a `Buffer`: `Buffer#slice` is a view, so byte helpers that
 * `slice` then write (src/api/bytes.ts `prefixEnd`) would change a Buffer key in place.
 */
export function makeKey(tag: string, n: number): Bytes {
  const s = tag + String(n).padStart(DIGITS, '0')
  const out = new Uint8Array(KEY_BYTES)
  for (let i = 0; i < KEY_BYTES; i++) out[i] = s.charCodeAt(i)
  return out
}

/** The `n` keys loaded before the read workloads, `p/00000000000000` upwards. */
export function preloadKeys(n: number): Bytes[] {
  return Array.from({ length: n }, (_, i) => makeKey('p/', i))
}

/** A 100-byte value whose first bytes spell `n`, so successive CAS writes differ. */
export function makeValue(n: number): Bytes {
  const v = new Uint8Array(VALUE_BYTES).fill(0x76)
  const s = String(n)
  for (let i = 0; i < s.length; i++) v[i] = s.charCodeAt(i)
  return v
}

/** What a workload may use: the preloaded keys and the value they hold. */
export interface WorkloadContext {
  /** Keys present in the target (see {@link preloadKeys}). */
  keys: readonly Bytes[]
  /** A 100-byte value for writes. */
  value: Bytes
}

/** Workload groups as `--only` names them. */
export const WORKLOAD_GROUPS = ['W1', 'W2', 'W3', 'W4', 'W5', 'W6', 'W7'] as const
/** One group. */
export type WorkloadGroup = (typeof WORKLOAD_GROUPS)[number]

/** One measured workload. */
export interface Workload {
  /** Row label: `W1`, `W3-lin`, ... */
  readonly id: string
  /** The `--only` group it belongs to. */
  readonly group: WorkloadGroup
  /** What it does, for the legend. */
  readonly title: string
  /** Operations in flight. */
  readonly concurrency: number
  /** Builds the operation for one target, after checking it works. */
  prepare(target: Target, ctx: WorkloadContext): Promise<Op>
}

/** A key index spread over `n` keys (a multiplicative walk, so consecutive ops touch unrelated keys). */
function spread(i: number, n: number): number {
  return (i * 7919 + 13) % n
}

function putWorkload(id: 'W1' | 'W2', tag: string, concurrency: number): Workload {
  return {
    id,
    group: id,
    title: `puts of new keys, ${concurrency} in flight`,
    concurrency,
    async prepare(target, ctx) {
      return async (i) => {
        await target.put(makeKey(tag, i), ctx.value)
        return true
      }
    },
  }
}

function getWorkload(serializable: boolean): Workload {
  return {
    id: serializable ? 'W3-ser' : 'W3-lin',
    group: 'W3',
    title: `point gets of existing keys, ${serializable ? 'serializable' : 'linearizable'}, 64 in flight`,
    concurrency: 64,
    async prepare(target, ctx) {
      const n = ctx.keys.length
      if (!(await target.get(ctx.keys[spread(1, n)] as Bytes, serializable))) throw new Error(`${target.id}: a preloaded key is missing`)
      return (i) => target.get(ctx.keys[spread(i, n)] as Bytes, serializable)
    },
  }
}

const rangeWorkload: Workload = {
  id: 'W4',
  group: 'W4',
  title: `prefix ranges returning ${RANGE_KEYS} keys (values included, linearizable), 64 in flight`,
  concurrency: 64,
  async prepare(target, ctx) {
    const prefixes = Math.floor(ctx.keys.length / RANGE_KEYS)
    if (prefixes === 0) throw new Error('W4 needs at least 100 preloaded keys')
    // `p/` + 12 of the 14 digits: exactly the 100 keys that share them
    const starts = Array.from({ length: prefixes }, (_, p) => (ctx.keys[p * RANGE_KEYS] as Bytes).subarray(0, KEY_BYTES - 2))
    const ends = starts.map(prefixEnd)
    const check = await target.range(starts[0] as Bytes, ends[0] as Bytes, RANGE_KEYS)
    if (check !== RANGE_KEYS) throw new Error(`${target.id}: a prefix range returned ${check} keys, expected ${RANGE_KEYS}`)
    return async (i) => {
      const p = spread(i, prefixes)
      return (await target.range(starts[p] as Bytes, ends[p] as Bytes, RANGE_KEYS)) === RANGE_KEYS
    }
  },
}

const casWorkload: Workload = {
  id: 'W5',
  group: 'W5',
  title: 'compare-and-swap txns (if mod == x then put), 64 in flight, one key per worker',
  concurrency: 64,
  async prepare(target, ctx) {
    const n = ctx.keys.length
    const keys = Array.from({ length: 64 }, (_, w) => ctx.keys[spread(w, n)] as Bytes)
    const tokens: CasToken[] = []
    for (const k of keys) tokens.push(await target.casRead(k))
    return async (i, w) => {
      const next = await target.cas(keys[w] as Bytes, tokens[w] as CasToken, makeValue(i))
      if (next === undefined) {
        // another writer moved the key (never expected here): re-read so the worker keeps going
        tokens[w] = await target.casRead(keys[w] as Bytes)
        return false
      }
      tokens[w] = next
      return true
    }
  },
}

/**
 * The main grid, in the order each target runs them: reads first (on the freshly loaded
 * keys), then the writes that grow the data set.
 */
export const WORKLOADS: readonly Workload[] = [
  getWorkload(false),
  getWorkload(true),
  rangeWorkload,
  casWorkload,
  putWorkload('W1', 'x/', 1),
  putWorkload('W2', 'y/', 64),
]

/** W3 (linearizable and serializable), W4 and W2 again (reads first, on the loaded keys), as W7 runs them at each data-set size. */
export const SCALE_WORKLOADS: readonly Workload[] = [getWorkload(false), getWorkload(true), rangeWorkload, putWorkload('W2', 'y/', 64)]
