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

function encodeEntry(e: Entry): Uint8Array {
  const out = new Uint8Array(9 + e.data.length)
  new DataView(out.buffer).setFloat64(0, e.term)
  out[8] = TYPE_CODE[e.type]
  out.set(e.data, 9)
  return out
}

function decodeEntry(index: number, b: Uint8Array): Entry {
  const term = new DataView(b.buffer, b.byteOffset, 8).getFloat64(0)
  return { index, term, type: b[8] === 1 ? 'ConfChange' : 'Normal', data: b.slice(9) }
}

/** What a member persists for one Ready. */
export interface RaftPersist {
  hardState?: HardState
  entries: Entry[]
  snapshot?: Snapshot
}

/** The Raft log and hard state of one member, on its database. */
export class RaftStorage {
  private readonly log: Bucket
  private readonly meta: Bucket
  private lastIndex = 0

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
    const entries: Entry[] = []
    for await (const [k, v] of s.log.iterator({ gt: indexKey(snapIndex) })) {
      entries.push(decodeEntry(keyIndex(k), v))
    }
    for (let i = 1; i < entries.length; i++) assert(entries[i]!.index === entries[i - 1]!.index + 1, 'persisted raft log is contiguous')
    if (entries.length > 0) memory.append(entries)
    s.lastIndex = entries.length > 0 ? entries[entries.length - 1]!.index : snapIndex
    if (hsBytes !== undefined) memory.setHardState(decodeRecord<HardState>(hsBytes))
    const fresh = hsBytes === undefined && snapBytes === undefined && entries.length === 0
    return { storage: s, memory, fresh, ...(confState ? { confState } : {}) }
  }

  /**
   * Persists one Ready's snapshot, entries and hard state in one batch. New entries replace
   * any persisted entries at or after their first index (a leader overwrote our tail).
   */
  async save(p: RaftPersist): Promise<void> {
    const ops: BackendOp[] = []
    let clearUpTo = 0
    if (p.snapshot !== undefined && p.snapshot.metadata.index > 0) {
      const snapIndex = p.snapshot.metadata.index
      ops.push({ type: 'put', bucket: this.meta, key: SNAPSHOT, value: encodeRecord(p.snapshot.metadata) })
      // a received snapshot replaces the whole log: drop any tail beyond it in this same batch
      for (let i = snapIndex + 1; i <= this.lastIndex; i++) ops.push({ type: 'del', bucket: this.log, key: indexKey(i) })
      this.lastIndex = snapIndex
      clearUpTo = snapIndex
    }
    if (p.entries.length > 0) {
      const first = p.entries[0]!.index
      assert(first <= this.lastIndex + 1, `raft log gap: appending ${first} after ${this.lastIndex}`)
      for (const e of p.entries) ops.push({ type: 'put', bucket: this.log, key: indexKey(e.index), value: encodeEntry(e) })
      const newLast = p.entries[p.entries.length - 1]!.index
      for (let i = newLast + 1; i <= this.lastIndex; i++) ops.push({ type: 'del', bucket: this.log, key: indexKey(i) })
      this.lastIndex = newLast
    }
    if (p.hardState !== undefined) ops.push({ type: 'put', bucket: this.meta, key: HARD_STATE, value: encodeRecord(p.hardState) })
    if (ops.length > 0) await writeBuckets(this.db, ops)
    // Entries at or below the snapshot are ignored on load; removing them is only cleanup.
    if (clearUpTo > 0) await this.log.clear({ lte: indexKey(clearUpTo) })
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

  /** Records a snapshot taken at `metadata.index` and drops persisted entries up to `compactTo`. */
  async compact(metadata: SnapshotMetadata, compactTo: number): Promise<void> {
    await this.meta.put(SNAPSHOT, encodeRecord(metadata))
    await this.log.clear({ lte: indexKey(compactTo) })
  }
}
