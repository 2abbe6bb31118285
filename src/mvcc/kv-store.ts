/**
 * The multi-version key-value store of one member (etcd's `mvcc.store`, without watch):
 * every write creates a revision, the backend keeps each key's records by revision, the
 * {@link TreeIndex} maps keys to revisions, and reads at any revision since the last
 * compaction see the store exactly as it was then.
 *
 * Concurrency: the caller runs one write at a time ({@link KVStore.write} to
 * {@link TxnWrite.end}) and no compaction while a write is open (a member's apply loop
 * does both). Reads ({@link KVStore.range}, {@link KVStore.hashKV}) may run at any time:
 * they resolve their revisions from the index synchronously when called, only see
 * revisions up to the visible {@link KVStore.rev} (which moves only after a write's batch
 * is stored), and a compaction deletes records only after every read that began before
 * it has finished.
 *
 * @module
 */

import { EMPTY, toBinaryString } from '../api/bytes.js'
import type { KeyValue } from '../api/messages.js'
import { assert, etcdError } from '../errors.js'
import type { BackendOp, Database } from './backend.js'
import { Backend } from './backend.js'
import { crc32c } from './hash.js'
import { KeyIndex } from './key-index.js'
import { decodeKeyValue, decodeKeyValuesInto, encodeKeyValue } from './kv-codec.js'
import type { Revision, RevisionSet } from './revision.js'
import { decodeRevision, encodeRevision, isTombstoneKey, revisionId } from './revision.js'
import type { RangeEnd } from './tree-index.js'
import { TreeIndex } from './tree-index.js'

/** Options of a read (etcd's `RangeOptions`). */
export interface RangeOptions {
  /** Most keys to return; 0 or absent for all. `count` still counts every key. */
  limit?: number
  /** Revision to read at; 0 or absent for the current one. */
  rev?: number
  /** Only count the keys; return no key-values. */
  count?: boolean
  /**
   * Values are not needed (etcd's `keys_only`, or a txn compare on a revision or version):
   * records read from storage come back with empty values. Records still buffered by an
   * open write or a group commit may keep theirs.
   */
  keysOnly?: boolean
}

/** The answer to a read (etcd's `RangeResult`). */
export interface RangeResult {
  /** The key-values live at the read revision, in key order. */
  kvs: KeyValue[]
  /** The store's current revision (not the read revision), as etcd reports it. */
  rev: number
  /** Keys live in the range at the read revision, regardless of `limit`. */
  count: number
}

/** One change of a write, as a watcher sees it (mvccpb.Event without the watch layer's prevKv lookup). */
export interface Event {
  type: 'PUT' | 'DELETE'
  /** For PUT the new key-value; for DELETE the key with `modRevision` = the delete's revision. */
  kv: KeyValue
  /** Not filled by the store: the watch layer reads it at `modRevision - 1` when asked to. */
  prevKv?: KeyValue
}

/**
 * One write (etcd's `TxnWrite`): changes get revision `beginRev + 1` with sub revisions
 * in order; they become visible, atomically, when {@link TxnWrite.end} has stored them.
 */
export interface TxnWrite {
  /** The store's revision when the write began. */
  readonly beginRev: number
  /** Reads as {@link KVStore.range}, seeing this write's own changes; `rev` is `beginRev`, plus 1 once there are changes. */
  range(key: Uint8Array, end: RangeEnd, opts?: RangeOptions): Promise<RangeResult>
  /**
   * Puts `value` under `key` with `lease` (`'0'` for none); returns `beginRev + 1`. The
   * store keeps references to `key` and `value`: do not mutate them afterwards.
   */
  put(key: Uint8Array, value: Uint8Array, lease: string): number
  /** Deletes the live keys in the range; `rev` is `beginRev + 1` when this write has changes, else `beginRev`. */
  deleteRange(key: Uint8Array, end: RangeEnd): Promise<{ deleted: number; rev: number }>
  /** This write's changes so far, in order. */
  changes(): readonly Event[]
  /**
   * Stores every change, the new revision and `consistentIndex` (when given) in one
   * batch, then makes the revision visible. A write without changes stores only the index.
   * `extra` writes of other buckets (leases) go in the same batch.
   */
  end(meta?: { consistentIndex?: number; extra?: readonly BackendOp[] }): Promise<void>
  /**
   * {@link end} during group commit ({@link KVStore.batching}), done at once: the write is
   * visible on return and stored by the next flush. Throws if the store is not batching.
   */
  endBuffered(meta?: { consistentIndex?: number; extra?: readonly BackendOp[] }): void
}

/** What {@link KVStore.compact} hands back once the compaction is scheduled. */
export interface CompactResult {
  /** Settles when the compacted records are deleted from the backend (etcd's compaction done channel). */
  physical: Promise<void>
}

/** etcd's `KeyValueHash`: equal on members with equal history up to `revision`. */
export interface HashKVResult {
  /** CRC-32C over the `key` bucket name and every record up to `revision` that compaction keeps. */
  hash: number
  /** The store's compaction revision when hashed (-1 if never compacted). */
  compactRevision: number
  /** The revision hashed up to. */
  revision: number
}

/** Tuning of a {@link KVStore}. */
export interface KVStoreOptions {
  /** Records deleted per backend batch by a compaction (etcd's `CompactionBatchLimit`, default 1000). */
  compactionBatchLimit?: number
}

const KEY_BUCKET_NAME = new TextEncoder().encode('key')
const RESTORE_CHUNK = 1000

/** State shared by the store and its open write. Internal: not exported from the package. */
class StoreState {
  readonly backend: Backend
  readonly index = new TreeIndex()
  readonly compactionBatchLimit: number
  currentRev = 1
  /** -1 until the first compaction, as etcd's `compactMainRev`. */
  compactMainRev = -1
  consistentIndex = 0
  activeWrite: StoreTxnWrite | undefined
  closed = false
  failure: unknown = undefined
  /** Reads under way; a compaction waits for the ones that began before it. */
  readonly readers = new Set<Promise<void>>()
  /** The chain of physical compactions, run one after the other (etcd's FIFO scheduler). */
  compaction: Promise<void> = Promise.resolve()
  /** True between `beginBatch()` and `flush()`: ended writes are buffered, not stored. */
  batching = false
  /** Records of ended but unflushed writes, readable like stored ones (etcd's batchTx buffer). */
  readonly unflushed = new RecordBuffer()
  /** Flushes under way, and how many of the oldest buffered records they store between them. */
  flushing = 0
  claimedRecords = 0
  /** Backend writes waiting for `flush()`, in order. */
  unflushedOps: BackendOp[] = []
  /** Whether `flush()` must store `currentRev` / `consistentIndex`: a buffered write changed them. */
  unflushedRevision = false
  unflushedIndex = false

  /**
   * True when the database keeps its data in memory (abstract-level's `permanence: false`,
   * e.g. memory-level): the index then keeps each key's current record
   * ({@link KeyIndex.latest}, the very bytes the backend holds), so reads of current values
   * skip the backend. A disk database keeps none: that would hold every value in the heap.
   */
  readonly keepRecords: boolean

  constructor(backend: Backend, options: KVStoreOptions) {
    this.backend = backend
    this.keepRecords = (backend.db.supports as { permanence?: boolean }).permanence === false
    this.compactionBatchLimit = options.compactionBatchLimit ?? 1000
    assert(this.compactionBatchLimit > 0, 'compaction batch limit must be positive')
  }

  /** Throws when the store is closed, or broken by a backend failure. */
  checkUsable(): void {
    if (this.failure !== undefined) throw this.failure
    if (this.closed) throw etcdError('StoreClosed')
  }

  /**
   * Records a backend failure: the index may now be ahead of the backend, so the store
   * refuses every further operation (the member must restart and restore).
   */
  fail(err: unknown): void {
    if (this.failure === undefined) this.failure = err
  }

  /** Registers a read so that compactions scheduled after it began wait for it. */
  track<T>(p: Promise<T>): Promise<T> {
    const settled = p.then(
      () => undefined,
      () => undefined, // the caller gets the rejection through `p`; this copy only marks the end
    )
    this.readers.add(settled)
    void settled.then(() => this.readers.delete(settled)) // bookkeeping only; cannot reject
    return p
  }

  /**
   * Reads the range at `curRev` (etcd's `rangeKeys`): validates the revision, resolves
   * revisions from the index now, then fetches their records (`pending` first: the open
   * write's records are not in the backend yet). The answer is synchronous whenever no
   * record needs an asynchronous backend read (a backend with `getSync`, or every record
   * buffered), a promise otherwise; errors are thrown.
   */
  readRange(
    key: Uint8Array,
    end: RangeEnd,
    curRev: number,
    opts: RangeOptions,
    pending?: RecordBuffer,
  ): RangeResult | Promise<RangeResult> {
    let rev = opts.rev ?? 0
    if (rev > curRev) throw etcdError('FutureRev')
    if (rev <= 0) rev = curRev
    if (rev < this.compactMainRev) throw etcdError('Compacted')
    if (opts.count === true) return { kvs: [], rev: curRev, count: this.index.countRevisions(key, end, rev) }
    const unflushed = this.unflushed.size > 0 ? this.unflushed : undefined
    const own = pending !== undefined && pending.size > 0 ? pending : undefined
    const buffered = own !== undefined || unflushed !== undefined
    if (end === undefined && this.backend.syncReads) {
      // the hot path of a point read: no intermediate arrays
      const ki = this.index.keyIndex(key)
      if (ki === undefined) return { kvs: [], rev: curRev, count: 0 }
      // the current value, kept by the index: the key's newest record (buffered or not), so
      // it is the key's state at any revision from its own on
      const latest = ki.latest
      if (latest !== undefined && ki.latestMain <= rev) return { kvs: [decodeKeyValue(latest, opts.keysOnly !== true)], rev: curRev, count: 1 }
      const e = ki.get(rev)
      if (e === undefined) return { kvs: [], rev: curRev, count: 0 }
      if (!buffered) return { kvs: [this.recordSync(e.modified, opts.keysOnly !== true)], rev: curRev, count: 1 }
    }
    const limit = opts.limit ?? 0
    const records: (Uint8Array | undefined)[] | undefined = this.keepRecords ? [] : undefined
    const { revs, total } = this.index.revisions(key, end, rev, limit, records)
    if (revs.length === 0) return { kvs: [], rev: curRev, count: total }
    const kvs: KeyValue[] = new Array(revs.length)
    // the records to decode, by position: kept by the index or read synchronously
    const raw: (Uint8Array | undefined)[] = records ?? new Array(revs.length)
    let missing: Uint8Array[] | undefined
    let missingAt: number[] | undefined
    for (let i = 0; i < revs.length; i++) {
      if (raw[i] !== undefined) continue
      const r = revs[i]!
      if (buffered) {
        const kv = own?.get(r) ?? unflushed?.get(r)
        if (kv !== undefined) {
          kvs[i] = kv
          continue
        }
      }
      if (this.backend.syncReads) {
        const v = this.backend.getRecordSync(r)
        if (v === undefined) assert(false, `revision ${revisionId(r)} is indexed but not stored`)
        raw[i] = v
      } else {
        ;(missing ??= []).push(encodeRevision(r))
        ;(missingAt ??= []).push(i)
      }
    }
    decodeKeyValuesInto(raw, kvs, opts.keysOnly !== true)
    if (missing === undefined || missingAt === undefined) return { kvs, rev: curRev, count: total }
    const at = missingAt
    return this.backend.key.getMany(missing).then((values) => {
      for (let j = 0; j < values.length; j++) {
        const v = values[j]
        if (v === undefined) assert(false, `revision ${revisionId(revs[at[j]!]!)} is indexed but not stored`)
        kvs[at[j]!] = decodeKeyValue(v, opts.keysOnly !== true)
      }
      return { kvs, rev: curRev, count: total }
    })
  }

  /** The stored record of `rev`, decoded (a sync backend only). */
  recordSync(r: Revision, withValue = true): KeyValue {
    const v = this.backend.getRecordSync(r)
    if (v === undefined) assert(false, `revision ${revisionId(r)} is indexed but not stored`)
    return decodeKeyValue(v, withValue)
  }

  /** {@link readRange} as a promise (rejected on error). */
  rangeKeys(
    key: Uint8Array,
    end: RangeEnd,
    curRev: number,
    opts: RangeOptions,
    pending?: RecordBuffer,
  ): Promise<RangeResult> {
    try {
      const r = this.readRange(key, end, curRev, opts, pending)
      return r instanceof Promise ? r : Promise.resolve(r)
    } catch (err) {
      return Promise.reject(err)
    }
  }
}

/** etcd's `store`: revisions, reads at a revision, writes, compaction and HashKV over a backend. */
export class KVStore {
  readonly #s: StoreState

  private constructor(s: StoreState) {
    this.#s = s
  }

  /**
   * Opens a store over `db` (opening it if needed): reads the meta bucket, rebuilds the
   * index from the key bucket (etcd's `restore`) and finishes a compaction that was
   * scheduled but not completed. The caller owns `db` and closes it after {@link close}.
   */
  static async open(db: Database, options: KVStoreOptions = {}): Promise<KVStore> {
    const backend = await Backend.open(db)
    const s = new StoreState(backend, options)
    const finished = await backend.getMeta('finishedCompactRevision')
    const scheduled = await backend.getMeta('scheduledCompactRevision')
    s.consistentIndex = (await backend.getMeta('consistentIndex')) ?? 0
    s.compactMainRev = finished ?? -1
    const maxKeyRev = await restoreIndex(backend, s.index, s.keepRecords)
    // Compaction may have deleted every record up to the compaction revision: the store
    // is then at least at that revision (as etcd's restore).
    s.currentRev = Math.max(1, (await backend.getMeta('currentRevision')) ?? 0, maxKeyRev, s.compactMainRev)
    const store = new KVStore(s)
    if (scheduled !== undefined && scheduled > s.compactMainRev) {
      const { physical } = await store.compact(scheduled)
      await physical
    }
    return store
  }

  /** The current (visible) revision; 1 for a fresh store, as in etcd. */
  get rev(): number {
    return this.#s.currentRev
  }

  /** The last compaction revision; -1 when the store was never compacted (etcd's `compactMainRev`). */
  get compactRev(): number {
    return this.#s.compactMainRev
  }

  /**
   * The revisions and version of `key` at the current revision, from the index alone (no
   * record is read), `undefined` when it does not exist: what a txn compare on CREATE, MOD
   * or VERSION looks at, answered without an await. Equal to those fields of
   * {@link range}'s result for the key.
   */
  currentKeyState(key: Uint8Array): { createRevision: number; modRevision: number; version: number } | undefined {
    const s = this.#s
    s.checkUsable()
    const e = s.index.get(key, s.currentRev)
    return e === undefined ? undefined : { createRevision: e.created.main, modRevision: e.modified.main, version: e.version }
  }

  /** True between {@link beginBatch} and {@link flush}: a write may then end with {@link TxnWrite.endBuffered}. */
  get batching(): boolean {
    return this.#s.batching
  }

  /** The last applied Raft index stored with the data (0 if none), so replay can skip what is applied. */
  get consistentIndex(): number {
    return this.#s.consistentIndex
  }

  /** The index, for the watch layer's catch-up ({@link TreeIndex.rangeSince}) and for tests. */
  get index(): TreeIndex {
    return this.#s.index
  }

  /** The backend, for layers that keep their own buckets in the same database. */
  get backend(): Backend {
    return this.#s.backend
  }

  /**
   * Reads the keys of a range at `opts.rev` (current if <= 0). Fails with `FutureRev`
   * above the current revision and with `Compacted` below the compaction revision (a read
   * at exactly the compaction revision succeeds, as in etcd).
   */
  range(key: Uint8Array, end: RangeEnd, opts: RangeOptions = {}): Promise<RangeResult> {
    const s = this.#s
    let r: RangeResult | Promise<RangeResult>
    try {
      s.checkUsable()
      r = s.readRange(key, end, s.currentRev, opts)
    } catch (err) {
      return Promise.reject(err)
    }
    // a read answered synchronously is over before any compaction can delete a record: only
    // one still waiting on the backend is tracked
    return r instanceof Promise ? s.track(r) : Promise.resolve(r)
  }

  /**
   * The events of the keys in a range at main revisions `fromRev`..`toRev` (inclusive), in
   * revision order (etcd's `rangeEventsWithReverse` over `RangeSince`): what a watcher
   * catching up from history replays. Revisions are resolved from the index when called,
   * so a compaction that starts later waits for the read. Fails with `Compacted` when
   * `fromRev` < the compaction revision (watchers see that as a compacted watch).
   */
  eventsBetween(key: Uint8Array, end: RangeEnd, fromRev: number, toRev: number): Promise<Event[]> {
    const s = this.#s
    try {
      s.checkUsable()
      if (fromRev < s.compactMainRev) throw etcdError('Compacted')
    } catch (err) {
      return Promise.reject(err)
    }
    const revs = s.index.rangeSince(key, end, fromRev).filter((r) => r.main <= toRev)
    const work = async (): Promise<Event[]> => {
      const out: (Event | undefined)[] = new Array(revs.length)
      const missing: Uint8Array[] = []
      const missingAt: number[] = []
      revs.forEach((r, i) => {
        const own = s.unflushed.get(r)
        // an unflushed tombstone is buffered with modRevision 0 (a put's is its revision)
        if (own !== undefined) out[i] = own.modRevision === 0 ? deleteEvent(own.key, r.main) : { type: 'PUT', kv: own }
        else {
          missing.push(encodeRevision(r))
          missingAt.push(i)
        }
      })
      if (missing.length > 0) {
        // a tombstone is stored under its marked key: look up both encodings
        const plain = await s.backend.key.getMany(missing)
        const marked = await s.backend.key.getMany(missingAt.map((i) => encodeRevision(revs[i]!, true)))
        missingAt.forEach((at, j) => {
          const r = revs[at]!
          const put = plain[j]
          const del = marked[j]
          if (put !== undefined) out[at] = { type: 'PUT', kv: decodeKeyValue(put) }
          else {
            assert(del !== undefined, `revision ${revisionId(r)} is indexed but not stored`)
            out[at] = deleteEvent(decodeKeyValue(del).key, r.main)
          }
        })
      }
      return out as Event[]
    }
    return s.track(work())
  }

  /**
   * Starts group commit (etcd's batch transaction): writes ended from now on become
   * visible at once but are stored together by {@link KVStore.flush}. A member applies all
   * the entries of one Raft Ready this way and answers its clients after the flush; if it
   * crashes first, the entries are applied again from its Raft log.
   */
  beginBatch(): void {
    this.#s.checkUsable()
    this.#s.batching = true
  }

  /** Stores every write ended since {@link KVStore.beginBatch} in one backend batch, and ends group commit. */
  async flush(): Promise<void> {
    const s = this.#s
    s.batching = false
    const ops = s.unflushedOps
    if (s.unflushedRevision) ops.push(s.backend.metaPut('currentRevision', s.currentRev))
    if (s.unflushedIndex) ops.push(s.backend.metaPut('consistentIndex', s.consistentIndex))
    s.unflushedRevision = false
    s.unflushedIndex = false
    if (ops.length === 0) return
    s.unflushedOps = []
    // the records buffered so far belong to these ops or to those of flushes still under way
    s.claimedRecords = s.unflushed.size
    s.flushing++
    try {
      await s.backend.write(ops)
    } catch (err) {
      s.fail(err)
      throw err
    } finally {
      s.flushing--
    }
    // once no flush is under way, every claimed record is stored and leaves the buffer (records
    // of a batch begun meanwhile stay); until then they stay too, harmlessly: they are the
    // same bytes the backend now holds
    if (s.flushing === 0) {
      s.unflushed.dropFirst(s.claimedRecords)
      s.claimedRecords = 0
    }
  }

  /**
   * Packs the stored records into fresh memory ({@link Backend.repackRecords}), after any
   * compaction under way has deleted its records: the defragment of a store whose database
   * keeps records in this process (memory-level), where compaction frees a record's memory
   * only with the last record sharing its slab. The stored data, and every read, stay the
   * same. The caller serializes it with writes and compactions, as for {@link write}. A
   * failed backend write breaks the store, as a failed flush does.
   */
  async defragment(): Promise<void> {
    const s = this.#s
    s.checkUsable()
    assert(s.activeWrite === undefined, 'defragment while a write is open')
    await this.flush()
    await s.compaction
    if (!s.keepRecords) return
    try {
      await s.backend.repackRecords((k, record) => {
        if (isTombstoneKey(k)) return
        const rev = decodeRevision(k)
        const ki = s.index.keyIndex(decodeKeyValue(record, false).key)
        // the index keeps the record of each key's current value: point it at the copy
        if (ki !== undefined && ki.latest !== undefined && ki.modified.main === rev.main && ki.modified.sub === rev.sub) ki.keepLatest(record)
      })
    } catch (err) {
      s.fail(err)
      throw err
    }
  }

  /** Begins a write; the caller ends it before beginning the next one or compacting. */
  write(): TxnWrite {
    this.#s.checkUsable()
    assert(this.#s.activeWrite === undefined, 'a write is already open: writes must be serialized')
    const w = new StoreTxnWrite(this.#s)
    this.#s.activeWrite = w
    return w
  }

  /**
   * Settles when every compaction scheduled so far has deleted its records from the backend
   * (what etcd's `Compact` with `physical` waits for); rejects if a deletion failed.
   */
  physicallyCompacted(): Promise<void> {
    return this.#s.compaction
  }

  /**
   * Compacts at `rev`: reads below `rev` fail from now on, the index forgets the history
   * below it, and, once reads that began earlier are done, the backend records no longer
   * needed are deleted (`physical`). Fails with `Compacted` when `rev` <= the compaction
   * revision and `FutureRev` when `rev` > the current revision.
   */
  async compact(rev: number): Promise<CompactResult> {
    const s = this.#s
    s.checkUsable()
    assert(s.activeWrite === undefined, 'compaction while a write is open')
    if (rev <= s.compactMainRev) throw etcdError('Compacted')
    if (rev > s.currentRev) throw etcdError('FutureRev')
    const batching = s.batching
    await this.flush() // compaction works on stored records
    if (batching) s.batching = true
    s.compactMainRev = rev
    const earlierReads = [...s.readers]
    const keep = s.index.compact(rev)
    try {
      await s.backend.write([s.backend.metaPut('scheduledCompactRevision', rev)])
    } catch (err) {
      s.fail(err)
      throw err
    }
    const physical = s.compaction.then(async () => {
      await Promise.all(earlierReads)
      await deleteCompacted(s, rev, keep)
    })
    s.compaction = physical
    // A failed deletion breaks the store (reported to every later call); the caller may
    // also await `physical` to see it.
    void physical.catch((err: unknown) => s.fail(err))
    return { physical }
  }

  /**
   * Hashes the key bucket up to `rev` (current if <= 0), skipping records compaction has
   * dropped even if not yet deleted, so members with equal history hash equally whatever
   * their compaction progress (etcd's `HashByRev`).
   */
  hashKV(rev = 0): Promise<HashKVResult> {
    const s = this.#s
    try {
      s.checkUsable()
      if (rev > 0 && rev <= s.compactMainRev) throw etcdError('Compacted')
      if (rev > s.currentRev) throw etcdError('FutureRev')
    } catch (err) {
      return Promise.reject(err)
    }
    const at = rev <= 0 ? s.currentRev : rev
    const compactRev = s.compactMainRev
    const keep = s.index.keep(compactRev)
    const batching = s.batching
    const stored = s.unflushedOps.length > 0 || s.unflushedRevision || s.unflushedIndex ? this.flush() : Promise.resolve()
    s.batching = batching // a hash does not end the group commit under way
    const work = async (): Promise<HashKVResult> => {
      await stored // the hash covers stored records, so buffered ones are stored first
      let hash = crc32c(0, KEY_BUCKET_NAME)
      const it = s.backend.key.iterator({ lt: encodeRevision({ main: at + 1, sub: 0 }) })
      try {
        for (;;) {
          const entries = await it.nextv(RESTORE_CHUNK)
          if (entries.length === 0) break
          for (const [k, v] of entries) {
            const kr = decodeRevision(k)
            if (kr.main <= compactRev && !keep.has(kr)) continue
            hash = crc32c(hash, k)
            hash = crc32c(hash, v)
          }
        }
      } finally {
        await it.close()
      }
      return { hash, compactRevision: compactRev, revision: at }
    }
    return s.track(work())
  }

  /**
   * Stops the store: later calls fail with `StoreClosed`; waits for reads and compactions
   * under way. It does not close the database, which belongs to the caller.
   */
  async close(): Promise<void> {
    const s = this.#s
    if (s.closed) return
    assert(s.activeWrite === undefined, 'close while a write is open')
    await this.flush()
    s.closed = true
    await Promise.all([...s.readers])
    // A compaction failure was recorded by `fail`; closing still succeeds.
    await s.compaction.catch(() => undefined)
  }
}

/** Rebuilds `index` from the key bucket, oldest record first; returns the largest main revision seen (0 if none). */
async function restoreIndex(backend: Backend, index: TreeIndex, keepRecords: boolean): Promise<number> {
  let maxRev = 0
  const it = backend.key.iterator()
  try {
    for (;;) {
      const entries = await it.nextv(RESTORE_CHUNK)
      if (entries.length === 0) break
      for (const [k, v] of entries) {
        const rev = decodeRevision(k)
        maxRev = rev.main
        const kv = decodeKeyValue(v, false) // the index needs the key and revisions, not the value
        const ki = index.keyIndex(kv.key)
        if (isTombstoneKey(k)) {
          // A tombstone whose earlier records were compacted away has nothing to end.
          if (ki !== undefined && !ki.isEmpty()) ki.tombstone(rev)
          continue
        }
        if (ki === undefined) {
          const fresh = new KeyIndex(toBinaryString(kv.key))
          fresh.restore({ main: kv.createRevision, sub: 0 }, rev, kv.version)
          if (keepRecords) fresh.keepLatest(v)
          index.insert(fresh)
        } else {
          ki.put(rev)
          if (keepRecords) ki.keepLatest(v)
        }
      }
    }
  } finally {
    await it.close()
  }
  return maxRev
}

/** A delete event as etcd's watchers see it: the key, and the delete's revision as `modRevision`. */
function deleteEvent(key: Uint8Array, rev: number): Event {
  return { type: 'DELETE', kv: { key, value: new Uint8Array(0), createRevision: 0, modRevision: rev, version: 0, lease: '0' } }
}

/** Deletes the records at or below `rev` that compaction did not keep, in batches (etcd's `scheduleCompaction`). */
async function deleteCompacted(s: StoreState, rev: number, keep: RevisionSet): Promise<void> {
  const end = encodeRevision({ main: rev + 1, sub: 0 })
  let after: Uint8Array | undefined
  for (;;) {
    const keys = await s.backend.key.keys(after === undefined ? { lt: end, limit: s.compactionBatchLimit } : { gt: after, lt: end, limit: s.compactionBatchLimit }).all()
    const ops: BackendOp[] = []
    for (const k of keys) {
      if (!keep.has(decodeRevision(k))) ops.push({ type: 'del', bucket: s.backend.key, key: k })
    }
    const last = keys.length < s.compactionBatchLimit
    if (last) ops.push(s.backend.metaPut('finishedCompactRevision', rev))
    await s.backend.write(ops)
    if (last) return
    after = keys[keys.length - 1]
  }
}

/**
 * Records written but not in the backend yet, by revision. Appending is cheap (two array
 * pushes); the lookup map is built on the first lookup, which most batches never need: a
 * current value is read through the index's kept record instead.
 */
class RecordBuffer {
  readonly #revs: Revision[]
  readonly #kvs: KeyValue[]
  #index: Map<string, KeyValue> | undefined = undefined

  /** A buffer holding `rev`'s record `kv` already, or an empty one. */
  constructor(rev?: Revision, kv?: KeyValue) {
    // a write's buffer usually ends with its one record: arrays of one slot, where a push onto
    // an empty array makes room for 17
    this.#revs = rev === undefined ? [] : [rev]
    this.#kvs = kv === undefined ? [] : [kv]
  }

  /** Number of records held. */
  get size(): number {
    return this.#revs.length
  }

  add(rev: Revision, kv: KeyValue): void {
    this.#revs.push(rev)
    this.#kvs.push(kv)
    this.#index?.set(revisionId(rev), kv)
  }

  /** The record at `rev`, if held. */
  get(rev: Revision): KeyValue | undefined {
    if (this.#revs.length === 0) return undefined
    if (this.#index === undefined) {
      this.#index = new Map()
      for (let i = 0; i < this.#revs.length; i++) this.#index.set(revisionId(this.#revs[i]!), this.#kvs[i]!)
    }
    return this.#index.get(revisionId(rev))
  }

  forEach(fn: (rev: Revision, kv: KeyValue) => void): void {
    for (let i = 0; i < this.#revs.length; i++) fn(this.#revs[i]!, this.#kvs[i]!)
  }

  /** Drops the `n` oldest records (a flush stored them). */
  dropFirst(n: number): void {
    if (n <= 0) return
    if (n >= this.#revs.length) {
      // the usual case, a flush of everything held: no array of the dropped records
      this.#revs.length = 0
      this.#kvs.length = 0
    } else {
      this.#revs.splice(0, n)
      this.#kvs.splice(0, n)
    }
    this.#index = undefined
  }
}

/** The arrays of a write before its first element (frozen: never pushed to). */
const NONE: never[] = Object.freeze([]) as never[]

/** The open write of a store (etcd's `storeTxnWrite`). */
class StoreTxnWrite implements TxnWrite {
  readonly beginRev: number
  readonly #s: StoreState
  // created with their first element: a write of one put (the usual) then holds arrays of
  // one slot, where a push onto an empty array makes room for 17
  #ops: BackendOp[] = NONE
  #changes: Event[] = NONE
  /** This write's records, for its own reads and the group commit's buffer (created on first use). */
  #pending: RecordBuffer | undefined = undefined
  #ended = false

  constructor(s: StoreState) {
    this.#s = s
    this.beginRev = s.currentRev
  }

  range(key: Uint8Array, end: RangeEnd, opts: RangeOptions = {}): Promise<RangeResult> {
    this.#checkOpen()
    const rev = this.#changes.length > 0 ? this.beginRev + 1 : this.beginRev
    return this.#s.rangeKeys(key, end, rev, opts, this.#pending)
  }

  put(key: Uint8Array, value: Uint8Array, lease: string): number {
    this.#checkOpen()
    const rev = this.beginRev + 1
    const found = this.#s.index.lookup(key) // looked up once, for the previous state and the put
    const prev = typeof found === 'string' ? undefined : found.get(rev)
    const idxRev: Revision = { main: rev, sub: this.#changes.length }
    const kv: KeyValue = {
      key,
      value,
      createRevision: prev === undefined ? rev : prev.created.main,
      modRevision: rev,
      version: (prev?.version ?? 0) + 1,
      lease,
    }
    const { op, record } = this.#s.backend.recordPut(idxRev, kv)
    this.#addOp(op)
    this.#s.index.put(key, idxRev, this.#s.keepRecords ? record : undefined, found)
    this.#addChange({ type: 'PUT', kv })
    if (this.#pending === undefined) this.#pending = new RecordBuffer(idxRev, kv)
    else this.#pending.add(idxRev, kv)
    return rev
  }

  async deleteRange(key: Uint8Array, end: RangeEnd): Promise<{ deleted: number; rev: number }> {
    this.#checkOpen()
    const rrev = this.#changes.length > 0 ? this.beginRev + 1 : this.beginRev
    const { keys } = this.#s.index.range(key, end, rrev)
    for (const k of keys) this.#delete(k)
    if (keys.length > 0 || this.#changes.length > 0) return { deleted: keys.length, rev: this.beginRev + 1 }
    return { deleted: 0, rev: this.beginRev }
  }

  changes(): readonly Event[] {
    return this.#changes
  }

  async end(meta: { consistentIndex?: number; extra?: readonly BackendOp[] } = {}): Promise<void> {
    if (this.#s.batching) {
      this.endBuffered(meta)
      return
    }
    this.#checkOpen()
    this.#ended = true
    const s = this.#s
    const changed = this.#changes.length > 0
    const ops = this.#ops === NONE ? [] : this.#ops
    if (changed) ops.push(s.backend.metaPut('currentRevision', this.beginRev + 1))
    if (meta.consistentIndex !== undefined) ops.push(s.backend.metaPut('consistentIndex', meta.consistentIndex))
    if (meta.extra !== undefined) ops.push(...meta.extra)
    try {
      await s.backend.write(ops)
    } catch (err) {
      s.fail(err)
      throw err
    } finally {
      s.activeWrite = undefined
    }
    if (changed) s.currentRev = this.beginRev + 1
    if (meta.consistentIndex !== undefined) s.consistentIndex = meta.consistentIndex
  }

  endBuffered(meta: { consistentIndex?: number; extra?: readonly BackendOp[] } = {}): void {
    this.#checkOpen()
    const s = this.#s
    assert(s.batching, 'endBuffered() outside group commit')
    this.#ended = true
    const changed = this.#changes.length > 0
    // group commit: visible now, stored by the next flush(); the meta entries are written once
    // there, from the store's state (only the last of each would count in one batch anyway)
    this.#pending?.forEach((rev, kv) => s.unflushed.add(rev, kv))
    for (const op of this.#ops) s.unflushedOps.push(op)
    if (meta.extra !== undefined) for (const op of meta.extra) s.unflushedOps.push(op)
    s.activeWrite = undefined
    if (changed) {
      s.currentRev = this.beginRev + 1
      s.unflushedRevision = true
    }
    if (meta.consistentIndex !== undefined) {
      s.consistentIndex = meta.consistentIndex
      s.unflushedIndex = true
    }
  }

  #delete(key: Uint8Array): void {
    const rev = this.beginRev + 1
    const idxRev: Revision = { main: rev, sub: this.#changes.length }
    this.#addOp({
      type: 'put',
      bucket: this.#s.backend.key,
      key: encodeRevision(idxRev, true),
      value: encodeKeyValue({ key, value: EMPTY, createRevision: 0, modRevision: 0, version: 0, lease: '0' }),
    })
    // buffered like a put's record so that a watcher's catch-up (eventsBetween) finds it before the flush
    ;(this.#pending ??= new RecordBuffer()).add(idxRev, { key, value: EMPTY, createRevision: 0, modRevision: 0, version: 0, lease: '0' })
    const ok = this.#s.index.tombstone(key, idxRev)
    assert(ok, 'tombstone of a key the index just listed as live')
    this.#addChange({
      type: 'DELETE',
      kv: { key, value: new Uint8Array(0), createRevision: 0, modRevision: rev, version: 0, lease: '0' },
    })
  }

  #addOp(op: BackendOp): void {
    if (this.#ops === NONE) this.#ops = [op]
    else this.#ops.push(op)
  }

  #addChange(e: Event): void {
    if (this.#changes === NONE) this.#changes = [e]
    else this.#changes.push(e)
  }

  #checkOpen(): void {
    assert(!this.#ended, 'write used after end()')
    this.#s.checkUsable()
  }
}
