/**
 * The member's persistent storage over any abstract-level database (etcd's `backend`):
 * named buckets are sublevels with byte keys and values, and every write of one applied
 * request goes in one atomic batch across buckets. MVCC uses `key` (revision → record)
 * and `meta`; lease, auth and the Raft log take their own buckets from the same database.
 *
 * @module
 */

import type { AbstractLevel, AbstractSublevel } from 'abstract-level'
import { assert } from '../errors.js'
import { SlabPool } from '../api/byte-pool.js'
import type { KeyValue } from '../api/messages.js'
import { keyValueSize, writeKeyValue } from './kv-codec.js'
import type { Revision } from './revision.js'
import { REV_BYTES_LEN, encodeRevision, writeRevision } from './revision.js'

/**
 * Any abstract-level database (memory-level, classic-level, ...), whatever its default
 * encodings. `any` here only because abstract-level's generics are invariant in practice:
 * `unknown` would reject `MemoryLevel<string, string>`; no value of these types is used,
 * since every bucket sets its own encodings.
 */
export type Database = AbstractLevel<any, any, any>

/** A bucket: a sublevel of the database with `Uint8Array` keys and values, in byte order. */
export type Bucket = AbstractSublevel<Database, unknown, Uint8Array, Uint8Array>

/** Names of the MVCC meta entries (etcd's `meta` bucket keys). */
export type MetaName = 'consistentIndex' | 'currentRevision' | 'scheduledCompactRevision' | 'finishedCompactRevision'

/** One write to a bucket, for {@link Backend.write}. */
export type BackendOp =
  | {
      type: 'put'
      bucket: Bucket
      /** The key in the bucket; with `prefixed`, the key in the root database instead. */
      key: Uint8Array
      value: Uint8Array
      /**
       * True when `key` already begins with its bucket's prefix, as {@link writeBuckets}
       * would build it for the root database (see {@link Backend.recordPut}): used as it is.
       */
      prefixed?: true
    }
  | { type: 'del'; bucket: Bucket; key: Uint8Array }

/** The meta bucket's keys, encoded once. */
const META_KEYS: Readonly<Record<MetaName, Uint8Array>> = (() => {
  const enc = new TextEncoder()
  const names: MetaName[] = ['consistentIndex', 'currentRevision', 'scheduledCompactRevision', 'finishedCompactRevision']
  return Object.fromEntries(names.map((n) => [n, enc.encode(n)])) as Record<MetaName, Uint8Array>
})()

/** Storage for one member: buckets in one database, written atomically per request. */
export class Backend {
  /** The database, shared by every bucket. The caller that opened it closes it. */
  readonly db: Database
  /** Revision → encoded KeyValue record (etcd's `key` bucket). */
  readonly key: Bucket
  /** Current revision, consistent index and compaction progress (etcd's `meta` bucket). */
  readonly meta: Bucket
  /**
   * True when the database reads synchronously (abstract-level's `getSync`, e.g.
   * memory-level): point reads then skip the promise machinery of `get`/`getMany`.
   */
  readonly syncReads: boolean
  readonly #buckets = new Map<string, Bucket>()
  /**
   * Where {@link recordPut} takes the arrays of the records it stores: views of 4 KiB slabs
   * that hold only this backend's records. An array of its own per record costs V8 about
   * 0.7 µs and an `ArrayBuffer` that the garbage collector tracks one by one (a million at
   * a million keys); a view costs 45 ns. A slab is freed once every record in it is deleted,
   * so after compaction a few surviving records can keep slabs alive: {@link repackRecords}
   * (run by defragment) packs them into fresh slabs.
   */
  #records = newRecordPool()
  /**
   * For {@link getRecordSync}: a reused key of the root database (the key bucket's prefix,
   * then a revision's bytes), already in the root's key format, and the options that make
   * the root take it and hand the value back as they are. Undefined without sync reads.
   */
  readonly #record: { scratch: Uint8Array; key: unknown; options: { keyEncoding: string; valueEncoding: string } } | undefined

  private constructor(db: Database) {
    this.db = db
    this.syncReads = (db.supports as { getSync?: boolean }).getSync === true
    this.key = this.sublevel('key')
    this.meta = this.sublevel('meta')
    this.#record = this.syncReads ? rootRecordReader(this.key) : undefined
  }

  /**
   * The key bucket's record at `rev` (not a tombstone), read synchronously; only when
   * {@link syncReads}. Equivalent to `key.getSync(encodeRevision(rev))`, but it asks the
   * root database directly with a reused, already prefixed and encoded key: no sublevel
   * layer, no key allocation. The value may be a view of the database's own bytes: copy
   * what you keep, never mutate it.
   */
  getRecordSync(rev: Revision): Uint8Array | undefined {
    const r = this.#record
    if (r === undefined) return this.key.getSync(encodeRevision(rev))
    writeRevision(r.scratch, r.scratch.length - REV_BYTES_LEN, rev)
    return (this.key.db as { getSync(key: unknown, options: object): Uint8Array | undefined }).getSync(r.key, r.options)
  }

  /** Opens `db` if needed and returns a backend over it. */
  static async open(db: Database): Promise<Backend> {
    if (db.status !== 'open') await db.open()
    return new Backend(db)
  }

  /**
   * The bucket `name` (created on first use, the same object afterwards), for other
   * layers (lease, auth, raft log) to keep their state next to the MVCC data.
   */
  sublevel(name: string): Bucket {
    let b = this.#buckets.get(name)
    if (b === undefined) {
      b = this.db.sublevel<Uint8Array, Uint8Array>(name, { keyEncoding: 'view', valueEncoding: 'view' }) as Bucket
      this.#buckets.set(name, b)
    }
    return b
  }

  /** Applies `ops` atomically, across buckets (etcd commits one batch transaction). */
  async write(ops: readonly BackendOp[]): Promise<void> {
    await writeBuckets(this.db, ops)
  }

  /**
   * The put of `kv`'s record at `rev` in the key bucket (for a {@link write}), and the
   * record. When the root database stores bytes, the root key (bucket prefix, revision) and
   * the record are one array: one allocation per put, and one buffer the database keeps for
   * both (they are written and deleted together) instead of a separate small array per key.
   */
  recordPut(rev: Revision, kv: KeyValue): { op: BackendOp; record: Uint8Array } {
    const size = keyValueSize(kv)
    const p = rootPrefix(this.db, this.key)
    if (p === null) {
      const record = new Uint8Array(size)
      writeKeyValue(record, 0, kv)
      return { op: { type: 'put', bucket: this.key, key: encodeRevision(rev), value: record }, record }
    }
    const head = p.prefix.length + REV_BYTES_LEN
    const both = this.#records.alloc(head + size)
    both.set(p.prefix, 0)
    writeRevision(both, p.prefix.length, rev)
    assert(writeKeyValue(both, head, kv) === both.length, 'key-value record size mismatch')
    const record = both.subarray(head)
    return { op: { type: 'put', bucket: this.key, key: both.subarray(0, head), value: record, prefixed: true }, record }
  }

  /**
   * Copies every record of the key bucket into freshly packed memory and stores the copies
   * in place of the originals, in batches of `batchSize` records; `moved` gets each
   * revision key and its new record, for whoever keeps a reference to the old one (the
   * index's latest records). This returns to the runtime the record slabs that compaction
   * left sparsely used. It changes no stored bytes, only where they live, and does nothing
   * when the database does not store bytes as given (a utf8 store, or a sublevel root).
   * The caller makes sure that nothing else writes the key bucket meanwhile.
   */
  async repackRecords(moved: (key: Uint8Array, record: Uint8Array) => void, batchSize = 1000): Promise<void> {
    const p = rootPrefix(this.db, this.key)
    if (p === null) return
    // a new pool, so that no copy lands in a slab that old records keep alive
    this.#records = newRecordPool()
    const it = this.key.iterator()
    try {
      for (;;) {
        const entries = await it.nextv(batchSize)
        if (entries.length === 0) return
        const ops: BackendOp[] = []
        const copies: [Uint8Array, Uint8Array][] = []
        for (const [k, v] of entries) {
          const head = p.prefix.length + k.length
          const both = this.#records.alloc(head + v.length)
          both.set(p.prefix, 0)
          both.set(k, p.prefix.length)
          both.set(v, head)
          const record = both.subarray(head)
          // a delete, then the put: an update in place would keep the old key array, and its slab
          ops.push({ type: 'del', bucket: this.key, key: k })
          ops.push({ type: 'put', bucket: this.key, key: both.subarray(0, head), value: record, prefixed: true })
          copies.push([k, record])
        }
        await this.write(ops)
        for (const [key, record] of copies) moved(key, record)
      }
    } finally {
      await it.close()
    }
  }

  /** A put of meta entry `name`, to include in a {@link write}. */
  metaPut(name: MetaName, value: number): BackendOp {
    return { type: 'put', bucket: this.meta, key: META_KEYS[name], value: encodeInt64(value) }
  }

  /** Reads meta entry `name`, `undefined` when never written. */
  async getMeta(name: MetaName): Promise<number | undefined> {
    const v = await this.meta.get(META_KEYS[name])
    return v === undefined ? undefined : decodeInt64(v)
  }

  /**
   * Approximate bytes on disk of the whole database, when the database can estimate it
   * cheaply (classic-level can); `undefined` otherwise.
   */
  async size(): Promise<number | undefined> {
    const db = this.db as Database & {
      approximateSize?: (start: Uint8Array, end: Uint8Array, options: { keyEncoding: 'view' }) => Promise<number>
    }
    if (typeof db.approximateSize !== 'function') return undefined
    return db.approximateSize(new Uint8Array([0]), new Uint8Array([0xff, 0xff, 0xff, 0xff]), { keyEncoding: 'view' })
  }
}

/** Stored records from 65 bytes to 1 KiB (with their root key) share 4 KiB slabs. */
function newRecordPool(): SlabPool {
  return new SlabPool(4096, 1024)
}

/**
 * The reader behind {@link Backend.getRecordSync}: the root database's key format for
 * byte keys ('view' or 'buffer'), a scratch key holding `bucket`'s global prefix, and that
 * scratch encoded once in the root's format (a Buffer is a view of the same memory, so
 * writing into the scratch changes it too). `undefined` when the root stores keys as text.
 */
function rootRecordReader(bucket: Bucket): { scratch: Uint8Array; key: unknown; options: { keyEncoding: string; valueEncoding: string } } | undefined {
  const root = bucket.db
  const format = root.keyEncoding('view').format
  if (format !== 'view' && format !== 'buffer') return undefined
  const prefix = bucket.prefixKey(new Uint8Array(0), 'view') as Uint8Array
  // an explicit ArrayBuffer: the encoded key (a Buffer for a 'buffer' store) must share its memory
  const scratch = new Uint8Array(new ArrayBuffer(prefix.length + REV_BYTES_LEN))
  scratch.set(prefix, 0)
  const key: unknown = root.keyEncoding(format).encode(scratch)
  const options = Object.freeze({ keyEncoding: format, valueEncoding: format })
  return { scratch, key, options }
}

/**
 * How {@link writeBuckets} addresses a bucket in its root database: the bucket's global
 * prefix and the root's native formats, or `null` to use the bucket's own sublevel ops: when
 * the database written is not the bucket's root (it is itself a sublevel of another), or the
 * root does not store bytes (a utf8 memory-level, which cannot hold byte buckets anyway).
 */
type RootPrefix = { prefix: Uint8Array; keyEncoding: 'view' | 'buffer'; valueEncoding: 'view' | 'buffer' } | null

const rootPrefixes = new WeakMap<Bucket, RootPrefix>()

function rootPrefix(db: Database, bucket: Bucket): RootPrefix {
  let p = rootPrefixes.get(bucket)
  if (p === undefined) {
    p = null
    const keyFormat = db.keyEncoding('view').format
    const valueFormat = db.valueEncoding('view').format
    if (bucket.db === db && (keyFormat === 'view' || keyFormat === 'buffer') && (valueFormat === 'view' || valueFormat === 'buffer')) {
      p = { prefix: new Uint8Array(bucket.prefixKey(new Uint8Array(0), 'view') as Uint8Array), keyEncoding: keyFormat, valueEncoding: valueFormat }
    }
    rootPrefixes.set(bucket, p)
  }
  return p
}

/**
 * Applies `ops` (writes to buckets of the root database `db`) in one atomic batch of `db`.
 * Equivalent to `db.batch(ops.map((op) => ({ ...op, sublevel: op.bucket })))`, but when
 * the root stores bytes ('view' or 'buffer' format, as memory-level and classic-level do)
 * each key is given already prefixed with its bucket's prefix and in the root's own formats,
 * so abstract-level neither prefixes through the sublevel nor transcodes. Each prefixed key
 * is its own small array (like the sublevel's), so a key kept by the database never keeps
 * other keys' memory alive; a `prefixed` put's key is used as it is. Shared by
 * {@link Backend.write} and the Raft storage.
 */
export async function writeBuckets(db: Database, ops: readonly BackendOp[]): Promise<void> {
  const n = ops.length
  if (n === 0) return
  const batch = new Array<object>(n)
  for (let i = 0; i < n; i++) {
    const op = ops[i]!
    const p = rootPrefix(db, op.bucket)
    if (p === null) {
      assert(op.type === 'del' || op.prefixed !== true, 'a prefixed put for a database that is not its root')
      batch[i] = op.type === 'put' ? { type: 'put', key: op.key, value: op.value, sublevel: op.bucket } : { type: 'del', key: op.key, sublevel: op.bucket }
      continue
    }
    let key = op.type === 'put' && op.prefixed === true ? op.key : undefined
    if (key === undefined) {
      key = new Uint8Array(p.prefix.length + op.key.length)
      key.set(p.prefix, 0)
      key.set(op.key, p.prefix.length)
    }
    batch[i] =
      op.type === 'put'
        ? { type: 'put', key, value: op.value, keyEncoding: p.keyEncoding, valueEncoding: p.valueEncoding }
        : { type: 'del', key, keyEncoding: p.keyEncoding }
  }
  await db.batch(batch as never) // plain ops; abstract-level's op types are generic over the database
}

/**
 * A safe integer as 8 big-endian bytes, two's complement: the bytes of
 * `DataView.setBigInt64(0, BigInt(n))` (and, for `n >= 0`, of `setBigUint64`), without
 * BigInt. The meta bucket's values and the Raft log's keys.
 */
export function encodeInt64(n: number): Uint8Array {
  if (!Number.isSafeInteger(n)) assert(false, `${n} is not a safe integer`)
  const out = new Uint8Array(8)
  // the high half rounds toward -infinity, so the low half n - hi * 2^32 is in [0, 2^32);
  // both are written modulo 2^32 (typed-array stores and >>> take the low bits)
  const hi = Math.floor(n / 0x1_0000_0000)
  out[0] = hi >>> 24
  out[1] = hi >>> 16
  out[2] = hi >>> 8
  out[3] = hi
  out[4] = n >>> 24
  out[5] = n >>> 16
  out[6] = n >>> 8
  out[7] = n
  return out
}

/**
 * Reads 8 big-endian bytes of two's complement as a number: `Number(getBigInt64(0))`
 * without BigInt (exact for safe integers, rounded like it beyond).
 */
export function decodeInt64(b: Uint8Array): number {
  assert(b.length === 8, 'int64 value is not 8 bytes')
  const hi = (b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]! // signed
  const lo = ((b[4]! << 24) | (b[5]! << 16) | (b[6]! << 8) | b[7]!) >>> 0
  return hi * 0x1_0000_0000 + lo
}
