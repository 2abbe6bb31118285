/**
 * Watch response fragmenting (etcd's `sendFragments`): a watch created with `fragment: true`
 * gets a response whose protobuf encoding would exceed the server's limit split into several
 * responses; every part but the last has `fragment: true`, and a client joins the parts'
 * events back into one revision's response. Sizes are those of etcd's protobuf encoding.
 *
 * @module
 */
import type { KeyValue, ResponseHeader, WatchEvent, WatchResponse } from '../api/messages.js'
import { varintSize } from '../api/varint.js'

/** etcd's `grpcOverheadBytes`: the watch server's limit is `--max-request-bytes` plus this. */
export const GRPC_OVERHEAD_BYTES = 512 * 1024

const encoder = new TextEncoder()

/** Bytes of a varint encoding of a non-negative integer given as a bigint. */
function varintSizeBig(v: bigint): number {
  let s = 1
  while (v >= 128n) {
    v >>= 7n
    s++
  }
  return s
}

/** A scalar int field (tag + varint), omitted when zero as proto3 does. */
function intField(n: number): number {
  return n === 0 ? 0 : 1 + varintSize(n)
}

/** An int64/uint64 field given as a decimal string. */
function idField(id: string): number {
  const v = BigInt(id)
  if (v === 0n) return 0
  return 1 + (v < 0n ? 10 : varintSizeBig(v))
}

/** A length-delimited field (bytes, string, or a present sub-message), omitted when empty unless `always`. */
function lenField(len: number, always = false): number {
  return len === 0 && !always ? 0 : 1 + varintSize(len) + len
}

function boolField(b: boolean): number {
  return b ? 2 : 0
}

function headerSize(h: ResponseHeader): number {
  return idField(h.clusterId) + idField(h.memberId) + intField(h.revision) + intField(h.raftTerm)
}

function keyValueSize(kv: KeyValue): number {
  return (
    lenField(kv.key.length) +
    intField(kv.createRevision) +
    intField(kv.modRevision) +
    intField(kv.version) +
    lenField(kv.value.length) +
    idField(kv.lease)
  )
}

function eventSize(e: WatchEvent): number {
  return (
    (e.type === 'DELETE' ? 2 : 0) +
    lenField(keyValueSize(e.kv), true) +
    (e.prevKv === undefined ? 0 : lenField(keyValueSize(e.prevKv), true))
  )
}

/** The size of `r`'s protobuf encoding (etcd's `WatchResponse.Size()`). */
export function watchResponseSize(r: WatchResponse): number {
  let n =
    lenField(headerSize(r.header), true) +
    idField(r.watchId) +
    boolField(r.created) +
    boolField(r.canceled) +
    intField(r.compactRevision) +
    lenField(encoder.encode(r.cancelReason).length) +
    boolField(r.fragment)
  for (const e of r.events) n += lenField(eventSize(e), true)
  return n
}

/**
 * Splits `r` as etcd's `sendFragments` does: a response under `maxBytes`, or with fewer than
 * two events, goes whole; otherwise each part takes events while it stays under `maxBytes`
 * (always at least one), and all parts but the last are marked `fragment: true`.
 */
export function fragmentWatchResponse(r: WatchResponse, maxBytes: number): WatchResponse[] {
  if (r.events.length < 2 || watchResponseSize(r) < maxBytes) return [r]
  const parts: WatchResponse[] = []
  // the size of a part is its base (fragment: true, no events) plus its events' fields
  const base = watchResponseSize({ ...r, fragment: true, events: [] })
  let i = 0
  while (i < r.events.length) {
    const events: WatchEvent[] = []
    let size = base
    for (; i < r.events.length; i++) {
      const add = lenField(eventSize(r.events[i]!), true)
      if (events.length > 0 && size + add >= maxBytes) break
      events.push(r.events[i]!)
      size += add
    }
    parts.push({ ...r, events, fragment: i < r.events.length })
  }
  return parts
}
