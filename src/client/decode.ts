/**
 * Turning stored value bytes into typed values, with errors that name the key.
 *
 * @module
 */
import type { z } from 'zod'
import { toText } from '../api/bytes.js'
import { EtcdError } from '../errors.js'

/**
 * A stored value could not be read as the type asked for: not a number, not JSON, or JSON
 * that fails the caller's schema. The message names the key; `cause` holds the parser's
 * error. Nothing in the store is wrong, so it is a client-side error (no etcd equivalent).
 */
export class DecodeError extends EtcdError {
  /** The key whose value failed to decode, relative to the namespace it was read through. */
  readonly key: Uint8Array

  constructor(key: Uint8Array, message: string, options?: { cause?: unknown }) {
    super(`pocket-etcd: value of key ${JSON.stringify(toText(key))} ${message}`, 'FailedPrecondition', 'ErrDecode', options)
    this.key = key
  }
}

/** Reads a value as a decimal number (`Number(text)`); text that is not a number rejects. */
export function decodeNumber(key: Uint8Array, value: Uint8Array): number {
  const text = toText(value)
  const n = Number(text)
  if (text.trim() === '' || Number.isNaN(n)) {
    throw new DecodeError(key, `is not a number: ${JSON.stringify(abbreviate(text))}`)
  }
  return n
}

/** Parses a value as JSON and, given a schema, validates and types it with the schema. */
export function decodeJson(key: Uint8Array, value: Uint8Array, schema?: z.ZodType): unknown {
  let parsed: unknown
  try {
    parsed = JSON.parse(toText(value))
  } catch (err) {
    throw new DecodeError(key, `is not valid JSON: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
  }
  if (schema === undefined) return parsed
  const r = schema.safeParse(parsed)
  if (r.success) return r.data
  const issues = r.error.issues
    .map((i) => `${i.path.length > 0 ? i.path.map(String).join('.') : '(value)'}: ${i.message}`)
    .join('; ')
  throw new DecodeError(key, `does not match the schema: ${issues}`, { cause: r.error })
}

function abbreviate(text: string): string {
  return text.length > 64 ? `${text.slice(0, 61)}...` : text
}
