/**
 * A revision names one change in the store: the main revision of the write (one per applied
 * request) and a sub revision numbering the changes inside it (etcd's `revision`). The
 * backend keys its records by a sortable byte encoding of it.
 *
 * @module
 */

import { assert } from '../errors.js'

/** One change: `main` is the store revision of the write, `sub` its index inside the write. */
export interface Revision {
  readonly main: number
  readonly sub: number
}

/** Orders revisions by main, then sub; negative when `a` comes first. */
export function compareRevision(a: Revision, b: Revision): number {
  return a.main !== b.main ? a.main - b.main : a.sub - b.sub
}

/** True when `a` is strictly after `b` (etcd's `GreaterThan`). */
export function revisionGreaterThan(a: Revision, b: Revision): boolean {
  return a.main > b.main || (a.main === b.main && a.sub > b.sub)
}

/** Length of an encoded revision without the tombstone marker (etcd's `revBytesLen`). */
export const REV_BYTES_LEN = 17
/** Length of an encoded tombstone revision (etcd's `markedRevBytesLen`). */
export const MARKED_REV_BYTES_LEN = 18
const SEPARATOR = 0x5f // '_'
const TOMBSTONE_MARK = 0x74 // 't'
const TWO_32 = 0x1_0000_0000

function writeUint64(out: Uint8Array, at: number, n: number): void {
  if (!(Number.isSafeInteger(n) && n >= 0)) assert(false, `revision part ${n} is not a non-negative safe integer`)
  const hi = Math.floor(n / TWO_32)
  const lo = n >>> 0
  out[at] = hi >>> 24
  out[at + 1] = (hi >>> 16) & 0xff
  out[at + 2] = (hi >>> 8) & 0xff
  out[at + 3] = hi & 0xff
  out[at + 4] = lo >>> 24
  out[at + 5] = (lo >>> 16) & 0xff
  out[at + 6] = (lo >>> 8) & 0xff
  out[at + 7] = lo & 0xff
}

function readUint64(b: Uint8Array, at: number): number {
  const hi = ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0
  const lo = ((b[at + 4]! << 24) | (b[at + 5]! << 16) | (b[at + 6]! << 8) | b[at + 7]!) >>> 0
  // hi is almost always 0: answer lo as is, which stays a small integer. `hi * TWO_32 + lo`
  // would be a heap number, and one such number stored in a Revision turns the `main`/`sub`
  // fields of every Revision into boxed doubles (16 extra bytes each, per key in the index).
  return hi === 0 ? lo : hi * TWO_32 + lo
}

/**
 * Encodes a revision as the backend key of its record: 8-byte big-endian main, `'_'`,
 * 8-byte big-endian sub, and a trailing `'t'` for a tombstone (etcd's `revToBytes` plus
 * `appendMarkTombstone`). Byte order of encodings equals revision order.
 */
export function encodeRevision(rev: Revision, tombstone = false): Uint8Array {
  const out = new Uint8Array(tombstone ? MARKED_REV_BYTES_LEN : REV_BYTES_LEN)
  writeRevision(out, 0, rev)
  if (tombstone) out[REV_BYTES_LEN] = TOMBSTONE_MARK
  return out
}

/** Writes the {@link REV_BYTES_LEN} bytes of {@link encodeRevision} (no marker) into `out` at `at`, without allocating. */
export function writeRevision(out: Uint8Array, at: number, rev: Revision): void {
  writeUint64(out, at, rev.main)
  out[at + 8] = SEPARATOR
  writeUint64(out, at + 9, rev.sub)
}

/** Decodes a backend key written by {@link encodeRevision} (the marker is ignored). */
export function decodeRevision(bytes: Uint8Array): Revision {
  assert(
    (bytes.length === REV_BYTES_LEN || bytes.length === MARKED_REV_BYTES_LEN) && bytes[8] === SEPARATOR,
    `malformed revision key of ${bytes.length} bytes`,
  )
  return { main: readUint64(bytes, 0), sub: readUint64(bytes, 9) }
}

/** True when a backend key carries the tombstone marker (etcd's `isTombstone`). */
export function isTombstoneKey(bytes: Uint8Array): boolean {
  return bytes.length === MARKED_REV_BYTES_LEN && bytes[REV_BYTES_LEN] === TOMBSTONE_MARK
}

/**
 * A set of revisions compared by value: what compaction keeps (etcd's
 * `map[revision]struct{}`).
 */
export class RevisionSet implements Iterable<Revision> {
  readonly #items = new Map<string, Revision>()

  /** Number of revisions held. */
  get size(): number {
    return this.#items.size
  }

  add(rev: Revision): void {
    this.#items.set(revisionId(rev), rev)
  }

  has(rev: Revision): boolean {
    return this.#items.has(revisionId(rev))
  }

  delete(rev: Revision): boolean {
    return this.#items.delete(revisionId(rev))
  }

  /** The revisions in ascending order. */
  sorted(): Revision[] {
    return [...this.#items.values()].sort(compareRevision)
  }

  [Symbol.iterator](): Iterator<Revision> {
    return this.#items.values()
  }
}

/** A string naming `rev` by value, for maps keyed by revision. */
export function revisionId(rev: Revision): string {
  return `${rev.main}_${rev.sub}`
}
