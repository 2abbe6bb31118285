/**
 * Runtime checks of the typed layer's arguments, for callers without TypeScript types (or
 * with `any`): a wrongly typed argument is refused with an {@link InvalidArgumentError}
 * naming the method and argument, before any request is built or sent. Plain `typeof`
 * checks, cheap enough for every call.
 *
 * @module
 */
import { InvalidArgumentError } from '../errors.js'
import { normalizeId } from '../services/kv-schema.js'
import type { LeaseId } from './put-builder.js'
import type { KeyInput } from './range.js'

/** A short, safe description of a caller's value for an error message (never the whole of a huge string). */
export function describeArg(v: unknown): string {
  if (v === null) return 'null'
  if (v instanceof Uint8Array) return `a Uint8Array(${v.length})`
  if (Array.isArray(v)) return 'an array'
  switch (typeof v) {
    case 'string':
      return v.length > 40 ? `a string of ${v.length} characters` : `the string ${JSON.stringify(v)}`
    case 'number':
    case 'bigint':
    case 'boolean':
    case 'undefined':
      return `${typeof v} ${String(v)}`
    case 'symbol':
      return 'a symbol'
    case 'function':
      return 'a function'
    default:
      return 'an object'
  }
}

/** The error for argument `what` (for example `key in get(key)`) being `v` instead of `expected`. */
export function invalidArg(what: string, v: unknown, expected: string): InvalidArgumentError {
  return new InvalidArgumentError(`pocket-etcd: invalid ${what}: got ${describeArg(v)}, expected ${expected}`, 'InvalidArgument', 'ErrInvalidRequest')
}

/** Checks a key, prefix or range bound: a string or a `Uint8Array`. */
export function checkKey(v: unknown, what: string): KeyInput {
  if (typeof v === 'string' || v instanceof Uint8Array) return v
  throw invalidArg(what, v, 'a string or Uint8Array')
}

/** Checks a revision (etcd's int64, as a safe integer `number`). */
export function checkRevision(v: unknown, what: string): number {
  if (typeof v === 'number' && Number.isSafeInteger(v)) return v
  throw invalidArg(what, v, 'a safe integer')
}

/** Checks a boolean flag. */
export function checkBool(v: unknown, what: string): boolean {
  if (typeof v === 'boolean') return v
  throw invalidArg(what, v, 'a boolean')
}

/** Checks a value to write: a string, a `Uint8Array` or a finite number. */
export function checkValue(v: unknown, what: string): string | Uint8Array | number {
  if (typeof v === 'string' || v instanceof Uint8Array || (typeof v === 'number' && Number.isFinite(v))) return v
  throw invalidArg(what, v, 'a string, Uint8Array or finite number')
}

/** Checks a lease id: a decimal string, a safe integer or a bigint, within int64. */
export function checkLeaseId(v: unknown, what: string): LeaseId {
  const ok = (typeof v === 'string' && /^-?[0-9]{1,20}$/.test(v)) || (typeof v === 'number' && Number.isSafeInteger(v)) || typeof v === 'bigint'
  if (!ok) throw invalidArg(what, v, 'a lease id (decimal string, safe integer or bigint)')
  try {
    normalizeId(v)
  } catch {
    throw invalidArg(what, v, 'a lease id within int64')
  }
  return v
}

/** Checks a name that must be one of `map`'s keys (sort targets, comparators, columns). */
export function checkName(map: object, v: unknown, what: string): string {
  if (typeof v === 'string' && Object.hasOwn(map, v)) return v
  const names = Object.keys(map).map((k) => JSON.stringify(k)).join(', ')
  throw invalidArg(what, v, `one of ${names}`)
}

/** Checks a TTL in seconds: a positive finite number. */
export function checkTtl(v: unknown, what: string): number {
  if (typeof v === 'number' && v > 0 && Number.isFinite(v)) return v
  throw invalidArg(what, v, 'a positive number of seconds')
}

/** Checks the options object of a typed call: `undefined` or a plain object. */
export function checkOptions<T>(v: T, what: string): T {
  if (v === undefined || (typeof v === 'object' && v !== null && !Array.isArray(v))) return v
  throw invalidArg(what, v, 'an options object')
}
