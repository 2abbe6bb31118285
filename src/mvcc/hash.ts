/**
 * CRC-32C (Castagnoli), the checksum etcd's HashKV computes over the key bucket. Written
 * here because the core may not use `node:zlib`.
 *
 * @module
 */

const TABLE = (() => {
  const t = new Uint32Array(256)
  for (let i = 0; i < 256; i++) {
    let c = i
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1
    t[i] = c >>> 0
  }
  return t
})()

/** Extends a CRC-32C (start from 0) with `bytes`; returns the new unsigned checksum. */
export function crc32c(crc: number, bytes: Uint8Array): number {
  let c = ~crc >>> 0
  for (let i = 0; i < bytes.length; i++) c = TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8)
  return ~c >>> 0
}
