/**
 * Taking a snapshot image of one member (etcd's `Maintenance.Snapshot`): its state buckets —
 * MVCC keys and meta, leases, and whatever else the applied state keeps (auth, membership) —
 * at one applied index, without its Raft log, streamed as chunks and closed by a SHA-256.
 *
 * @module
 */
import { EtcdError, etcdError } from '../errors.js'
import type { MemberStateSnapshot } from '../member/member.js'
import { concat, decodeSnapshot, encodeEnd, encodeHeader, encodeRecord, sha256, splitBucket } from './image.js'
import type { SnapshotHeader } from './image.js'

/** The member a snapshot is taken from: its identity and a consistent read of its state. */
export interface SnapshotSourceMember {
  readonly id: string
  readonly name: string
  readonly clusterId: string
  readonly isStopped: boolean
  openStateSnapshot(): Promise<MemberStateSnapshot>
}

/** Bytes per chunk a snapshot stream yields (etcd's snapshot sends 32 KiB blobs). */
export const SNAPSHOT_CHUNK_BYTES = 32 * 1024

/**
 * A snapshot image as a stream of chunks: `for await (const chunk of stream)` writes it
 * anywhere; `await stream.bytes()` collects it. Each iteration takes a new, consistent image
 * of the member's state at the moment it starts (the database read is an implicit snapshot,
 * so the member keeps applying meanwhile). The trailing SHA-256 is computed with Web Crypto's
 * one-shot digest, so the stream keeps the chunks it yielded until the last one.
 */
export class SnapshotStream implements AsyncIterable<Uint8Array> {
  readonly #source: () => SnapshotSourceMember
  readonly #chunkBytes: number

  /** @internal */
  constructor(source: () => SnapshotSourceMember, chunkBytes = SNAPSHOT_CHUNK_BYTES) {
    this.#source = source
    this.#chunkBytes = chunkBytes
  }

  /** Yields the image: header, records, end marker, then the 32-byte SHA-256 of all of it. */
  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array> {
    const member = this.#source()
    const state = await member.openStateSnapshot()
    const all: Uint8Array[] = []
    let pending: Uint8Array[] = []
    let pendingBytes = 0
    const take = (b: Uint8Array): Uint8Array | undefined => {
      all.push(b)
      pending.push(b)
      pendingBytes += b.length
      if (pendingBytes < this.#chunkBytes) return undefined
      const chunk = concat(pending)
      pending = []
      pendingBytes = 0
      return chunk
    }
    try {
      const header: SnapshotHeader = {
        revision: state.revision,
        compactRevision: state.compactRevision,
        consistentIndex: state.consistentIndex,
        raftTerm: state.raftTerm,
        clusterId: member.clusterId,
        memberId: member.id,
        memberName: member.name,
      }
      let chunk = take(encodeHeader(header))
      if (chunk) yield chunk
      let count = 0
      try {
        for await (const [raw, value] of state.records) {
          const { bucket, key } = splitBucket(raw)
          count++
          chunk = take(encodeRecord({ bucket, key, value }))
          if (chunk) yield chunk
        }
      } catch (err) {
        // the member stopped under the read (a crash closes its database): etcd's stream fails the same way
        if (member.isStopped && !(err instanceof EtcdError)) throw etcdError('Stopped', { cause: err })
        throw err
      }
      take(encodeEnd(count))
      const digest = await sha256(concat(all))
      pending.push(digest)
      yield concat(pending)
    } finally {
      await state.close()
    }
  }

  /** The whole image in one array (etcdctl `snapshot save` without the file). */
  async bytes(): Promise<Uint8Array> {
    const chunks: Uint8Array[] = []
    for await (const c of this) chunks.push(c)
    return concat(chunks)
  }
}

/** Anything an image can be read from: its bytes, or its chunks (a {@link SnapshotStream}, a file stream). */
export type SnapshotImageSource = Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>

/** Collects an image from any {@link SnapshotImageSource}. */
export async function collectSnapshot(image: SnapshotImageSource): Promise<Uint8Array> {
  if (image instanceof Uint8Array) return image
  const chunks: Uint8Array[] = []
  for await (const c of image as AsyncIterable<Uint8Array>) chunks.push(c)
  return concat(chunks)
}

/** What `etcdctl snapshot status` reports about an image, after checking it completely. */
export interface SnapshotStatus {
  /** The image's header (revision, consistent index, source ids). */
  header: SnapshotHeader
  /** Records in the image (etcd's `totalKey` counts every bucket's keys, as here). */
  totalKey: number
  /** The image's size in bytes. */
  totalSize: number
  /** The image's SHA-256, lowercase hex. */
  sha256: string
}

/**
 * Checks an image (magic, version, SHA-256, every record) and describes it (etcdctl
 * `snapshot status`). Throws `ErrSnapshotCorrupt` for a damaged or truncated image.
 */
export async function snapshotStatus(image: SnapshotImageSource): Promise<SnapshotStatus> {
  const d = await decodeSnapshot(await collectSnapshot(image))
  return { header: d.header, totalKey: d.records.length, totalSize: d.size, sha256: d.sha256 }
}
