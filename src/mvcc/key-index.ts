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

/** One key's generations of revisions (etcd's `keyIndex`). */
export class KeyIndex {
  /** The key, as a binary string (see `toBinaryString`): orders like etcd's bytes. */
  readonly key: string
  /** The last revision put or tombstoned. */
  modified: Revision = NO_REVISION
  /** Oldest first; never empty; the last one is the current generation. */
  generations: Generation[]

  constructor(key: string, generations?: Generation[]) {
    this.key = key
    this.generations = generations ?? [emptyGeneration()]
  }

  /** Records a put at `rev`, starting a generation when the key does not exist. */
  put(rev: Revision): void {
    // Messages are built only on failure: put is the hottest path of the index.
    if (!revisionGreaterThan(rev, this.modified)) assert(false, `put at ${fmt(rev)} is not after ${fmt(this.modified)}`)
    const g = this.generations[this.generations.length - 1]!
    if (g.revs.length === 0) {
      g.created = rev
      g.revs = [rev] // exact capacity: most keys are written once (a pushed-to [] reserves 17 slots)
    } else {
      g.revs.push(rev)
    }
    g.version++
    this.modified = rev
  }

  /**
   * Rebuilds a key from its latest backend record (etcd's `keyIndex.restore`): one live
   * generation created at `created` holding only `modified` at `version`.
   */
  restore(created: Revision, modified: Revision, version: number): void {
    assert(this.isEmpty(), 'restore into a key index that has revisions')
    this.modified = modified
    this.generations = [{ created, version, revs: [modified] }]
  }

  /**
   * Ends the current generation with a tombstone at `rev`. Returns false, changing
   * nothing, when the key does not exist (etcd's `ErrRevisionNotFound`).
   */
  tombstone(rev: Revision): boolean {
    assert(!this.isEmpty(), 'tombstone on an empty key index')
    if (this.generations[this.generations.length - 1]!.revs.length === 0) return false
    this.put(rev)
    this.generations.push(emptyGeneration())
    return true
  }

  /** The key's state at `atRev`, or `undefined` when it did not exist then. */
  get(atRev: number): KeyIndexEntry | undefined {
    assert(!this.isEmpty(), 'get on an empty key index')
    const g = this.findGeneration(atRev)
    if (g === undefined) return undefined
    for (let i = g.revs.length - 1; i >= 0; i--) {
      const rev = g.revs[i]!
      if (rev.main <= atRev) {
        return { modified: rev, created: g.created, version: g.version - (g.revs.length - 1 - i) }
      }
    }
    return undefined
  }

  /**
   * The revisions at or after main revision `rev`, ascending; of several changes in one
   * main revision only the last is returned, since only it was visible (etcd's `since`).
   */
  since(rev: number): Revision[] {
    assert(!this.isEmpty(), 'since on an empty key index')
    const since: Revision = { main: rev, sub: 0 }
    let gi = this.generations.length - 1
    for (; gi > 0; gi--) {
      const g = this.generations[gi]!
      if (g.revs.length === 0) continue
      if (revisionGreaterThan(since, g.created)) break
    }
    const revs: Revision[] = []
    let last = 0
    for (; gi < this.generations.length; gi++) {
      for (const r of this.generations[gi]!.revs) {
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
    let [genIdx, revIndex] = this.doCompact(atRev, available)
    const g = this.generations[genIdx]!
    if (g.revs.length > 0) {
      if (revIndex !== -1) g.revs = g.revs.slice(revIndex)
      // A generation left with only its tombstone is over: drop it with its tombstone.
      if (g.revs.length === 1 && genIdx !== this.generations.length - 1) {
        available.delete(g.revs[0]!)
        genIdx++
      }
    }
    if (genIdx > 0) this.generations = this.generations.slice(genIdx)
  }

  /** Adds to `available` what {@link compact} at `atRev` would keep, changing nothing (etcd's `keep`). */
  keep(atRev: number, available: RevisionSet): void {
    if (this.isEmpty()) return
    const [genIdx, revIndex] = this.doCompact(atRev, available)
    const g = this.generations[genIdx]!
    if (g.revs.length > 0 && revIndex === g.revs.length - 1 && genIdx !== this.generations.length - 1) {
      available.delete(g.revs[revIndex]!)
    }
  }

  /** True when the key has no revision left: only the empty current generation. */
  isEmpty(): boolean {
    return this.generations.length === 1 && this.generations[0]!.revs.length === 0
  }

  /** A deep copy, for tests and for comparing indexes. */
  clone(): KeyIndex {
    const ki = new KeyIndex(
      this.key,
      this.generations.map((g) => ({ version: g.version, created: g.created, revs: [...g.revs] })),
    )
    ki.modified = this.modified
    return ki
  }

  /**
   * Finds the first generation that holds `atRev` or starts after it, and within it the
   * position of the largest revision at or below `atRev` (-1 if none), adding that
   * revision to `available`.
   */
  private doCompact(atRev: number, available: RevisionSet): [number, number] {
    let genIdx = 0
    let g = this.generations[0]!
    while (genIdx < this.generations.length - 1) {
      if (g.revs[g.revs.length - 1]!.main > atRev) break
      genIdx++
      g = this.generations[genIdx]!
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

  /** The generation the key lived in at `rev`, or `undefined` when it did not exist then. */
  private findGeneration(rev: number): Generation | undefined {
    const lastg = this.generations.length - 1
    for (let cg = lastg; cg >= 0; cg--) {
      const g = this.generations[cg]!
      if (g.revs.length === 0) continue
      if (cg !== lastg && g.revs[g.revs.length - 1]!.main <= rev) return undefined
      if (g.revs[0]!.main <= rev) return g
    }
    return undefined
  }
}

function emptyGeneration(): Generation {
  return { version: 0, created: NO_REVISION, revs: [] }
}

function fmt(rev: Revision): string {
  return `${rev.main}.${rev.sub}`
}
