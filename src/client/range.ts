/**
 * Byte ranges of keys as the typed layer names them, following etcd's conventions: an empty
 * end is the single key `start`, an end of `[0]` is "every key from `start` on".
 *
 * @module
 */
import { EMPTY, ZERO, compareBytes, equalBytes, prefixEnd, toBytes } from '../api/bytes.js'
import { InvalidArgumentError } from '../errors.js'
import { checkKey, invalidArg } from './validate.js'

/** A key as callers write it: a UTF-8 string or raw bytes. */
export type KeyInput = string | Uint8Array

/**
 * Anything {@link Range.from} turns into a range (etcd3's `Rangable`): a `Range`, a single
 * key, explicit bounds or a prefix.
 */
export type Rangable = Range | KeyInput | { start: KeyInput; end: KeyInput } | { prefix: KeyInput }

/**
 * A half-open byte range `[start, end)` of keys (etcd3's `Range`). Bounds are relative to
 * the namespace that uses the range, which adds its prefix when it sends the request.
 */
export class Range {
  /** First key of the range (inclusive). */
  readonly start: Uint8Array
  /** End of the range (exclusive); empty for the single key `start`, `[0]` for "to the end". */
  readonly end: Uint8Array

  constructor(start: KeyInput, end: KeyInput = EMPTY) {
    this.start = toBytes(checkKey(start, 'range start'))
    this.end = toBytes(checkKey(end, 'range end'))
  }

  /**
   * Every key that starts with `prefix`. The empty prefix is every key (`[0]` to `[0]`,
   * as etcd3 spells it), because etcd refuses an empty range start.
   */
  static prefix(prefix: KeyInput): Range {
    const p = toBytes(checkKey(prefix, 'prefix'))
    if (p.length === 0) return new Range(ZERO, ZERO)
    return new Range(p, prefixEnd(p))
  }

  /**
   * Converts any {@link Rangable} to a `Range`; a bare key is the range of that one key,
   * and a key followed by `end` is `[key, end)`.
   */
  static from(r: Rangable, end?: KeyInput): Range {
    if (typeof r === 'string' || r instanceof Uint8Array) return new Range(r, end)
    if (end !== undefined) {
      throw new InvalidArgumentError('pocket-etcd: a range end goes with a start key, not with a range', 'InvalidArgument', 'ErrInvalidRequest')
    }
    if (r instanceof Range) return r
    if (typeof r !== 'object' || r === null || Array.isArray(r)) throw invalidArg('range', r, 'a key, a Range, { start, end } or { prefix }')
    if (Object.hasOwn(r, 'prefix')) return Range.prefix((r as { prefix: unknown }).prefix as KeyInput)
    if (!Object.hasOwn(r, 'start')) throw invalidArg('range', r, 'a key, a Range, { start, end } or { prefix }')
    const { start, end: stop } = r as { start: unknown; end?: unknown }
    return new Range(checkKey(start, 'range start'), stop === undefined ? EMPTY : checkKey(stop, 'range end'))
  }

  /** True when `key` lies in the range, with etcd's meaning of an empty and a `[0]` end. */
  includes(key: KeyInput): boolean {
    const k = toBytes(checkKey(key, 'key in Range.includes(key)'))
    if (this.end.length === 0) return equalBytes(k, this.start)
    if (compareBytes(k, this.start) < 0) return false
    return equalBytes(this.end, ZERO) || compareBytes(k, this.end) < 0
  }
}
