/**
 * A user's merged key permissions (etcd's `unifiedRangePermissions`): the union of the
 * intervals its roles grant, for reading and for writing, and etcd's two questions about
 * them: does the union contain a whole requested range, and does it contain a key.
 *
 * @module
 */
import { compareBytes } from '../api/bytes.js'
import type { Permission } from './auth-request.js'

/** A half-open key interval [start, end); `end` undefined is unbounded (etcd's `""` end). */
export interface KeyInterval {
  start: Uint8Array
  end: Uint8Array | undefined
}

const ZERO_BYTE = new Uint8Array([0])

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length)
  out.set(a)
  out.set(b, a.length)
  return out
}

/** The interval a permission grants: a single key is [key, key+"\0"), `rangeEnd` "\0" is [key, ∞) (etcd's getMergedPerms). */
export function permissionInterval(p: Pick<Permission, 'key' | 'rangeEnd'>): KeyInterval {
  if (p.rangeEnd.length === 0) return { start: p.key, end: concat(p.key, ZERO_BYTE) }
  if (p.rangeEnd.length === 1 && p.rangeEnd[0] === 0) return { start: p.key, end: undefined }
  return { start: p.key, end: p.rangeEnd }
}

/** The union of some intervals, merged and sorted, answering etcd's `Contains` and `Intersects`. */
export class IntervalSet {
  private readonly merged: KeyInterval[]

  constructor(intervals: readonly KeyInterval[]) {
    const sorted = intervals
      .filter((i) => i.end === undefined || compareBytes(i.start, i.end) < 0)
      .sort((a, b) => compareBytes(a.start, b.start))
    const out: KeyInterval[] = []
    for (const i of sorted) {
      const last = out[out.length - 1]
      if (last !== undefined && (last.end === undefined || compareBytes(i.start, last.end) <= 0)) {
        if (last.end !== undefined && (i.end === undefined || compareBytes(i.end, last.end) > 0)) last.end = i.end
        continue
      }
      out.push({ start: i.start, end: i.end })
    }
    this.merged = out
  }

  /** Does the union contain `key`? */
  containsKey(key: Uint8Array): boolean {
    return this.merged.some((i) => compareBytes(i.start, key) <= 0 && (i.end === undefined || compareBytes(key, i.end) < 0))
  }

  /** Does the union cover the whole of [start, end) (`end` undefined: to the end of the keyspace)? */
  containsRange(start: Uint8Array, end: Uint8Array | undefined): boolean {
    // merged intervals do not touch, so one of them must cover the request alone
    return this.merged.some(
      (i) => compareBytes(i.start, start) <= 0 && (i.end === undefined || (end !== undefined && compareBytes(end, i.end) <= 0)),
    )
  }
}

/** A user's read and write permissions, merged over its roles. */
export interface UnifiedPermissions {
  read: IntervalSet
  write: IntervalSet
}

/** Merges the permissions of a user's roles (etcd `getMergedPerms`). */
export function mergePermissions(perms: readonly Permission[]): UnifiedPermissions {
  const read: KeyInterval[] = []
  const write: KeyInterval[] = []
  for (const p of perms) {
    const ivl = permissionInterval(p)
    if (p.permType !== 'WRITE') read.push(ivl)
    if (p.permType !== 'READ') write.push(ivl)
  }
  return { read: new IntervalSet(read), write: new IntervalSet(write) }
}

/**
 * Is the request range [key, rangeEnd) within `set` (etcd `isRangeOpPermitted`)? An empty
 * `rangeEnd` asks about the key alone, `"\0"` about everything from `key` on.
 */
export function rangePermitted(set: IntervalSet, key: Uint8Array, rangeEnd: Uint8Array): boolean {
  if (rangeEnd.length === 0) return set.containsKey(key)
  if (rangeEnd.length === 1 && rangeEnd[0] === 0) return set.containsRange(key, undefined)
  return set.containsRange(key, rangeEnd)
}
