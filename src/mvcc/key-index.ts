/**
 * The revision history of one key (etcd's `keyIndex`): a list of generations, each the
 * revisions from a creation to the tombstone that ended it. The last generation is the
 * current one; it is empty when the key is deleted.
 *
 * For example put(1.0); put(2.0); tombstone(3.0); put(4.0); tombstone(5.0) gives
 * `{1.0, 2.0, 3.0(t)} {4.0, 5.0(t)} {}`. Compaction at a revision drops every revision
 * at or below it except the largest one of a live generation; a generation whose
 * tombstone is at or below it is dropped entirely, and an index left with only its empty
 * generation is removed from the tree.
 *
 * @module
 */

import { assert } from '../errors.js'
import type { Revision, RevisionSet } from './revision.js'
import { revisionGreaterThan } from './revision.js'

/** The revisions of a key from its creation to (including) its tombstone, if any. */
export interface Generation {
  /** Number of puts and the tombstone in this generation, compacted ones included. */
  version: number
  /** The revision that created this generation (its first put). */
  created: Revision
  /** Remaining revisions, ascending; the last is the tombstone once the generation ended. */
  revs: Revision[]
}

/** What a key looked like at a revision (the results of etcd's `keyIndex.get`). */
export interface KeyIndexEntry {
  /** The revision of the last change at or below the asked revision. */
  modified: Revision
  /** The revision that created the generation. */
  created: Revision
  /** The key's version at that change (1 for the creating put). */
  version: number
}

const NO_REVISION: Revision = Object.freeze({ main: 0, sub: 0 })
/** The revisions of an empty current generation; shared, never pushed to (a put replaces it). */
const NO_REVISIONS: Revision[] = Object.freeze([]) as unknown as Revision[]

/**
 * One key's generations of revisions (etcd's `keyIndex`).
 *
 * Memory: an index holds one of these per key, so the common shape (one live generation)
 * is stored flat, in the object itself: the current generation's creation, version and
 * revisions (a lone {@link Revision} while it holds just one, the shape of a key written
 * once, shared with `modified` and `created`), and an array of ended generations only once
 * the key has been deleted. {@link generations} presents the same data as etcd's list.
 */
export class KeyIndex {
  /** The key, as a binary string (see `toBinaryString`): orders like etcd's bytes. */
  readonly key: string
  /** The last revision put or tombstoned. */
  modified: Revision = NO_REVISION
  /**
   * The stored record of {@link modified} while that is a put: the key's current value,
   * kept by a store whose records already live in memory (the bytes are shared with the
   * backend, not copied) so that reads of current values skip the backend. `undefined`
   * after a tombstone, and always when the store keeps none. Never mutate it.
   */
  latest: Uint8Array | undefined = undefined
  /**
   * The main revision of {@link latest}, 0 without one: a number in the object itself, so
   * that a read of the current value checks it without following {@link modified}.
   */
  latestMain = 0
  /** Ended generations, oldest first; `undefined` while there are none (most keys). */
  #ended: Generation[] | undefined = undefined
  /** The current generation's creating revision ({@link NO_REVISION} while it is empty). */
  #created: Revision = NO_REVISION
  /** The current generation's version. */
  #version = 0
  /** The current generation's revisions: one alone, or ascending in an array ({@link NO_REVISIONS} when empty). */
  #revs: Revision | Revision[] = NO_REVISIONS

  constructor(key: string, generations?: Generation[]) {
    this.key = key
    if (generations !== undefined) this.generations = generations
  }

  /**
   * Oldest first; never empty; the last one is the current generation (empty when the key
   * is deleted). A fresh list each time, for tests, cloning and the rarer paths.
   */
  get generations(): Generation[] {
    const r = this.#revs
    const current: Generation = { version: this.#version, created: this.#created, revs: Array.isArray(r) ? r : [r] }
    return this.#ended === undefined ? [current] : [...this.#ended, current]
  }

  /** Replaces the generations (never empty; the last is the current one). */
  set generations(gens: Generation[]) {
    assert(gens.length > 0, 'a key index has at least one generation')
    const cur = gens[gens.length - 1]!
    this.#ended = gens.length > 1 ? gens.slice(0, -1) : undefined
    this.#created = cur.revs.length === 0 ? NO_REVISION : cur.created
    this.#version = cur.version
    this.#revs = cur.revs.length === 0 ? NO_REVISIONS : cur.revs.length === 1 ? cur.revs[0]! : cur.revs
  }

  /** Records a put at `rev`, starting a generation when the key does not exist. */
  put(rev: Revision): void {
    // Messages are built only on failure: put is the hottest path of the index.
    if (!revisionGreaterThan(rev, this.modified)) assert(false, `put at ${fmt(rev)} is not after ${fmt(this.modified)}`)
    const r = this.#revs
    if (!Array.isArray(r)) this.#revs = [r, rev]
    else if (r.length === 0) {
      this.#created = rev
      this.#revs = rev // most keys are written once: no array at all
    } else r.push(rev)
    this.#version++
    this.modified = rev
    this.latest = undefined // the caller that keeps records sets the new one
    this.latestMain = 0
  }

  /** Keeps `record`, the stored record of {@link modified} (a put), as {@link latest}. */
  keepLatest(record: Uint8Array | undefined): void {
    this.latest = record
    this.latestMain = record === undefined ? 0 : this.modified.main
  }

  /**
   * Rebuilds a key from its latest backend record (etcd's `keyIndex.restore`): one live
   * generation created at `created` holding only `modified` at `version`.
   */
  restore(created: Revision, modified: Revision, version: number): void {
    assert(this.isEmpty(), 'restore into a key index that has revisions')
    this.modified = modified
    this.latest = undefined
    this.latestMain = 0
    this.#ended = undefined
    this.#created = created
    this.#version = version
    this.#revs = modified
  }

  /**
   * Ends the current generation with a tombstone at `rev`. Returns false, changing
   * nothing, when the key does not exist (etcd's `ErrRevisionNotFound`).
   */
  tombstone(rev: Revision): boolean {
    assert(!this.isEmpty(), 'tombstone on an empty key index')
    const r = this.#revs
    if (Array.isArray(r) && r.length === 0) return false
    this.put(rev)
    const revs = this.#revs as Revision[] // two or more now
    ;(this.#ended ??= []).push({ version: this.#version, created: this.#created, revs })
    this.#created = NO_REVISION
    this.#version = 0
    this.#revs = NO_REVISIONS
    return true
  }

  /** The key's state at `atRev`, or `undefined` when it did not exist then. */
  get(atRev: number): KeyIndexEntry | undefined {
    assert(!this.isEmpty(), 'get on an empty key index')
    // the current generation first (etcd's findGeneration, from the last generation back)
    const r = this.#revs
    if (!Array.isArray(r)) {
      if (r.main <= atRev) return { modified: r, created: this.#created, version: this.#version }
    } else if (r.length > 0 && r[0]!.main <= atRev) {
      return entryAt(r, this.#created, this.#version, atRev)
    }
    const ended = this.#ended
    if (ended === undefined) return undefined
    for (let cg = ended.length - 1; cg >= 0; cg--) {
      const g = ended[cg]!
      if (g.revs.length === 0) continue
      // a generation that ended at or below atRev: the key was deleted then
      if (g.revs[g.revs.length - 1]!.main <= atRev) return undefined
      if (g.revs[0]!.main <= atRev) return entryAt(g.revs, g.created, g.version, atRev)
    }
    return undefined
  }

  /**
   * The revisions at or after main revision `rev`, ascending; of several changes in one
   * main revision only the last is returned, since only it was visible (etcd's `since`).
   */
  since(rev: number): Revision[] {
    assert(!this.isEmpty(), 'since on an empty key index')
    const generations = this.generations
    const since: Revision = { main: rev, sub: 0 }
    let gi = generations.length - 1
    for (; gi > 0; gi--) {
      const g = generations[gi]!
      if (g.revs.length === 0) continue
      if (revisionGreaterThan(since, g.created)) break
    }
    const revs: Revision[] = []
    let last = 0
    for (; gi < generations.length; gi++) {
      for (const r of generations[gi]!.revs) {
        if (revisionGreaterThan(since, r)) continue
        if (r.main === last) {
          revs[revs.length - 1] = r
          continue
        }
        revs.push(r)
        last = r.main
      }
    }
    return revs
  }

  /**
   * Drops the revisions at or below `atRev` except the largest one of a live generation,
   * and adds the revisions kept at or below `atRev` to `available` (etcd's `compact`).
   * Generations that end at or below `atRev` are removed.
   */
  compact(atRev: number, available: RevisionSet): void {
    assert(!this.isEmpty(), 'compact on an empty key index')
    if (this.#writtenOnce(atRev, available)) return
    const generations = this.generations
    let [genIdx, revIndex] = doCompact(generations, atRev, available)
    const g = generations[genIdx]!
    if (g.revs.length > 0) {
      if (revIndex !== -1) g.revs = g.revs.slice(revIndex)
      // A generation left with only its tombstone is over: drop it with its tombstone.
      if (g.revs.length === 1 && genIdx !== generations.length - 1) {
        available.delete(g.revs[0]!)
        genIdx++
      }
    }
    this.generations = genIdx > 0 ? generations.slice(genIdx) : generations
  }

  /** Adds to `available` what {@link compact} at `atRev` would keep, changing nothing (etcd's `keep`). */
  keep(atRev: number, available: RevisionSet): void {
    if (this.isEmpty() || this.#writtenOnce(atRev, available)) return
    const generations = this.generations
    const [genIdx, revIndex] = doCompact(generations, atRev, available)
    const g = generations[genIdx]!
    if (g.revs.length > 0 && revIndex === g.revs.length - 1 && genIdx !== generations.length - 1) {
      available.delete(g.revs[revIndex]!)
    }
  }

  /**
   * {@link compact} and {@link keep} of a key written once (one live generation holding one
   * revision, most keys): that revision stays either way, added to `available` when at or
   * below `atRev`. False, doing nothing, for any other key.
   */
  #writtenOnce(atRev: number, available: RevisionSet): boolean {
    const single = this.#revs
    if (this.#ended !== undefined || Array.isArray(single)) return false
    if (single.main <= atRev) available.add(single)
    return true
  }

  /** True when the key has no revision left: only the empty current generation. */
  isEmpty(): boolean {
    const r = this.#revs
    return this.#ended === undefined && Array.isArray(r) && r.length === 0
  }

  /** A deep copy, for tests and for comparing indexes. */
  clone(): KeyIndex {
    const ki = new KeyIndex(
      this.key,
      this.generations.map((g) => ({ version: g.version, created: g.created, revs: [...g.revs] })),
    )
    ki.modified = this.modified
    ki.latest = this.latest
    ki.latestMain = this.latestMain
    return ki
  }
}

/** The entry of the largest revision of `revs` at or below `atRev` (there is one: the caller checked `revs[0]`). */
function entryAt(revs: readonly Revision[], created: Revision, version: number, atRev: number): KeyIndexEntry | undefined {
  for (let i = revs.length - 1; i >= 0; i--) {
    const rev = revs[i]!
    if (rev.main <= atRev) return { modified: rev, created, version: version - (revs.length - 1 - i) }
  }
  return undefined
}

/**
 * Finds the first generation that holds `atRev` or starts after it, and within it the
 * position of the largest revision at or below `atRev` (-1 if none), adding that
 * revision to `available`.
 */
function doCompact(generations: readonly Generation[], atRev: number, available: RevisionSet): [number, number] {
  let genIdx = 0
  let g = generations[0]!
  while (genIdx < generations.length - 1) {
    if (g.revs[g.revs.length - 1]!.main > atRev) break
    genIdx++
    g = generations[genIdx]!
  }
  for (let i = g.revs.length - 1; i >= 0; i--) {
    const rev = g.revs[i]!
    if (rev.main <= atRev) {
      available.add(rev)
      return [genIdx, i]
    }
  }
  return [genIdx, -1]
}

function fmt(rev: Revision): string {
  return `${rev.main}.${rev.sub}`
}
