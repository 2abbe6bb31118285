/**
 * The in-memory index of the store (etcd's `treeIndex`): an ordered map from key to its
 * {@link KeyIndex}, answering "which revision holds key K at revision R" for single keys
 * and ranges. It is rebuilt from the backend on restart.
 *
 * @module
 */

import { fromBinaryString, toBinaryString } from '../api/bytes.js'
import { assert } from '../errors.js'
import { BTree, compareStrings } from './btree.js'
import type { KeyIndexEntry } from './key-index.js'
import { KeyIndex } from './key-index.js'
import type { Revision } from './revision.js'
import { RevisionSet, compareRevision } from './revision.js'

/**
 * Range end, as in etcd's index: `undefined` is the single key `key`; an empty array is
 * every key >= `key`; otherwise the keys in [`key`, `end`) (none when `end` <= `key`).
 */
export type RangeEnd = Uint8Array | undefined

/** Revisions of the keys in a range, and how many keys the range holds at that revision. */
export interface RevisionsResult {
  /** One revision per live key, in key order, at most `limit` of them. */
  revs: Revision[]
  /** Keys live in the range at the revision, regardless of `limit`. */
  total: number
}

/** key → revision history, ordered by key bytes (etcd's `treeIndex`). */
export class TreeIndex {
  readonly #tree = new BTree<string, KeyIndex>(compareStrings)
  /** The same key indexes by key, for point lookups (a hash probe, not a tree descent); kept in step with `#tree`. */
  readonly #byKey = new Map<string, KeyIndex>()

  /** Number of keys with an index (live, or deleted but not yet compacted away). */
  get size(): number {
    return this.#tree.size
  }

  /** The state of `key` at `atRev`, or `undefined` when it did not exist then. */
  get(key: Uint8Array, atRev: number): KeyIndexEntry | undefined {
    return this.#byKey.get(toBinaryString(key))?.get(atRev)
  }

  /** The history of one key, if it has any. */
  keyIndex(key: Uint8Array): KeyIndex | undefined {
    return this.#byKey.get(toBinaryString(key))
  }

  /**
   * The history of `key`, or, when it has none, the name {@link put} files a new key under:
   * a put hands either back to {@link put} and looks its key up once, new key or not.
   */
  lookup(key: Uint8Array): KeyIndex | string {
    const name = toBinaryString(key)
    return this.#byKey.get(name) ?? name
  }

  /** The keys live at `atRev` in the range and their revisions there, in key order. */
  range(key: Uint8Array, end: RangeEnd, atRev: number): { keys: Uint8Array[]; revs: Revision[] } {
    const keys: Uint8Array[] = []
    const revs: Revision[] = []
    if (end === undefined) {
      const e = this.get(key, atRev)
      if (e !== undefined) {
        keys.push(key)
        revs.push(e.modified)
      }
      return { keys, revs }
    }
    this.#visit(key, end, (ki) => {
      const e = ki.get(atRev)
      if (e !== undefined) {
        keys.push(fromBinaryString(ki.key))
        revs.push(e.modified)
      }
      return true
    })
    return { keys, revs }
  }

  /**
   * The revisions of at most `limit` keys (all when `limit` <= 0) live at `atRev` in the
   * range, with the total count (etcd's `Revisions`). With `records`, it also gets, for
   * each revision, the record the index keeps for it ({@link KeyIndex.latest}: only when
   * that revision is the key's current value, else `undefined`).
   */
  revisions(key: Uint8Array, end: RangeEnd, atRev: number, limit = 0, records?: (Uint8Array | undefined)[]): RevisionsResult {
    if (end === undefined) {
      const ki = this.#byKey.get(toBinaryString(key))
      const e = ki?.get(atRev)
      if (e === undefined) return { revs: [], total: 0 }
      records?.push(e.modified === ki!.modified ? ki!.latest : undefined)
      return { revs: [e.modified], total: 1 }
    }
    const revs: Revision[] = []
    let total = 0
    this.#visit(key, end, (ki) => {
      const e = ki.get(atRev)
      if (e !== undefined) {
        if (limit <= 0 || revs.length < limit) {
          revs.push(e.modified)
          records?.push(e.modified === ki.modified ? ki.latest : undefined)
        }
        total++
      }
      return true
    })
    return { revs, total }
  }

  /** Number of keys live at `atRev` in the range (etcd's `CountRevisions`). */
  countRevisions(key: Uint8Array, end: RangeEnd, atRev: number): number {
    if (end === undefined) return this.get(key, atRev) === undefined ? 0 : 1
    let total = 0
    this.#visit(key, end, (ki) => {
      if (ki.get(atRev) !== undefined) total++
      return true
    })
    return total
  }

  /**
   * Records a put of `key` at `rev`; `record`, when given, is the stored record of that
   * put, kept as the key's {@link KeyIndex.latest} until its next change. `known` is what
   * {@link lookup} just answered for the key (its index, or the name of a new key), saving
   * a second lookup; nothing else may change the index in between.
   */
  put(key: Uint8Array, rev: Revision, record?: Uint8Array, known?: KeyIndex | string): void {
    let ki = typeof known === 'string' ? undefined : known
    if (ki === undefined) {
      const k = typeof known === 'string' ? known : toBinaryString(key)
      ki = known === undefined ? this.#byKey.get(k) : undefined
      if (ki === undefined) {
        ki = this.#tree.getOrInsert(k, newKeyIndex)
        this.#byKey.set(k, ki)
      }
    }
    ki.put(rev)
    if (record !== undefined) ki.keepLatest(record)
  }

  /** Records a delete of `key` at `rev`; false when the key does not exist (etcd's `ErrRevisionNotFound`). */
  tombstone(key: Uint8Array, rev: Revision): boolean {
    const ki = this.#byKey.get(toBinaryString(key))
    return ki === undefined ? false : ki.tombstone(rev)
  }

  /** Adds a rebuilt key index (etcd's `Insert`, used by restore); replaces any with that key. */
  insert(ki: KeyIndex): void {
    this.#tree.set(ki.key, ki)
    this.#byKey.set(ki.key, ki)
  }

  /**
   * Every revision at or after main revision `rev` of the keys in the range, sorted by
   * revision (etcd's `RangeSince`): what a watcher catching up from `rev` must replay.
   */
  rangeSince(key: Uint8Array, end: RangeEnd, rev: number): Revision[] {
    if (end === undefined) return this.#byKey.get(toBinaryString(key))?.since(rev) ?? []
    const revs: Revision[] = []
    this.#visit(key, end, (ki) => {
      for (const r of ki.since(rev)) revs.push(r)
      return true
    })
    return revs.sort(compareRevision)
  }

  /**
   * Compacts every key at `rev`, removing keys left without revisions; returns the
   * revisions at or below `rev` that must stay in the backend (etcd's `Compact`).
   */
  compact(rev: number): RevisionSet {
    const available = new RevisionSet()
    const emptied: string[] = []
    this.#tree.ascend(undefined, (k, ki) => {
      ki.compact(rev, available)
      if (ki.isEmpty()) emptied.push(k)
    })
    for (const k of emptied) {
      const removed = this.#tree.delete(k)
      assert(removed && this.#byKey.delete(k), 'a compacted key vanished from the index')
    }
    return available
  }

  /** The revisions {@link compact} at `rev` would keep, changing nothing (etcd's `Keep`). */
  keep(rev: number): RevisionSet {
    const available = new RevisionSet()
    this.#tree.ascend(undefined, (_k, ki) => {
      ki.keep(rev, available)
    })
    return available
  }

  /** Every key index in key order; for tests and diagnostics. */
  keyIndexes(): KeyIndex[] {
    const out: KeyIndex[] = []
    this.#tree.ascend(undefined, (_k, ki) => {
      out.push(ki)
    })
    return out
  }

  #visit(key: Uint8Array, end: Uint8Array, f: (ki: KeyIndex) => boolean): void {
    const from = toBinaryString(key)
    const to = end.length > 0 ? toBinaryString(end) : undefined
    this.#tree.ascend(from, (k, ki) => {
      if (to !== undefined && k >= to) return false
      return f(ki)
    })
  }
}

function newKeyIndex(key: string): KeyIndex {
  return new KeyIndex(key)
}
