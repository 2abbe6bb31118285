/**
 * Encodes the records a member writes to its Raft log and database (internal requests,
 * hard state, snapshot metadata) as bytes, and back. Byte fields survive the round trip
 * exactly; everything else is JSON.
 *
 * @module
 */
import { fromBinaryString, toBinaryString } from '../api/bytes.js'
import { InvariantError } from '../errors.js'

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** Marks a byte field inside the JSON text: `{"$b": "<one char per byte>"}`. */
const BYTES_TAG = '$b'

function replacer(this: unknown, key: string, value: unknown): unknown {
  // JSON.stringify calls toJSON before the replacer, so a Node Buffer arrives here as
  // { type: 'Buffer', data: [...] }; look at the holder's own field to see the bytes.
  const raw = (this as Record<string, unknown>)[key]
  if (raw instanceof Uint8Array) return { [BYTES_TAG]: toBinaryString(raw) }
  return value
}

function reviver(_key: string, value: unknown): unknown {
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const o = value as Record<string, unknown>
    const b = o[BYTES_TAG]
    if (typeof b === 'string' && Object.keys(o).length === 1) return fromBinaryString(b)
  }
  return value
}

/** Encodes a JSON-like value whose leaves may be `Uint8Array`s. */
export function encodeRecord(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value, replacer))
}

/** Decodes what {@link encodeRecord} wrote. A record that does not parse is corruption. */
export function decodeRecord<T>(bytes: Uint8Array): T {
  try {
    return JSON.parse(decoder.decode(bytes), reviver) as T
  } catch (err) {
    throw new InvariantError(`undecodable record (${bytes.length} bytes): ${String(err)}`)
  }
}
