/**
 * Seeded randomness for pocket-etcd. Every random choice in the library (election timeouts,
 * ids, network faults) draws from a {@link Random}, so a seed replays a run exactly.
 *
 * The generator is sfc32 (small fast counting, 128-bit state, passes PractRand), seeded
 * through splitmix32. Not cryptographic.
 *
 * @module
 */

import { invalidArgument } from './invalid-argument.js'

const TWO_32 = 0x1_0000_0000
const TWO_53 = 2 ** 53

/** Murmur3's 32-bit finaliser: a bijective avalanche on 32-bit integers. */
function fmix32(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b)
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35)
  return (h ^ (h >>> 16)) >>> 0
}

/** Derives a fork's 32-bit seed from its parent's seed and a label (FNV-1a, then mixed). */
function deriveSeed(seed: number, label: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 0x01000193)
  h = fmix32(h ^ fmix32((seed >>> 0) + 0x9e3779b9))
  return fmix32(h ^ fmix32((Math.floor(seed / TWO_32) >>> 0) ^ 0x632be5ab))
}

/**
 * A seeded pseudo-random stream. The same seed gives the same sequence on every host;
 * {@link Random.fork} gives independent named sub-streams, so adding draws in one component
 * never shifts the draws of another.
 */
export class Random {
  /** The seed this stream was created from: `new Random(r.seed)` replays `r` from its start. */
  readonly seed: number
  /** Slash-separated fork labels from the root, for messages ('' for a root stream). */
  readonly path: string
  #a: number
  #b: number
  #c: number
  #d: number

  /**
   * `seed` is any safe integer (negative and above 2^32 too); all its bits count. `path` only
   * labels the stream in messages; {@link Random.fork} sets it.
   */
  constructor(seed: number, path = '') {
    if (!Number.isSafeInteger(seed)) throw invalidArgument(`seed must be a safe integer, got ${seed}`)
    this.seed = seed
    this.path = path
    let s = fmix32((seed >>> 0) ^ fmix32((Math.floor(seed / TWO_32) >>> 0) + 0x7f4a7c15))
    const splitmix32 = (): number => {
      s = (s + 0x9e3779b9) | 0
      return fmix32(s)
    }
    this.#a = splitmix32()
    this.#b = splitmix32()
    this.#c = splitmix32()
    this.#d = splitmix32()
    for (let i = 0; i < 12; i++) this.uint32()
  }

  /** A uniformly distributed integer in [0, 2^32). */
  uint32(): number {
    const a = this.#a
    const b = this.#b
    const c = this.#c
    this.#d = (this.#d + 1) | 0
    const t = (((a + b) | 0) + this.#d) | 0
    this.#a = b ^ (b >>> 9)
    this.#b = (c + (c << 3)) | 0
    this.#c = (((c << 21) | (c >>> 11)) + t) | 0
    return t >>> 0
  }

  /** A float uniformly distributed in [0, 1) (32 bits of resolution). */
  next(): number {
    return this.uint32() / TWO_32
  }

  /** A uniformly distributed integer in [0, n), without modulo bias; n is an integer in [1, 2^53]. */
  int(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > TWO_53) throw invalidArgument(`int(n) needs an integer n in [1, 2^53], got ${n}`)
    if (n <= TWO_32) {
      const limit = TWO_32 - (TWO_32 % n)
      for (;;) {
        const x = this.uint32()
        if (x < limit) return x % n
      }
    }
    const limit = TWO_53 - (TWO_53 % n)
    for (;;) {
      const x = (this.uint32() & 0x1f_ffff) * TWO_32 + this.uint32()
      if (x < limit) return x % n
    }
  }

  /** A uniformly distributed integer in [lo, hi), half-open like {@link Random.int}. */
  range(lo: number, hi: number): number {
    if (!Number.isSafeInteger(lo) || !Number.isSafeInteger(hi) || hi <= lo) {
      throw invalidArgument(`range(lo, hi) needs integers with lo < hi, got [${lo}, ${hi})`)
    }
    return lo + this.int(hi - lo)
  }

  /** True with probability `p` in [0, 1]; always consumes exactly one draw. */
  chance(p: number): boolean {
    if (!(p >= 0 && p <= 1)) throw invalidArgument(`chance(p) needs p in [0, 1], got ${p}`)
    return this.next() < p
  }

  /** A uniformly chosen element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw invalidArgument('pick() from an empty array')
    return items[this.int(items.length)] as T
  }

  /** Shuffles `items` in place (Fisher–Yates) and returns the same array. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1)
      const tmp = items[i] as T
      items[i] = items[j] as T
      items[j] = tmp
    }
    return items
  }

  /** A uniformly distributed unsigned 64-bit integer, for etcd's 64-bit ids (lease, member). */
  uint64(): bigint {
    const hi = BigInt(this.uint32())
    return (hi << 32n) | BigInt(this.uint32())
  }

  /**
   * An independent stream named `label`, derived from this stream's seed and label only, so
   * it is the same however many draws this stream has made. Forking the same label twice
   * gives two identical streams.
   */
  fork(label: string): Random {
    return new Random(deriveSeed(this.seed, label), this.path === '' ? label : `${this.path}/${label}`)
  }
}
