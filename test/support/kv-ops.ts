/**
 * A seeded generator of random KV operation sequences for differential tests. Keys come
 * from a tiny alphabet so operations collide (overwrites, deletes of live keys, compares
 * on existing keys); revisions are drawn around the store's current and compacted
 * revisions so compacted, current, historical and future reads all occur; a few requests
 * are deliberately invalid to exercise etcd's errors (empty key, duplicate keys in a txn,
 * too many txn ops, bad put flags, compacted and future revisions).
 *
 * The generator owns its PRNG (sfc32), so a seed replays the same sequence given the same
 * observed revisions; the caller reports what the reference store answered through
 * {@link KvOpGenerator.observe} to steer revision choices.
 *
 * @module
 */
import type {
  CompactionRequestInput,
  CompareInput,
  DeleteRangeRequestInput,
  PutRequestInput,
  RangeRequestInput,
  RequestOpInput,
  TxnRequestInput,
} from '../../src/services/kv-schema.js'

/** One generated operation: which KV method to call and its request (caller's input form). */
export type KvOp =
  | { kind: 'range'; request: RangeRequestInput }
  | { kind: 'put'; request: PutRequestInput }
  | { kind: 'deleteRange'; request: DeleteRangeRequestInput }
  | { kind: 'txn'; request: TxnRequestInput }
  | { kind: 'compact'; request: CompactionRequestInput }

/** A small deterministic PRNG (sfc32, seeded through splitmix32); 32-bit state words. */
export class Prng {
  #a: number
  #b: number
  #c: number
  #d: number

  constructor(seed: number) {
    let s = seed >>> 0
    const split = (): number => {
      s = (s + 0x9e3779b9) >>> 0
      let z = s
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
      return (z ^ (z >>> 16)) >>> 0
    }
    this.#a = split()
    this.#b = split()
    this.#c = split()
    this.#d = split()
    for (let i = 0; i < 12; i++) this.next()
  }

  /** A uniform 32-bit unsigned integer. */
  next(): number {
    const t = (((this.#a + this.#b) >>> 0) + this.#d) >>> 0
    this.#d = (this.#d + 1) >>> 0
    this.#a = this.#b ^ (this.#b >>> 9)
    this.#b = (this.#c + (this.#c << 3)) >>> 0
    this.#c = ((this.#c << 21) | (this.#c >>> 11)) >>> 0
    this.#c = (this.#c + t) >>> 0
    return t
  }

  /** A float in [0, 1). */
  float(): number {
    return this.next() / 4294967296
  }

  /** An integer in [lo, hi] (inclusive). */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.float() * (hi - lo + 1))
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.float() < p
  }

  /** One element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    const v = items[Math.floor(this.float() * items.length)]
    if (v === undefined) throw new Error('pick from an empty array')
    return v
  }

  /** Picks a key of `weights` with probability proportional to its weight. */
  weighted<K extends string>(weights: Readonly<Record<K, number>>): K {
    const entries = Object.entries(weights) as [K, number][]
    let total = 0
    for (const [, w] of entries) total += w
    let r = this.float() * total
    for (const [k, w] of entries) {
      r -= w
      if (r < 0) return k
    }
    const last = entries[entries.length - 1]
    if (last === undefined) throw new Error('weighted pick from no weights')
    return last[0]
  }
}

/** What the reference store answered so far, used to aim revisions (see {@link KvOpGenerator.observe}). */
export interface StoreView {
  /** Latest header revision seen. */
  revision: number
  /** Latest successful compaction revision (0 when none). */
  compacted: number
}

/** Bytes as the request schemas accept them. */
type BytesIn = string | Uint8Array<ArrayBuffer>

const LETTERS = ['a', 'b', 'c', 'd', 'e', 'f'] as const
/** Suffixes: ASCII, a separator, non-ASCII UTF-8, and raw 0xff / 0x00 bytes. */
const SUFFIXES: readonly BytesIn[] = ['', '', '', '1', '2', '/x', '/y', 'é', new Uint8Array([0xff]), new Uint8Array([0x00])]
const SORT_ORDERS = ['NONE', 'ASCEND', 'DESCEND'] as const
const SORT_TARGETS = ['KEY', 'VERSION', 'CREATE', 'MOD', 'VALUE'] as const
const COMPARE_RESULTS = ['EQUAL', 'NOT_EQUAL', 'LESS', 'GREATER'] as const
const COMPARE_TARGETS = ['VALUE', 'VERSION', 'CREATE', 'MOD', 'LEASE'] as const

/** etcd's default `--max-txn-ops`. */
export const MAX_TXN_OPS = 128

function concat(a: Uint8Array, b: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(a.length + b.length)
  out.set(a, 0)
  out.set(b, a.length)
  return out
}

const encoder = new TextEncoder()

/** Keys used by write ops of one txn branch, to avoid (or provoke) duplicate-key errors. */
interface BranchKeys {
  /** When true, anything goes: duplicates are wanted. */
  free: boolean
  used: Set<string>
  /** A range delete was placed: no other write may follow in this branch. */
  closed: boolean
}

/**
 * Generates random KV operations, one per {@link next} call. Deterministic for a seed and
 * the sequence of views passed to {@link observe}.
 */
export class KvOpGenerator {
  readonly #rng: Prng
  #view: StoreView = { revision: 1, compacted: 0 }

  constructor(seed: number) {
    this.#rng = new Prng(seed)
  }

  /** Tells the generator what the reference store's revision and compaction are now. */
  observe(view: StoreView): void {
    this.#view = { ...view }
  }

  /** The next operation. */
  next(): KvOp {
    const r = this.#rng
    const kind = r.weighted({ put: 30, range: 30, deleteRange: 12, txn: 22, compact: 3, invalid: 3 })
    switch (kind) {
      case 'put':
        return { kind: 'put', request: this.#put(undefined) }
      case 'range':
        return { kind: 'range', request: this.#range(false) }
      case 'deleteRange':
        return { kind: 'deleteRange', request: this.#deleteRange(undefined) }
      case 'txn':
        return { kind: 'txn', request: this.#txn(0) }
      case 'compact':
        return { kind: 'compact', request: this.#compact() }
      case 'invalid':
        return this.#invalid()
    }
  }

  // -------------------------------------------------------------- building blocks

  #letterKey(): string {
    return this.#rng.pick(LETTERS)
  }

  /** A key: one letter plus a short suffix; sometimes a `Uint8Array` instead of a string. */
  #key(): BytesIn {
    const r = this.#rng
    const letter = this.#letterKey()
    const suffix = r.pick(SUFFIXES)
    if (typeof suffix === 'string') {
      const s = letter + suffix
      return r.chance(0.15) ? encoder.encode(s) : s
    }
    return concat(encoder.encode(letter), suffix)
  }

  #value(): BytesIn {
    const r = this.#rng
    const k = r.int(0, 9)
    if (k === 0) return ''
    if (k === 1) return new Uint8Array([r.int(0, 255), r.int(0, 255)])
    if (k === 2) return 'v'.repeat(r.int(1, 40))
    return r.pick(['x', 'y', 'z', 'hello', 'é', '0', '10', '9'])
  }

  /**
   * A revision aimed at interesting places: 0 (current), the current and recent ones,
   * the compaction boundary, just above the current revision (future) and negative ones.
   */
  #revision(): number {
    const r = this.#rng
    const { revision, compacted } = this.#view
    switch (r.int(0, 9)) {
      case 0:
      case 1:
      case 2:
        return 0
      case 3:
        return revision
      case 4:
        return Math.max(1, revision - r.int(1, 6))
      case 5:
        return compacted > 0 ? compacted + r.int(-1, 1) : r.int(1, Math.max(1, revision))
      case 6:
        return revision + r.int(1, 3)
      case 7:
        return -r.int(1, 3)
      default:
        return r.int(1, Math.max(1, revision))
    }
  }

  /** A small revision/version number for filters and compares. */
  #smallNumber(): number {
    const r = this.#rng
    return r.chance(0.3) ? r.int(0, 3) : r.int(0, this.#view.revision + 1)
  }

  /** Sets `key`/`rangeEnd` of a range-shaped request: single, prefix, from-key, explicit (maybe reversed), all. */
  #span(): { key: BytesIn; rangeEnd?: BytesIn } {
    const r = this.#rng
    switch (r.weighted({ single: 5, prefix: 3, fromKey: 1, explicit: 2, all: 1 })) {
      case 'single':
        return { key: this.#key() }
      case 'prefix': {
        const p = this.#letterKey()
        return { key: p, rangeEnd: String.fromCharCode(p.charCodeAt(0) + 1) }
      }
      case 'fromKey':
        return { key: this.#key(), rangeEnd: '\0' }
      case 'explicit':
        return { key: this.#key(), rangeEnd: this.#key() }
      case 'all':
        return { key: '\0', rangeEnd: '\0' }
    }
  }

  #range(inTxn: boolean): RangeRequestInput {
    const r = this.#rng
    const req: RangeRequestInput = { ...this.#span() }
    if (r.chance(0.3)) req.limit = r.chance(0.1) ? -r.int(1, 2) : r.int(0, 4)
    if (r.chance(inTxn ? 0.1 : 0.35)) req.revision = this.#revision()
    if (r.chance(0.4)) req.sortOrder = r.pick(SORT_ORDERS)
    if (r.chance(0.4)) req.sortTarget = r.pick(SORT_TARGETS)
    if (r.chance(0.1)) req.serializable = true
    if (r.chance(0.15)) req.keysOnly = true
    if (r.chance(0.1)) req.countOnly = true
    if (r.chance(0.1)) req.minModRevision = this.#smallNumber()
    if (r.chance(0.1)) req.maxModRevision = this.#smallNumber()
    if (r.chance(0.1)) req.minCreateRevision = this.#smallNumber()
    if (r.chance(0.1)) req.maxCreateRevision = this.#smallNumber()
    return req
  }

  /** A put; inside a txn branch, its key avoids the branch's other writes unless duplicates are wanted. */
  #put(branch: BranchKeys | undefined): PutRequestInput {
    const r = this.#rng
    const key = this.#writeKey(branch)
    const req: PutRequestInput = { key, value: this.#value() }
    if (r.chance(0.35)) req.prevKv = true
    // ignoreValue/ignoreLease fail on a missing key ("key not found") and with a value or
    // lease given ("value is provided"); both occur here. Leases stay '0' until leases exist.
    const flagChance = branch === undefined ? 0.05 : 0.015 // in a txn, one failure fails it all
    if (r.chance(flagChance)) {
      req.ignoreValue = true
      if (r.chance(0.8)) delete req.value
    }
    if (r.chance(flagChance)) req.ignoreLease = true
    return req
  }

  /** A key for a write in `branch`, recorded there. */
  #writeKey(branch: BranchKeys | undefined): BytesIn {
    if (branch === undefined || branch.free) return this.#key()
    for (let i = 0; i < 20; i++) {
      const k = this.#key()
      const hex = Buffer.from(typeof k === 'string' ? encoder.encode(k) : k).toString('hex')
      if (!branch.used.has(hex)) {
        branch.used.add(hex)
        return k
      }
    }
    // The alphabet is exhausted for this branch; a fresh, long key cannot collide.
    const k = `zz${branch.used.size}`
    branch.used.add(Buffer.from(k).toString('hex'))
    return k
  }

  #deleteRange(branch: BranchKeys | undefined): DeleteRangeRequestInput {
    const r = this.#rng
    let req: DeleteRangeRequestInput
    if (branch === undefined || branch.free) {
      req = { ...this.#span() }
    } else if (branch.used.size === 0 && r.chance(0.4)) {
      // A range delete is the branch's only write: nothing it covers can be a duplicate.
      req = { ...this.#span() }
      branch.closed = true
    } else {
      req = { key: this.#writeKey(branch) }
    }
    if (r.chance(0.4)) req.prevKv = true
    return req
  }

  #compare(): CompareInput {
    const r = this.#rng
    const target = r.pick(COMPARE_TARGETS)
    const c: CompareInput = { result: r.pick(COMPARE_RESULTS), target, key: this.#key() }
    if (r.chance(0.15)) {
      const s = this.#span()
      c.key = s.key
      if (s.rangeEnd !== undefined) c.rangeEnd = s.rangeEnd
    }
    switch (target) {
      case 'VALUE':
        c.value = this.#value()
        break
      case 'VERSION':
        c.version = r.int(0, 4)
        break
      case 'CREATE':
        c.createRevision = this.#smallNumber()
        break
      case 'MOD':
        c.modRevision = this.#smallNumber()
        break
      case 'LEASE':
        c.lease = r.chance(0.8) ? '0' : String(r.int(1, 3))
        break
    }
    return c
  }

  #branch(depth: number, branch: BranchKeys): RequestOpInput[] {
    const r = this.#rng
    const n = r.weighted({ 0: 2, 1: 4, 2: 3, 3: 2, 4: 1, 6: 1 })
    const ops: RequestOpInput[] = []
    for (let i = 0; i < Number(n); i++) {
      const canWrite = !branch.closed
      const kind = r.weighted({
        range: 4,
        put: canWrite ? 4 : 0,
        deleteRange: canWrite ? 2 : 0,
        txn: depth < 2 && canWrite ? 1 : 0,
      })
      switch (kind) {
        case 'range':
          ops.push({ requestRange: this.#range(true) })
          break
        case 'put':
          ops.push({ requestPut: this.#put(branch) })
          break
        case 'deleteRange':
          ops.push({ requestDeleteRange: this.#deleteRange(branch) })
          break
        case 'txn':
          ops.push({ requestTxn: this.#txn(depth + 1, branch) })
          break
      }
    }
    return ops
  }

  /**
   * A txn. Its branches write distinct keys unless this txn is picked to provoke
   * `duplicate key given in txn request`; a nested txn shares its parent branch's key set
   * (etcd checks duplicates across nesting levels).
   */
  #txn(depth: number, parent?: BranchKeys): TxnRequestInput {
    const r = this.#rng
    const free = parent?.free ?? r.chance(0.08)
    const compare: CompareInput[] = []
    const nc = r.weighted({ 0: 2, 1: 5, 2: 2, 3: 1 })
    for (let i = 0; i < Number(nc); i++) compare.push(this.#compare())
    // Success and failure are checked separately by etcd; nested branches inherit the
    // parent's keys (copied, since only one of the nested branches runs).
    const fork = (): BranchKeys => ({ free, used: new Set(parent?.used ?? []), closed: parent?.closed ?? false })
    const successKeys = fork()
    const failureKeys = fork()
    const req: TxnRequestInput = {}
    if (compare.length > 0 || r.chance(0.5)) req.compare = compare
    const success = this.#branch(depth, successKeys)
    const failure = this.#branch(depth, failureKeys)
    if (success.length > 0 || r.chance(0.5)) req.success = success
    if (failure.length > 0 || r.chance(0.5)) req.failure = failure
    if (parent) {
      for (const k of successKeys.used) parent.used.add(k)
      for (const k of failureKeys.used) parent.used.add(k)
      parent.closed ||= successKeys.closed || failureKeys.closed
    }
    return req
  }

  #compact(): CompactionRequestInput {
    const r = this.#rng
    const { revision, compacted } = this.#view
    let rev: number
    switch (r.int(0, 5)) {
      case 0:
        // Already compacted; 0 and negatives too (a fresh etcd accepts 0 once, then refuses <= 0).
        rev = r.chance(0.3) ? -r.int(0, 2) : compacted - r.int(0, 1)
        break
      case 1:
        rev = revision + r.int(1, 2) // future
        break
      case 2:
        rev = revision // everything but the latest
        break
      default:
        rev = r.int(Math.max(1, compacted + 1), Math.max(1, revision))
    }
    const req: CompactionRequestInput = { revision: rev }
    if (r.chance(0.3)) req.physical = true
    return req
  }

  /** Requests etcd must refuse, each aimed at one error. */
  #invalid(): KvOp {
    const r = this.#rng
    switch (r.int(0, 7)) {
      case 0:
        return { kind: 'put', request: { key: '', value: 'x' } }
      case 1:
        return { kind: 'range', request: { key: '', rangeEnd: r.chance(0.5) ? 'b' : '' } }
      case 2:
        return { kind: 'deleteRange', request: { key: '' } }
      case 3: {
        const key = this.#key()
        return { kind: 'txn', request: { success: [{ requestPut: { key, value: '1' } }, { requestPut: { key, value: '2' } }] } }
      }
      case 4: {
        // A range delete covering a put of the same branch. With rangeEnd '\0' etcd 3.4
        // accepts it (its duplicate check sees an empty interval); with a real end it refuses.
        const key = this.#letterKey()
        const rangeEnd = r.chance(0.5) ? '\0' : String.fromCharCode(key.charCodeAt(0) + 1)
        return {
          kind: 'txn',
          request: { failure: [{ requestDeleteRange: { key, rangeEnd } }, { requestPut: { key: key + '1', value: 'v' } }] },
        }
      }
      case 5: {
        // More ops than --max-txn-ops in one branch (or exactly the limit, which is fine).
        const n = r.chance(0.3) ? MAX_TXN_OPS : MAX_TXN_OPS + r.int(1, 5)
        const ops: RequestOpInput[] = []
        for (let i = 0; i < n; i++) ops.push({ requestRange: { key: this.#key() } })
        return { kind: 'txn', request: r.chance(0.5) ? { success: ops } : { failure: ops } }
      }
      case 6:
        return { kind: 'txn', request: { compare: [{ result: 'EQUAL', target: 'VERSION', key: '', version: 0 }] } }
      default:
        return { kind: 'range', request: { key: this.#key(), revision: this.#view.revision + r.int(1, 100) } }
    }
  }
}

/** Turns a seed number from the environment or a list into a 32-bit seed. */
export function seedOf(v: string | number): number {
  const n = typeof v === 'number' ? v : Number.parseInt(v, 10)
  if (!Number.isFinite(n)) throw new Error(`bad seed ${String(v)}`)
  return n >>> 0
}
