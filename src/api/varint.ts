/**
 * LEB128 varints, as protobuf writes them and as pocket-etcd's binary records (key-value
 * records, Raft log chunks) store lengths and numbers: 7 bits per byte, low bits first, the
 * high bit set on every byte but the last. One implementation for every encoder and size
 * estimate, so they cannot drift apart.
 *
 * @module
 */
import { assert } from '../errors.js'

/**
 * Bytes of the varint of `n`, a safe integer. A negative number takes 10, as a negative
 * int64 does in protobuf (its two's complement).
 */
export function varintSize(n: number): number {
  if (n < 0) return 10
  let size = 1
  while (n >= 0x80) {
    n = Math.floor(n / 0x80)
    size++
  }
  return size
}

/** Writes the varint of `n` (a non-negative safe integer) into `out` at `at`; returns the position after it. */
export function writeVarint(out: Uint8Array, at: number, n: number): number {
  if (!(Number.isSafeInteger(n) && n >= 0)) assert(false, `${n} is not a non-negative safe integer`)
  while (n >= 0x80) {
    out[at++] = (n % 0x80) | 0x80
    n = Math.floor(n / 0x80)
  }
  out[at++] = n
  return at
}
