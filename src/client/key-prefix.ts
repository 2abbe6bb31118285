/**
 * How a namespace maps its keys to the store's keys and back.
 *
 * @module
 */
import type {
  DeleteRangeResponse,
  KeyValue,
  PutResponse,
  RangeResponse,
} from '../api/messages.js'
import { EMPTY, ZERO, equalBytes, prefixEnd, toText } from '../api/bytes.js'
import { assert, etcdError } from '../errors.js'

/**
 * Bytes as the KV service's request types name them. zod's `instanceof(Uint8Array)` types
 * them over an `ArrayBuffer`, though it accepts any `Uint8Array` at run time.
 */
export type RequestBytes = Uint8Array<ArrayBuffer>

/** Types caller bytes as request bytes; the service accepts every `Uint8Array`, so only the type changes. */
function requestBytes(bytes: Uint8Array): RequestBytes {
  return bytes as RequestBytes
}

/**
 * A namespace's key prefix (etcd3's `NSApplicator`, etcd's `clientv3/namespace`): adds it to
 * every key and range sent and strips it from every key returned, so a namespace sees only
 * its own keys and cannot reach outside them. The root prefix is empty and costs nothing.
 */
export class KeyPrefix {
  /** The empty prefix: keys pass through unchanged. */
  static readonly ROOT = new KeyPrefix(EMPTY)

  /** The prefix bytes (never mutated). */
  readonly bytes: Uint8Array
  /** Where the prefix's keys end: the store-level end of a "to the end" (`[0]`) range. */
  readonly end: Uint8Array

  /** `bytes` is copied, so the caller may reuse its buffer. */
  constructor(bytes: Uint8Array) {
    this.bytes = bytes.length === 0 ? EMPTY : bytes.slice()
    this.end = prefixEnd(this.bytes)
  }

  /** True for the empty (root) prefix. */
  get isRoot(): boolean {
    return this.bytes.length === 0
  }

  /** The prefix of a nested namespace: this prefix followed by `more`. */
  concat(more: Uint8Array): KeyPrefix {
    if (more.length === 0) return this
    const out = new Uint8Array(this.bytes.length + more.length)
    out.set(this.bytes, 0)
    out.set(more, this.bytes.length)
    return new KeyPrefix(out)
  }

  /**
   * The store key for a namespace key or range start. Inside a namespace an empty key is
   * refused with etcd's "key is not provided", exactly as the root refuses it (it would
   * otherwise name the prefix itself, which no namespace range includes).
   */
  key(key: Uint8Array): RequestBytes {
    if (this.isRoot) return requestBytes(key)
    if (key.length === 0) throw etcdError('EmptyKey')
    return this.join(key)
  }

  /** The store range end for a namespace range end: empty stays empty, `[0]` becomes the prefix's end. */
  rangeEnd(end: Uint8Array): RequestBytes {
    if (this.isRoot || end.length === 0) return requestBytes(end)
    if (equalBytes(end, ZERO)) return requestBytes(this.end)
    return this.join(end)
  }

  /** The namespace key for a store key; the store key must carry the prefix. */
  strip(key: Uint8Array): Uint8Array {
    if (this.isRoot) return key
    assert(
      key.length >= this.bytes.length && equalBytes(key.subarray(0, this.bytes.length), this.bytes),
      `key ${JSON.stringify(toText(key))} returned outside namespace ${JSON.stringify(toText(this.bytes))}`,
    )
    return key.subarray(this.bytes.length)
  }

  /** A copy of `kv` with its key stripped (the response's own object is left untouched). */
  stripKv(kv: KeyValue): KeyValue {
    return this.isRoot ? kv : { ...kv, key: this.strip(kv.key) }
  }

  /** A range response with every key stripped. */
  stripRange(res: RangeResponse): RangeResponse {
    return this.isRoot ? res : { ...res, kvs: res.kvs.map((kv) => this.stripKv(kv)) }
  }

  /** A put response with its previous key stripped. */
  stripPut(res: PutResponse): PutResponse {
    return this.isRoot || res.prevKv === undefined ? res : { ...res, prevKv: this.stripKv(res.prevKv) }
  }

  /** A delete response with its previous keys stripped. */
  stripDelete(res: DeleteRangeResponse): DeleteRangeResponse {
    return this.isRoot ? res : { ...res, prevKvs: res.prevKvs.map((kv) => this.stripKv(kv)) }
  }

  private join(key: Uint8Array): RequestBytes {
    const out = new Uint8Array(this.bytes.length + key.length)
    out.set(this.bytes, 0)
    out.set(key, this.bytes.length)
    return out
  }
}
