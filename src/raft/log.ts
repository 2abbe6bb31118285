/**
 * Raft's view of the log: the stable part in {@link Storage} plus the unstable tail (entries
 * and possibly a snapshot not yet persisted), with commit and applied cursors (etcd-io/raft's
 * `raftLog` and `unstable`).
 *
 * @module
 */
import { assert } from './assert.js'
import { RaftError } from './raft-error.js'
import type { Storage } from './storage.js'
import { limitSize } from './storage.js'
import type { Entry, Snapshot } from './types.js'

/**
 * Entries and a snapshot Raft has accepted but the caller has not yet persisted. `entries[i]`
 * has index `offset + i`; `offset` may be below the stable last index after a truncation.
 */
export class Unstable {
  snapshot: Snapshot | undefined = undefined
  entries: Entry[] = []

  constructor(public offset: number) {}

  /** The first log index if a snapshot is pending, else undefined (storage knows). */
  maybeFirstIndex(): number | undefined {
    return this.snapshot === undefined ? undefined : this.snapshot.metadata.index + 1
  }

  /** The last log index if the unstable part holds entries or a snapshot. */
  maybeLastIndex(): number | undefined {
    if (this.entries.length > 0) return this.offset + this.entries.length - 1
    return this.snapshot === undefined ? undefined : this.snapshot.metadata.index
  }

  /** The term at `i` if the unstable part knows it. */
  maybeTerm(i: number): number | undefined {
    if (i < this.offset) {
      if (this.snapshot !== undefined && this.snapshot.metadata.index === i) return this.snapshot.metadata.term
      return undefined
    }
    const last = this.maybeLastIndex()
    if (last === undefined || i > last) return undefined
    return (this.entries[i - this.offset] as Entry).term
  }

  /** Drops entries up to `i` once persisted, if `i` still has term `t` (it may have been overwritten). */
  stableTo(i: number, t: number): void {
    const gt = this.maybeTerm(i)
    if (gt === undefined) return
    if (gt === t && i >= this.offset) {
      this.entries = this.entries.slice(i + 1 - this.offset)
      this.offset = i + 1
    }
  }

  /** Forgets the pending snapshot once persisted. */
  stableSnapTo(i: number): void {
    if (this.snapshot !== undefined && this.snapshot.metadata.index === i) this.snapshot = undefined
  }

  /** Replaces everything with a snapshot received from the leader. */
  restore(s: Snapshot): void {
    this.offset = s.metadata.index + 1
    this.entries = []
    this.snapshot = s
  }

  /** Appends `ents`, truncating any unstable entries they conflict with. */
  truncateAndAppend(ents: Entry[]): void {
    const after = (ents[0] as Entry).index
    if (after === this.offset + this.entries.length) {
      this.entries = this.entries.concat(ents)
    } else if (after <= this.offset) {
      this.offset = after
      this.entries = ents.slice()
    } else {
      this.entries = this.entries.slice(0, after - this.offset).concat(ents)
    }
  }

  /** Unstable entries in [lo, hi). */
  slice(lo: number, hi: number): Entry[] {
    assert(lo <= hi, `invalid unstable.slice ${lo} > ${hi}`)
    const upper = this.offset + this.entries.length
    assert(lo >= this.offset && hi <= upper, `unstable.slice[${lo},${hi}) out of bound [${this.offset},${upper}]`)
    return this.entries.slice(lo - this.offset, hi - this.offset)
  }
}

/** The log as Raft sees it; `committed` and `applied` never move backwards. */
export class RaftLog {
  readonly unstable: Unstable
  /** Highest index known to be committed by a quorum. */
  committed: number
  /** Highest index the application has applied; always `<= committed`. */
  applied: number

  constructor(readonly storage: Storage) {
    const first = storage.firstIndex()
    const last = storage.lastIndex()
    this.unstable = new Unstable(last + 1)
    this.committed = first - 1
    this.applied = first - 1
  }

  /**
   * Appends leader entries following (`index`, `logTerm`) if our log matches there, resolving
   * conflicts; returns the new last index, or undefined when the consistency check fails.
   */
  maybeAppend(index: number, logTerm: number, committed: number, ents: Entry[]): number | undefined {
    if (!this.matchTerm(index, logTerm)) return undefined
    const lastNew = index + ents.length
    const ci = this.findConflict(ents)
    if (ci !== 0) {
      assert(ci > this.committed, `entry ${ci} conflict with committed entry [committed(${this.committed})]`)
      this.append(ents.slice(ci - (index + 1)))
    }
    this.commitTo(Math.min(committed, lastNew))
    return lastNew
  }

  /** Appends entries to the unstable tail; returns the last index. Never truncates committed entries. */
  append(ents: Entry[]): number {
    const head = ents[0]
    if (head === undefined) return this.lastIndex()
    assert(head.index - 1 >= this.committed, `after(${head.index - 1}) is out of range [committed(${this.committed})]`)
    this.unstable.truncateAndAppend(ents)
    return this.lastIndex()
  }

  /** The index of the first entry of `ents` that conflicts with our log (or extends it), 0 if none. */
  findConflict(ents: Entry[]): number {
    for (const e of ents) {
      if (!this.matchTerm(e.index, e.term)) return e.index
    }
    return 0
  }

  /**
   * The largest index ≤ `index` whose term is ≤ `term`, with that term (0 if unknown): the fast
   * log back-off of etcd-io/raft, skipping whole terms that cannot match.
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    for (; index > 0; index--) {
      const ours = this.maybeTerm(index)
      // Compacted or unavailable: we cannot tell whether it matches, so assume it might.
      if (ours === undefined) return { index, term: 0 }
      if (ours <= term) return { index, term: ours }
    }
    return { index: 0, term: 0 }
  }

  /** The entries not yet handed to the caller for persistence. */
  unstableEntries(): Entry[] {
    return this.unstable.entries.slice()
  }

  /** Committed entries not yet applied (`nextEnts`). */
  nextEnts(): Entry[] {
    const off = Math.max(this.applied + 1, this.firstIndex())
    if (this.committed + 1 > off) return this.slice(off, this.committed + 1, Number.POSITIVE_INFINITY) ?? []
    return []
  }

  /** Whether there are committed entries to apply. */
  hasNextEnts(): boolean {
    return this.committed + 1 > Math.max(this.applied + 1, this.firstIndex())
  }

  /** Whether a received snapshot awaits persistence. */
  hasPendingSnapshot(): boolean {
    return this.unstable.snapshot !== undefined
  }

  /** The latest snapshot, pending or stable. */
  snapshot(): Snapshot {
    return this.unstable.snapshot ?? this.storage.snapshot()
  }

  /** The first index still in the log. */
  firstIndex(): number {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex()
  }

  /** The last index in the log. */
  lastIndex(): number {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex()
  }

  /** Raises the commit index; committing beyond the log is an invariant violation. */
  commitTo(toCommit: number): void {
    if (this.committed < toCommit) {
      assert(
        this.lastIndex() >= toCommit,
        `tocommit(${toCommit}) is out of range [lastIndex(${this.lastIndex()})]. Was the raft log corrupted, truncated, or lost?`,
      )
      this.committed = toCommit
    }
  }

  /** Records that the application applied entries up to `i`. */
  appliedTo(i: number): void {
    if (i === 0) return
    assert(this.committed >= i && i >= this.applied, `applied(${i}) is out of range [prevApplied(${this.applied}), committed(${this.committed})]`)
    this.applied = i
  }

  /** Marks unstable entries up to (`i`, `t`) persisted. */
  stableTo(i: number, t: number): void {
    this.unstable.stableTo(i, t)
  }

  /** Marks the pending snapshot at `i` persisted. */
  stableSnapTo(i: number): void {
    this.unstable.stableSnapTo(i)
  }

  /** The term of the last entry. */
  lastTerm(): number {
    const t = this.maybeTerm(this.lastIndex())
    assert(t !== undefined, 'unexpected error when getting the last term')
    return t
  }

  /** The term at `i`, or undefined when `i` is compacted or beyond the log. */
  maybeTerm(i: number): number | undefined {
    const dummy = this.firstIndex() - 1
    if (i < dummy || i > this.lastIndex()) return undefined
    const t = this.unstable.maybeTerm(i)
    if (t !== undefined) return t
    try {
      return this.storage.term(i)
    } catch (e) {
      if (e instanceof RaftError && (e.code === 'ErrCompacted' || e.code === 'ErrUnavailable')) return undefined
      throw e
    }
  }

  /** The term at `i`, 0 when unknown (`zeroTermOnErrCompacted`). */
  termOrZero(i: number): number {
    return this.maybeTerm(i) ?? 0
  }

  /** Whether our entry at `i` has term `t`. */
  matchTerm(i: number, t: number): boolean {
    return this.maybeTerm(i) === t
  }

  /** Whether a log ending at (`lasti`, `term`) is at least as up-to-date as ours (§5.4.1). */
  isUpToDate(lasti: number, term: number): boolean {
    const lastTerm = this.lastTerm()
    return term > lastTerm || (term === lastTerm && lasti >= this.lastIndex())
  }

  /** Entries from `i` to the end, limited to `maxSize`; undefined if `i` is compacted. */
  entries(i: number, maxSize: number): Entry[] | undefined {
    if (i > this.lastIndex()) return []
    return this.slice(i, this.lastIndex() + 1, maxSize)
  }

  /** Commits `maxIndex` if it is beyond the commit index and from `term` (only current-term entries, §5.4.2). */
  maybeCommit(maxIndex: number, term: number): boolean {
    if (maxIndex > this.committed && this.termOrZero(maxIndex) === term) {
      this.commitTo(maxIndex)
      return true
    }
    return false
  }

  /** Replaces the log with a snapshot from the leader. */
  restore(s: Snapshot): void {
    this.committed = s.metadata.index
    this.unstable.restore(s)
  }

  /** Entries in [lo, hi) limited to `maxSize`, across storage and the unstable tail; undefined if compacted. */
  slice(lo: number, hi: number, maxSize: number): Entry[] | undefined {
    assert(lo <= hi, `invalid slice ${lo} > ${hi}`)
    if (lo < this.firstIndex()) return undefined
    assert(hi <= this.lastIndex() + 1, `slice[${lo},${hi}) out of bound [${this.firstIndex()},${this.lastIndex()}]`)
    if (lo === hi) return []
    let ents: Entry[] = []
    const uoff = this.unstable.offset
    if (lo < uoff) {
      let stored: Entry[]
      try {
        stored = this.storage.entries(lo, Math.min(hi, uoff), maxSize)
      } catch (e) {
        if (e instanceof RaftError && e.code === 'ErrCompacted') return undefined
        if (e instanceof RaftError && e.code === 'ErrUnavailable') {
          throw new RaftError('ErrInvariant', `entries[${lo}:${Math.min(hi, uoff)}) is unavailable from storage`)
        }
        throw e
      }
      // Storage cut the result short for size: the unstable part would exceed it too.
      if (stored.length < Math.min(hi, uoff) - lo) return stored
      ents = stored
    }
    if (hi > uoff) {
      const unstable = this.unstable.slice(Math.max(lo, uoff), hi)
      ents = ents.length > 0 ? ents.concat(unstable) : unstable
    }
    return limitSize(ents, maxSize)
  }
}
