/**
 * The snapshot image format (etcd's `snapshot.db` with its appended sha256): a header, the
 * state records of one member at one applied index, and a trailing SHA-256 of everything
 * before it. Encoding streams; decoding checks the image completely before anything reads it.
 *
 * ```
 * magic "PETCDSNP" (8) | format version u32 | header length u32 | header (UTF-8 JSON)
 * records: 0x01 | bucket length u16 | bucket | key length u32 | key | value length u32 | value
 * end:     0x00 | record count u32
 * trailer: SHA-256 of all the bytes above (32)
 * ```
 *
 * A record's bucket is the abstract-level sublevel the key lives in (`key`, `meta`, `lease`,
 * ...; `''` for the root), and its key is relative to that sublevel, so an image does not
 * depend on how a backend lays out its sublevel prefixes.
 *
 * @module
 */
import { z } from 'zod'
import { ERRORS, StorageError } from '../errors.js'

/** The first 8 bytes of every image. */
export const SNAPSHOT_MAGIC = new TextEncoder().encode('PETCDSNP')

/** The format version this library writes and reads. */
export const SNAPSHOT_FORMAT_VERSION = 1

const SHA256_BYTES = 32
const TAG_END = 0
const TAG_RECORD = 1
const FIXED_HEADER = SNAPSHOT_MAGIC.length + 8

/** What an image says about itself (etcdctl `snapshot status`, plus the source's identity). */
export interface SnapshotHeader {
  /** The MVCC revision of the state. */
  revision: number
  /** The compaction revision of the state (-1 if never compacted). */
  compactRevision: number
  /** The applied Raft index the state reflects (etcd's consistent index). */
  consistentIndex: number
  /** The source member's Raft term when the image was taken. */
  raftTerm: number
  /** The source cluster's id, a decimal string. */
  clusterId: string
  /** The source member's id, a decimal string. */
  memberId: string
  /** The source member's name. */
  memberName: string
}

const headerSchema = z.strictObject({
  revision: z.number().int().min(0),
  compactRevision: z.number().int().min(-1),
  consistentIndex: z.number().int().min(0),
  raftTerm: z.number().int().min(0),
  clusterId: z.string().regex(/^\d+$/),
  memberId: z.string().regex(/^\d+$/),
  memberName: z.string(),
})

/** One state record: a key of one bucket and its value. */
export interface SnapshotRecord {
  /** The sublevel the key belongs to (`''`: the database root). */
  bucket: string
  /** The key inside its bucket. */
  key: Uint8Array
  /** The stored value. */
  value: Uint8Array
}

/** A fully checked image: its header and every record, in the order they were taken. */
export interface DecodedSnapshot {
  /** The image's header. */
  header: SnapshotHeader
  /** The state records. */
  records: SnapshotRecord[]
  /** The image's SHA-256, lowercase hex. */
  sha256: string
  /** The image's size in bytes. */
  size: number
}

/** The error every malformed image is refused with (`ErrSnapshotCorrupt`, DataLoss). */
export function snapshotCorrupt(detail: string): StorageError {
  const d = ERRORS.SnapshotCorrupt
  return new StorageError(`${d.message}: ${detail}`, d.grpcCode, d.code)
}

/** The abstract-level sublevel separator (`!name!key`). */
const SEP = 0x21

/** Splits a raw database key into its sublevel name and the key inside it. */
export function splitBucket(raw: Uint8Array): { bucket: string; key: Uint8Array } {
  if (raw[0] === SEP) {
    const end = raw.indexOf(SEP, 1)
    if (end > 0) return { bucket: new TextDecoder().decode(raw.subarray(1, end)), key: raw.subarray(end + 1) }
  }
  return { bucket: '', key: raw }
}

function u32(n: number): Uint8Array {
  const b = new Uint8Array(4)
  new DataView(b.buffer).setUint32(0, n)
  return b
}

/** The bytes of an image header. */
export function encodeHeader(header: SnapshotHeader): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header))
  const out = new Uint8Array(FIXED_HEADER + json.length)
  out.set(SNAPSHOT_MAGIC, 0)
  const view = new DataView(out.buffer)
  view.setUint32(SNAPSHOT_MAGIC.length, SNAPSHOT_FORMAT_VERSION)
  view.setUint32(SNAPSHOT_MAGIC.length + 4, json.length)
  out.set(json, FIXED_HEADER)
  return out
}

/** The bytes of one record. */
export function encodeRecord(r: SnapshotRecord): Uint8Array {
  const bucket = new TextEncoder().encode(r.bucket)
  const out = new Uint8Array(1 + 2 + bucket.length + 4 + r.key.length + 4 + r.value.length)
  const view = new DataView(out.buffer)
  let at = 0
  out[at++] = TAG_RECORD
  view.setUint16(at, bucket.length)
  at += 2
  out.set(bucket, at)
  at += bucket.length
  view.setUint32(at, r.key.length)
  at += 4
  out.set(r.key, at)
  at += r.key.length
  view.setUint32(at, r.value.length)
  at += 4
  out.set(r.value, at)
  return out
}

/** The end marker after `count` records. */
export function encodeEnd(count: number): Uint8Array {
  const out = new Uint8Array(5)
  out[0] = TAG_END
  out.set(u32(count), 1)
  return out
}

/** SHA-256 of `bytes` (Web Crypto, available in Node 20 and browsers). */
export async function sha256(bytes: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await globalThis.crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>))
}

/** Lowercase hex of `bytes`. */
export function hex(bytes: Uint8Array): string {
  let s = ''
  for (const b of bytes) s += b.toString(16).padStart(2, '0')
  return s
}

/** Joins chunks into one array. */
export function concat(chunks: readonly Uint8Array[]): Uint8Array {
  let n = 0
  for (const c of chunks) n += c.length
  const out = new Uint8Array(n)
  let at = 0
  for (const c of chunks) {
    out.set(c, at)
    at += c.length
  }
  return out
}

/**
 * Checks and decodes a whole image: magic, format version, checksum, then every record.
 * Throws {@link snapshotCorrupt} naming the first problem; reads nothing else.
 */
export async function decodeSnapshot(image: Uint8Array): Promise<DecodedSnapshot> {
  if (image.length < SNAPSHOT_MAGIC.length) throw snapshotCorrupt(`truncated: ${image.length} bytes is shorter than the magic number (short read)`)
  for (let i = 0; i < SNAPSHOT_MAGIC.length; i++) {
    if (image[i] !== SNAPSHOT_MAGIC[i]) throw snapshotCorrupt('bad magic number: not a pocket-etcd snapshot image')
  }
  if (image.length < FIXED_HEADER) throw snapshotCorrupt(`truncated: ${image.length} bytes is shorter than the fixed header (short read)`)
  const view = new DataView(image.buffer, image.byteOffset, image.byteLength)
  const version = view.getUint32(SNAPSHOT_MAGIC.length)
  if (version !== SNAPSHOT_FORMAT_VERSION) throw snapshotCorrupt(`unsupported format version ${version} (this library reads version ${SNAPSHOT_FORMAT_VERSION})`)
  if (image.length < FIXED_HEADER + 5 + SHA256_BYTES) throw snapshotCorrupt('snapshot missing hash: the image is truncated (short read)')
  // etcd checks the appended sha256 before it reads the database (snapshot restore's saveDB)
  const body = image.subarray(0, image.length - SHA256_BYTES)
  const expected = image.subarray(image.length - SHA256_BYTES)
  const got = await sha256(body)
  if (hex(got) !== hex(expected)) throw snapshotCorrupt(`expected sha256 ${hex(expected)}, got ${hex(got)} (the image is damaged or truncated)`)

  const headerLen = view.getUint32(SNAPSHOT_MAGIC.length + 4)
  if (FIXED_HEADER + headerLen > body.length) throw snapshotCorrupt(`the header (${headerLen} bytes) runs past the end of the image (short read)`)
  let header: SnapshotHeader
  try {
    const parsed = headerSchema.safeParse(JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(image.subarray(FIXED_HEADER, FIXED_HEADER + headerLen))))
    if (!parsed.success) throw snapshotCorrupt(`undecodable header: ${parsed.error.issues[0]?.path.join('.') ?? ''} ${parsed.error.issues[0]?.message ?? ''}`)
    header = parsed.data
  } catch (err) {
    if (err instanceof StorageError) throw err
    throw snapshotCorrupt('undecodable header: not UTF-8 JSON')
  }
  const records: SnapshotRecord[] = []
  const decoder = new TextDecoder('utf-8', { fatal: true })
  let at = FIXED_HEADER + headerLen
  const need = (n: number, what: string): void => {
    if (at + n > body.length) throw snapshotCorrupt(`record ${records.length} (${what}) runs past the end of the image at byte ${at} (short read)`)
  }
  for (;;) {
    need(1, 'tag')
    const tag = image[at++]
    if (tag === TAG_END) break
    if (tag !== TAG_RECORD) throw snapshotCorrupt(`undecodable record ${records.length}: unknown tag ${tag} at byte ${at - 1}`)
    need(2, 'bucket length')
    const bucketLen = view.getUint16(at)
    at += 2
    need(bucketLen, 'bucket')
    let bucket: string
    try {
      bucket = decoder.decode(image.subarray(at, at + bucketLen))
    } catch {
      throw snapshotCorrupt(`undecodable record ${records.length}: bucket name is not UTF-8`)
    }
    if (bucket.includes('!')) throw snapshotCorrupt(`undecodable record ${records.length}: bucket name ${JSON.stringify(bucket)} contains '!'`)
    at += bucketLen
    need(4, 'key length')
    const keyLen = view.getUint32(at)
    at += 4
    need(keyLen, 'key')
    const key = image.slice(at, at + keyLen)
    at += keyLen
    need(4, 'value length')
    const valueLen = view.getUint32(at)
    at += 4
    need(valueLen, 'value')
    const value = image.slice(at, at + valueLen)
    at += valueLen
    records.push({ bucket, key, value })
  }
  need(4, 'record count')
  const count = view.getUint32(at)
  at += 4
  if (count !== records.length) throw snapshotCorrupt(`the end marker counts ${count} records, the image holds ${records.length}`)
  if (at !== body.length) throw snapshotCorrupt(`${body.length - at} unexpected bytes after the end marker`)
  return { header, records, sha256: hex(expected), size: image.length }
}
