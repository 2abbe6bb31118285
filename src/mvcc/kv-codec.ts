/**
 * The binary form of a {@link KeyValue} record in the backend's key bucket (etcd stores
 * the protobuf `mvccpb.KeyValue`). Layout: a format byte, then LEB128 varints and
 * length-prefixed bytes: key, value, createRevision, modRevision, version, lease (its
 * decimal string, `'0'` for none). Numbers are safe integers.
 *
 * @module
 */

import type { KeyValue } from '../api/messages.js'
import { assert } from '../errors.js'
import { allocBytes, copyBytes } from '../api/byte-pool.js'
import { copyInto } from '../api/bytes.js'
import { varintSize, writeVarint } from '../api/varint.js'

const FORMAT = 1

/** Encodes a record; tombstone records carry only the key (as etcd's). */
export function encodeKeyValue(kv: KeyValue): Uint8Array {
  const out = new Uint8Array(keyValueSize(kv))
  assert(writeKeyValue(out, 0, kv) === out.length, 'key-value record size mismatch')
  return out
}

function leaseOf(kv: KeyValue): string {
  return kv.lease === '0' || kv.lease === '' ? '' : kv.lease
}

/** The length of {@link encodeKeyValue}'s record for `kv`, for callers that place it in a larger array. */
export function keyValueSize(kv: KeyValue): number {
  const lease = leaseOf(kv)
  return (
    1 +
    varintSize(kv.key.length) +
    kv.key.length +
    varintSize(kv.value.length) +
    kv.value.length +
    varintSize(kv.createRevision) +
    varintSize(kv.modRevision) +
    varintSize(kv.version) +
    varintSize(lease.length) +
    lease.length
  )
}

/** Writes the record of `kv` into `out` at `at` ({@link keyValueSize} bytes); returns where it ends. */
export function writeKeyValue(out: Uint8Array, at: number, kv: KeyValue): number {
  const lease = leaseOf(kv)
  out[at] = FORMAT
  at = writeVarint(out, at + 1, kv.key.length)
  out.set(kv.key, at)
  at = writeVarint(out, at + kv.key.length, kv.value.length)
  out.set(kv.value, at)
  at = writeVarint(out, at + kv.value.length, kv.createRevision)
  at = writeVarint(out, at, kv.modRevision)
  at = writeVarint(out, at, kv.version)
  at = writeVarint(out, at, lease.length)
  for (let i = 0; i < lease.length; i++) out[at++] = lease.charCodeAt(i)
  return at
}

const EMPTY_RECORD = new Uint8Array(0)
/** Cursor of {@link decodeKeyValue} (module state, not closures: the decoder is on every read's path). */
let dBytes: Uint8Array = EMPTY_RECORD
let dAt = 0

function readVarint(): number {
  let n = 0
  let scale = 1
  for (;;) {
    if (dAt >= dBytes.length) assert(false, 'truncated key-value record')
    const b = dBytes[dAt++]!
    n += (b & 0x7f) * scale
    if (b < 0x80) return n
    scale *= 0x80
  }
}

/** Steps over a length-prefixed chunk; an empty array stands for it. */
function skipChunk(): Uint8Array {
  const len = readVarint()
  if (dAt + len > dBytes.length) assert(false, 'truncated key-value record')
  dAt += len
  return new Uint8Array(0)
}

function readChunk(): Uint8Array {
  const len = readVarint()
  if (dAt + len > dBytes.length) assert(false, 'truncated key-value record')
  // A plain copy even when the backend hands out a Buffer (whose slice is a shared view).
  const out = copyBytes(dBytes, dAt, len)
  dAt += len
  return out
}

/**
 * Decodes a record written by {@link encodeKeyValue}; key and value are copies. Without
 * `withValue` the value is left out (an empty array): a read that needs only keys and
 * revisions skips the largest copy.
 */
export function decodeKeyValue(bytes: Uint8Array, withValue = true): KeyValue {
  if (bytes[0] !== FORMAT) assert(false, `unknown key-value record format ${bytes[0]}`)
  dBytes = bytes
  dAt = 1
  try {
    const key = readChunk()
    const value = withValue ? readChunk() : skipChunk()
    return readRest(key, value)
  } finally {
    dBytes = EMPTY_RECORD
  }
}

/**
 * Decodes every record of `records` into `out` at the same position (positions whose
 * record is `undefined` are left alone). The keys and values are copies that share one
 * buffer (`allocBytes`), each a view of its own bytes in it: one allocation for a whole
 * range instead of one per key and value, which is most of the cost of a large range. Without
 * `withValue` values are left out, as in {@link decodeKeyValue}.
 */
export function decodeKeyValuesInto(records: readonly (Uint8Array | undefined)[], out: KeyValue[], withValue = true): void {
  let total = 0
  try {
    for (let i = 0; i < records.length; i++) {
      const bytes = records[i]
      if (bytes === undefined) continue
      if (bytes[0] !== FORMAT) assert(false, `unknown key-value record format ${bytes[0]}`)
      dBytes = bytes
      dAt = 1
      const keyLen = readVarint()
      dAt += keyLen
      if (dAt > bytes.length) assert(false, 'truncated key-value record')
      const valueLen = readVarint()
      total += withValue ? keyLen + valueLen : keyLen
    }
    const packed = allocBytes(total)
    let at = 0
    for (let i = 0; i < records.length; i++) {
      const bytes = records[i]
      if (bytes === undefined) continue
      dBytes = bytes
      dAt = 1
      const key = readPacked(packed, at)
      at += key.length
      let value: Uint8Array
      if (withValue) {
        value = readPacked(packed, at)
        at += value.length
      } else value = skipChunk()
      out[i] = readRest(key, value)
    }
  } finally {
    dBytes = EMPTY_RECORD
  }
}

/** Reads a length-prefixed chunk of the record being decoded into `packed` at `at`; returns its view there. */
function readPacked(packed: Uint8Array, at: number): Uint8Array {
  const len = readVarint()
  if (dAt + len > dBytes.length) assert(false, 'truncated key-value record')
  copyInto(packed, at, dBytes, dAt, len)
  dAt += len
  return packed.subarray(at, at + len)
}

/** The fields of the record being decoded after its key and value. */
function readRest(key: Uint8Array, value: Uint8Array): KeyValue {
  const bytes = dBytes
  const createRevision = readVarint()
  const modRevision = readVarint()
  const version = readVarint()
  const leaseLen = readVarint()
  if (dAt + leaseLen !== bytes.length) assert(false, dAt + leaseLen > bytes.length ? 'truncated key-value record' : 'trailing bytes in key-value record')
  let lease = '0'
  if (leaseLen > 0) {
    lease = ''
    for (let i = dAt; i < dAt + leaseLen; i++) lease += String.fromCharCode(bytes[i]!)
  }
  return { key, value, createRevision, modRevision, version, lease }
}
