/**
 * Persists one member's Raft state (log entries, hard state, snapshot metadata) in its own
 * bucket of the member's database (etcd's WAL and snap files), and loads it back into a
 * Raft `MemoryStorage` on restart. Everything one Ready asks to persist is written in one
 * atomic batch, before the member sends messages or applies entries that depend on it.
 *
 * @module
 */
import type { BackendOp, Bucket, Database } from '../mvcc/backend.js'
import { decodeInt64, encodeInt64, writeBuckets } from '../mvcc/backend.js'
import type { ConfState, Entry, EntryType, HardState, Snapshot, SnapshotMetadata } from '../raft/index.js'
import { MemoryStorage } from '../raft/index.js'
import { assert } from '../errors.js'
import { varintSize, writeVarint } from '../api/varint.js'
import { decodeRecord, encodeRecord } from './record-codec.js'

const HARD_STATE = new TextEncoder().encode('hardState')
const INCARNATION = new TextEncoder().encode('incarnation')
const SNAPSHOT = new TextEncoder().encode('snapshot')

/** A log key: the index as 8 big-endian bytes (for indexes >= 0, the same as signed int64). */
function indexKey(index: number): Uint8Array {
  return encodeInt64(index)
}

function keyIndex(k: Uint8Array): number {
  return decodeInt64(k)
}

const TYPE_CODE: Record<EntryType, number> = { Normal: 0, ConfChange: 1 }

/**
 * A legacy record (one entry per key, as earlier versions wrote every entry): the term as a
 * big-endian float64, a type byte, the data. Still read; no longer written.
 */
function decodeEntry(index: number, b: Uint8Array): Entry {
  const term = new DataView(b.buffer, b.byteOffset, 8).getFloat64(0)
  return { index, term, type: b[8] === 1 ? 'ConfChange' : 'Normal', data: b.slice(9) }
}

/**
 * The first byte of a chunk record (all entries one save wrote). A legacy record (one entry,
 * {@link decodeEntry}) starts with the float64 of a non-negative term, whose sign bit is 0,
 * so its first byte is at most 0x7F and can never be this marker.
 */
const CHUNK = 0xc1

/**
 * Encodes consecutive entries as one record: the marker, a varint count, then per entry its
 * term (varint), type byte, data length (varint) and data. The key holds the first index.
 * With `share`, each entry's `data` then points at its bytes inside the record: the log the
 * member keeps in memory and the record the database stores share one copy (the bytes are
 * equal, and neither is written again) instead of holding every entry's data twice until
 * the log is compacted. The simulated network hands followers the leader's own `Entry`
 * objects (nothing is serialized in-process), so a follower's save repoints the data of
 * entries the leader and the other followers hold too: harmless because the new bytes are
 * equal to the old and no one ever writes entry data, but it is why this function is the
 * only place that may assign `data`, and why it must never write into it.
 */
export function encodeChunk(entries: readonly Entry[], share = false): Uint8Array {
  let size = 1 + varintSize(entries.length)
  for (const e of entries) size += varintSize(e.term) + 1 + varintSize(e.data.length) + e.data.length
  const out = new Uint8Array(size)
  out[0] = CHUNK
  let pos = writeVarint(out, 1, entries.length)
  for (const e of entries) {
    const len = e.data.length
    pos = writeVarint(out, pos, e.term)
    out[pos++] = TYPE_CODE[e.type]
    pos = writeVarint(out, pos, len)
    out.set(e.data, pos)
    if (share) e.data = out.subarray(pos, pos + len)
    pos += len
  }
  return out
}

/** Decodes one log record stored under `first`: a chunk of entries, or one legacy entry. */
export function decodeLogRecord(first: number, b: Uint8Array): Entry[] {
  if (b[0] !== CHUNK) return [decodeEntry(first, b)]
  let pos = 1
  const varint = (): number => {
    let n = 0
    let scale = 1
    for (;;) {
      assert(pos < b.length, 'raft log record is complete')
      const byte = b[pos++]!
      n += (byte & 0x7f) * scale
      if (byte < 0x80) return n
      scale *= 0x80
    }
  }
  const count = varint()
  const out: Entry[] = []
  for (let i = 0; i < count; i++) {
    const term = varint()
    assert(pos < b.length, 'raft log record is complete')
    const type: EntryType = b[pos++] === 1 ? 'ConfChange' : 'Normal'
    const len = varint()
    assert(pos + len <= b.length, 'raft log record is complete')
    out.push({ index: first + i, term, type, data: b.subarray(pos, pos + len) })
    pos += len
  }
  assert(pos === b.length, 'raft log record has no trailing bytes')
  return out
}

/** What a member persists for one Ready. */
export interface RaftPersist {
  hardState?: HardState
  entries: Entry[]
  snapshot?: Snapshot
}

/**
 * The Raft log and hard state of one member, on its database. The log is stored as one record
 * per save (a chunk of consecutive entries, keyed by its first index), so a Ready's entries
 * cost one database write and one later delete however many there are.
 */
export class RaftStorage {
  private readonly log: Bucket
  private readonly meta: Bucket
  private lastIndex = 0
  /**
   * The first index of every log record on disk, ascending. Record i holds live entries
   * `[starts[i], starts[i + 1] - 1]` (the last one up to `lastIndex`); entries it holds beyond
   * that are a stale tail a later record replaced.
   */
  private starts: number[] = []

  private constructor(
    private readonly db: Database,
    root: string,
  ) {
    this.log = db.sublevel<Uint8Array, Uint8Array>(`${root}-log`, { keyEncoding: 'view', valueEncoding: 'view' }) as Bucket
    this.meta = db.sublevel<Uint8Array, Uint8Array>(`${root}-meta`, { keyEncoding: 'view', valueEncoding: 'view' }) as Bucket
  }

  /** Opens the Raft buckets of `db` (named from `root`) and loads them into a fresh `MemoryStorage`. */
  static async open(db: Database, root = 'raft'): Promise<{ storage: RaftStorage; memory: MemoryStorage; fresh: boolean; confState?: ConfState }> {
    if (db.status !== 'open') await db.open()
    const s = new RaftStorage(db, root)
    const memory = new MemoryStorage()
    const hsBytes = await s.meta.get(HARD_STATE)
    const snapBytes = await s.meta.get(SNAPSHOT)
    let snapIndex = 0
    let confState: ConfState | undefined
    if (snapBytes !== undefined) {
      const metadata = decodeRecord<SnapshotMetadata>(snapBytes)
      memory.applySnapshot({ metadata, data: new Uint8Array(0) })
      snapIndex = metadata.index
      confState = metadata.confState
    }
    // Records apply in key order the way Raft appends: a record starting at i replaces every
    // loaded entry >= i. A record whose successor starts at or below snapIndex + 1 holds only
    // entries the snapshot covers, so it is not decoded.
    let entries: Entry[] = []
    let pending: [number, Uint8Array] | undefined
    const apply = (start: number, value: Uint8Array | undefined): void => {
      const first = entries.length > 0 ? entries[0]!.index : start
      const last = entries.length > 0 ? entries[entries.length - 1]!.index : start - 1
      if (start > last + 1) {
        // a gap is only allowed below the snapshot (an older version cleared up to it after the batch)
        assert(start <= snapIndex + 1, `persisted raft log is contiguous (record at ${start} after ${last})`)
        entries = []
      } else if (start <= first) entries = []
      else entries.length = start - first
      if (value !== undefined) for (const e of decodeLogRecord(start, value)) entries.push(e)
    }
    for await (const [k, v] of s.log.iterator()) {
      const start = keyIndex(k)
      s.starts.push(start)
      if (pending !== undefined) apply(pending[0], start <= snapIndex + 1 ? undefined : pending[1])
      pending = [start, v]
    }
    if (pending !== undefined) apply(pending[0], pending[1])
    let skip = 0
    while (skip < entries.length && entries[skip]!.index <= snapIndex) skip++
    if (skip > 0) entries = entries.slice(skip)
    for (let i = 1; i < entries.length; i++) assert(entries[i]!.index === entries[i - 1]!.index + 1, 'persisted raft log is contiguous')
    if (entries.length > 0) {
      assert(entries[0]!.index === snapIndex + 1, `persisted raft log starts after the snapshot (${entries[0]!.index}, snapshot ${snapIndex})`)
      memory.append(entries)
    }
    s.lastIndex = entries.length > 0 ? entries[entries.length - 1]!.index : snapIndex
    if (hsBytes !== undefined) memory.setHardState(decodeRecord<HardState>(hsBytes))
    const fresh = hsBytes === undefined && snapBytes === undefined && s.starts.length === 0
    return { storage: s, memory, fresh, ...(confState ? { confState } : {}) }
  }

  /**
   * Persists one Ready's snapshot, entries and hard state in one batch: the entries as one
   * record. New entries replace any persisted entries at or after their first index (a leader
   * overwrote our tail): records starting there are deleted, and an earlier record reaching
   * past it keeps a stale tail that loading replaces.
   */
  async save(p: RaftPersist): Promise<void> {
    const ops: BackendOp[] = []
    if (p.snapshot !== undefined && p.snapshot.metadata.index > 0) {
      ops.push({ type: 'put', bucket: this.meta, key: SNAPSHOT, value: encodeRecord(p.snapshot.metadata) })
      // a received snapshot replaces the whole log, in this same batch
      for (const start of this.starts) ops.push({ type: 'del', bucket: this.log, key: indexKey(start) })
      this.starts = []
      this.lastIndex = p.snapshot.metadata.index
    }
    if (p.entries.length > 0) {
      const first = p.entries[0]!.index
      assert(first <= this.lastIndex + 1, `raft log gap: appending ${first} after ${this.lastIndex}`)
      const starts = this.starts
      while (starts.length > 0 && starts[starts.length - 1]! >= first) {
        const start = starts.pop()!
        if (start !== first) ops.push({ type: 'del', bucket: this.log, key: indexKey(start) })
      }
      ops.push({ type: 'put', bucket: this.log, key: indexKey(first), value: encodeChunk(p.entries, true) })
      starts.push(first)
      this.lastIndex = p.entries[p.entries.length - 1]!.index
    }
    if (p.hardState !== undefined) ops.push({ type: 'put', bucket: this.meta, key: HARD_STATE, value: encodeRecord(p.hardState) })
    if (ops.length > 0) await writeBuckets(this.db, ops)
  }

  /**
   * Counts this member's starts, durably: each start gets a number never used before on this
   * database, so request ids (`<incarnation>.<counter>`) of a restarted member can never
   * match a proposal of an earlier start that commits late.
   */
  async nextIncarnation(): Promise<number> {
    const stored = await this.meta.get(INCARNATION)
    const n = (stored === undefined ? 0 : decodeRecord<number>(stored)) + 1
    await this.meta.put(INCARNATION, encodeRecord(n))
    return n
  }

  /**
   * Records a snapshot taken at `metadata.index` and deletes the log records all of whose live
   * entries are at or below `compactTo`, in one batch. A record straddling `compactTo` stays
   * (entries at or below the snapshot are ignored on load).
   */
  async compact(metadata: SnapshotMetadata, compactTo: number): Promise<void> {
    const ops: BackendOp[] = [{ type: 'put', bucket: this.meta, key: SNAPSHOT, value: encodeRecord(metadata) }]
    const starts = this.starts
    let drop = 0
    while (drop < starts.length && (drop + 1 < starts.length ? starts[drop + 1]! - 1 : this.lastIndex) <= compactTo) {
      ops.push({ type: 'del', bucket: this.log, key: indexKey(starts[drop]!) })
      drop++
    }
    if (drop > 0) this.starts = starts.slice(drop)
    await writeBuckets(this.db, ops)
  }

  /** The number of log records on disk (each save of entries writes one). */
  get logRecords(): number {
    return this.starts.length
  }
}
