/**
 * The log storage Raft reads from, and the in-memory implementation the member layer fills
 * after persisting each Ready (etcd-io/raft's `Storage` interface and `MemoryStorage`).
 *
 * @module
 */
import { assert } from './assert.js'
import { RaftError } from './raft-error.js'
import type { ConfState, Entry, HardState, Snapshot } from './types.js'
import { EMPTY_BYTES, NONE } from './types.js'

/** Bytes an entry counts for against size limits besides its data (term, index, type framing). */
export const ENTRY_OVERHEAD = 16

/** The size an entry counts for against `maxSizePerMsg` and similar limits (`Entry.Size()`). */
export function entrySize(e: Entry): number {
  return e.data.byteLength + ENTRY_OVERHEAD
}

/**
 * The longest prefix of `ents` whose total size stays within `maxSize`, but always at least one
 * entry, so a single oversized entry still makes progress (`limitSize`).
 */
export function limitSize(ents: Entry[], maxSize: number): Entry[] {
  if (ents.length === 0) return ents
  let size = entrySize(ents[0] as Entry)
  let limit = 1
  for (; limit < ents.length; limit++) {
    size += entrySize(ents[limit] as Entry)
    if (size > maxSize) break
  }
  return limit === ents.length ? ents : ents.slice(0, limit)
}

/** What Raft reads at startup from storage: the persisted hard state and membership. */
export interface InitialState {
  hardState: HardState
  confState: ConfState
}

/**
 * Read access to the stable log; all methods throw `RaftError` `ErrCompacted` for indexes
 * covered by the snapshot and `ErrUnavailable` for indexes past the last entry.
 */
export interface Storage {
  initialState(): InitialState
  /** Entries in [lo, hi), limited to `maxSize` bytes but at least one. */
  entries(lo: number, hi: number, maxSize: number): Entry[]
  term(i: number): number
  firstIndex(): number
  lastIndex(): number
  snapshot(): Snapshot
}

function emptySnapshot(): Snapshot {
  return { metadata: { index: 0, term: 0, confState: { voters: [], learners: [] } }, data: EMPTY_BYTES }
}

/**
 * An in-memory {@link Storage}: the member appends persisted entries, hard state and snapshots
 * to it and Raft reads its log from it. `ents[0]` is a dummy entry holding the snapshot's
 * index and term, so term lookups at the snapshot boundary work (as in etcd-io/raft).
 */
export class MemoryStorage implements Storage {
  private hardState: HardState = { term: 0, vote: NONE, commit: 0 }
  private snap: Snapshot = emptySnapshot()
  private ents: Entry[] = [{ term: 0, index: 0, type: 'Normal', data: EMPTY_BYTES }]

  /** The persisted hard state and the membership as of the snapshot. */
  initialState(): InitialState {
    return { hardState: { ...this.hardState }, confState: cloneConfState(this.snap.metadata.confState) }
  }

  /** Records the hard state the member persisted. */
  setHardState(hs: HardState): void {
    this.hardState = { ...hs }
  }

  private get offset(): number {
    return (this.ents[0] as Entry).index
  }

  /** Entries in [lo, hi) limited to `maxSize` bytes (at least one). */
  entries(lo: number, hi: number, maxSize: number): Entry[] {
    const offset = this.offset
    if (lo <= offset) throw new RaftError('ErrCompacted')
    assert(hi <= this.lastIndex() + 1, `entries' hi(${hi}) is out of bound lastindex(${this.lastIndex()})`)
    if (this.ents.length === 1) throw new RaftError('ErrUnavailable')
    return limitSize(this.ents.slice(lo - offset, hi - offset), maxSize)
  }

  /** The term of the entry at `i`, including the snapshot's last entry. */
  term(i: number): number {
    const offset = this.offset
    if (i < offset) throw new RaftError('ErrCompacted')
    const e = this.ents[i - offset]
    if (e === undefined) throw new RaftError('ErrUnavailable')
    return e.term
  }

  /** The index of the last entry (or of the snapshot when the log is empty). */
  lastIndex(): number {
    return this.offset + this.ents.length - 1
  }

  /** The index of the first entry still held, one past the snapshot. */
  firstIndex(): number {
    return this.offset + 1
  }

  /** The latest snapshot. */
  snapshot(): Snapshot {
    return this.snap
  }

  /** Replaces the log with a snapshot the member persisted; throws `ErrSnapOutOfDate` for an older one. */
  applySnapshot(snap: Snapshot): void {
    if (this.snap.metadata.index >= snap.metadata.index) throw new RaftError('ErrSnapOutOfDate')
    this.snap = snap
    this.ents = [{ term: snap.metadata.term, index: snap.metadata.index, type: 'Normal', data: EMPTY_BYTES }]
  }

  /**
   * Makes a snapshot of the applied state at `index` (which must be in the log), so the log
   * prefix can then be compacted; `confState` is the membership as of `index`.
   */
  createSnapshot(index: number, confState: ConfState | undefined, data: Uint8Array): Snapshot {
    if (index <= this.snap.metadata.index) throw new RaftError('ErrSnapOutOfDate')
    assert(index <= this.lastIndex(), `snapshot ${index} is out of bound lastindex(${this.lastIndex()})`)
    const e = this.ents[index - this.offset] as Entry
    this.snap = {
      metadata: {
        index,
        term: e.term,
        confState: confState === undefined ? this.snap.metadata.confState : cloneConfState(confState),
      },
      data,
    }
    return this.snap
  }

  /** Discards entries up to and including `compactIndex`; throws `ErrCompacted` if already gone. */
  compact(compactIndex: number): void {
    const offset = this.offset
    if (compactIndex <= offset) throw new RaftError('ErrCompacted')
    assert(compactIndex <= this.lastIndex(), `compact ${compactIndex} is out of bound lastindex(${this.lastIndex()})`)
    const i = compactIndex - offset
    const at = this.ents[i] as Entry
    this.ents = [{ term: at.term, index: at.index, type: 'Normal', data: EMPTY_BYTES }, ...this.ents.slice(i + 1)]
  }

  /**
   * Appends persisted entries; entries that overlap the log replace the conflicting suffix,
   * entries already compacted are skipped. A gap is an invariant violation.
   */
  append(entries: Entry[]): void {
    const head = entries[0]
    if (head === undefined) return
    const first = this.firstIndex()
    const last = head.index + entries.length - 1
    if (last < first) return
    let ents = entries
    if (first > head.index) ents = ents.slice(first - head.index)
    const offset = (ents[0] as Entry).index - this.offset
    assert(offset <= this.ents.length, `missing log entry [last: ${this.lastIndex()}, append at: ${(ents[0] as Entry).index}]`)
    // in place: no method hands out this array itself (entries() returns a copy), and a
    // fresh copy per append made every append cost the whole log
    if (offset < this.ents.length) this.ents.length = offset
    for (const e of ents) this.ents.push(e)
  }
}

/** A deep copy of a conf state, so callers cannot alias Raft's membership lists. */
export function cloneConfState(cs: ConfState): ConfState {
  return { voters: [...cs.voters], learners: [...cs.learners] }
}
