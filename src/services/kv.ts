/**
 * The KV service (etcd's `v3rpc` KV server): parses each request with zod, runs etcd's
 * request checks, then hands the normalized request to a member. A request that fails a
 * check is refused before it reaches the member, so it changes nothing.
 *
 * @module
 */
import type {
  CompactionResponse,
  DeleteRangeRequest,
  DeleteRangeResponse,
  PutRequest,
  PutResponse,
  RangeRequest,
  RangeResponse,
  RequestOp,
  TxnRequest,
  TxnResponse,
  CompactionRequest,
} from '../api/messages.js'
import { compareBytes, fromBinaryString, toBinaryString } from '../api/bytes.js'
import { varintSize } from '../api/varint.js'
import { etcdError } from '../errors.js'
import type { KVApi } from './kv-api.js'
import { NO_TOKEN, type TokenSource } from '../auth/credentials.js'
import { whileHeld } from '../sim/clock.js'
import {
  compactionRequestSchema,
  deleteRangeRequestSchema,
  parseRequest,
  putRequestSchema,
  rangeRequestSchema,
  txnRequestSchema,
} from './kv-schema.js'

/** Request limits, as etcd's `--max-request-bytes` and `--max-txn-ops`. */
export interface KVLimits {
  /** Largest request accepted, in bytes of its encoding (etcd default 1.5 MiB). */
  maxRequestBytes: number
  /** Most operations in one txn branch or compare list (etcd default 128). */
  maxTxnOps: number
}

/** etcd's defaults for {@link KVLimits}. */
export const DEFAULT_KV_LIMITS: KVLimits = { maxRequestBytes: 1.5 * 1024 * 1024, maxTxnOps: 128 }

/** What the KV service needs from a member (etcd's `RaftKV`): normalized, checked requests. */
export interface KVServer {
  /** `token`, when given, is the sender's auth token (etcd's `token` metadata); its permissions are checked. */
  range(r: RangeRequest, token?: string): Promise<RangeResponse>
  put(r: PutRequest, token?: string): Promise<PutResponse>
  deleteRange(r: DeleteRangeRequest, token?: string): Promise<DeleteRangeResponse>
  txn(r: TxnRequest, token?: string): Promise<TxnResponse>
  compact(r: CompactionRequest, token?: string): Promise<CompactionResponse>
}

// --- etcd's request checks (etcdserver/api/v3rpc/key.go) ---

function checkRangeRequest(r: RangeRequest): void {
  if (r.key.length === 0) throw etcdError('EmptyKey')
}

function checkPutRequest(r: PutRequest): void {
  if (r.key.length === 0) throw etcdError('EmptyKey')
  if (r.ignoreValue && r.value.length !== 0) throw etcdError('ValueProvided')
  if (r.ignoreLease && r.lease !== '0') throw etcdError('LeaseProvided')
}

function checkDeleteRequest(r: DeleteRangeRequest): void {
  if (r.key.length === 0) throw etcdError('EmptyKey')
}

function checkRequestOp(op: RequestOp, maxTxnOps: number): void {
  if ('requestRange' in op) checkRangeRequest(op.requestRange)
  else if ('requestPut' in op) checkPutRequest(op.requestPut)
  else if ('requestDeleteRange' in op) checkDeleteRequest(op.requestDeleteRange)
  else checkTxnRequest(op.requestTxn, maxTxnOps)
}

function checkTxnRequest(r: TxnRequest, maxTxnOps: number): void {
  const opc = Math.max(r.compare.length, r.success.length, r.failure.length)
  if (opc > maxTxnOps) throw etcdError('TooManyOps')
  for (const c of r.compare) if (c.key.length === 0) throw etcdError('EmptyKey')
  for (const op of r.success) checkRequestOp(op, maxTxnOps - opc)
  for (const op of r.failure) checkRequestOp(op, maxTxnOps - opc)
}

/** A deleted interval [start, end) of keys; `end` undefined is the single key `start`. */
interface Interval {
  start: Uint8Array
  end: Uint8Array | undefined
}

function intersectsPoint(dels: Interval[], key: Uint8Array): boolean {
  for (const d of dels) {
    if (d.end === undefined) {
      if (compareBytes(d.start, key) === 0) return true
    } else if (compareBytes(d.start, key) <= 0 && compareBytes(key, d.end) < 0) {
      return true
    }
  }
  return false
}

/**
 * etcd's checkIntervals: within one branch (and the txns nested in it) no key may be put
 * twice, nor put and deleted, since the result would depend on op order. The two branches
 * of a nested txn exclude each other, so the same key may be put in both.
 */
function checkIntervals(reqs: RequestOp[]): { puts: Set<string>; dels: Interval[] } {
  const dels: Interval[] = []
  for (const op of reqs) {
    if (!('requestDeleteRange' in op)) continue
    const d = op.requestDeleteRange
    // etcd 3.4 takes rangeEnd literally here: a from-key delete (rangeEnd "\0") is the
    // empty interval [key, "\0") and so never conflicts. We keep that quirk.
    dels.push({ start: d.key, end: d.rangeEnd.length === 0 ? undefined : d.rangeEnd })
  }
  const puts = new Set<string>()
  for (const op of reqs) {
    if (!('requestTxn' in op)) continue
    const then = checkIntervals(op.requestTxn.success)
    const els = checkIntervals(op.requestTxn.failure)
    for (const k of then.puts) {
      if (puts.has(k) || intersectsPoint(dels, fromBinaryString(k))) throw etcdError('DuplicateKey')
      puts.add(k)
    }
    for (const k of els.puts) {
      // a key put in both branches of one nested txn is fine: only one branch runs
      if (puts.has(k) && !then.puts.has(k)) throw etcdError('DuplicateKey')
      if (intersectsPoint(dels, fromBinaryString(k))) throw etcdError('DuplicateKey')
      puts.add(k)
    }
    dels.push(...then.dels, ...els.dels)
  }
  for (const op of reqs) {
    if (!('requestPut' in op)) continue
    const key = op.requestPut.key
    const k = toBinaryString(key)
    if (puts.has(k) || intersectsPoint(dels, key)) throw etcdError('DuplicateKey')
    puts.add(k)
  }
  return { puts, dels }
}

// --- request size, as the size of etcd's protobuf encoding ---

function fieldSize(len: number): number {
  // tag (1) + length varint + payload
  return len === 0 ? 0 : 1 + varintSize(len) + len
}

const SCALAR_FIELD = 11 // a generous bound for a tag plus an int64 varint

function opSize(op: RequestOp): number {
  if ('requestRange' in op) return fieldSize(op.requestRange.key.length + op.requestRange.rangeEnd.length + 6 * SCALAR_FIELD)
  if ('requestPut' in op) return fieldSize(fieldSize(op.requestPut.key.length) + fieldSize(op.requestPut.value.length) + 3 * SCALAR_FIELD)
  if ('requestDeleteRange' in op) return fieldSize(fieldSize(op.requestDeleteRange.key.length) + fieldSize(op.requestDeleteRange.rangeEnd.length) + 2)
  return fieldSize(txnSize(op.requestTxn))
}

function txnSize(t: TxnRequest): number {
  let n = 0
  for (const c of t.compare) n += fieldSize(fieldSize(c.key.length) + fieldSize(c.rangeEnd.length) + fieldSize(c.value.length) + 3 * SCALAR_FIELD)
  for (const op of t.success) n += fieldSize(opSize(op))
  for (const op of t.failure) n += fieldSize(opSize(op))
  return n
}

/** Approximates the size of a request's protobuf encoding, which etcd limits by `--max-request-bytes`. */
export function requestSize(r: { put: PutRequest } | { txn: TxnRequest } | { deleteRange: DeleteRangeRequest }): number {
  if ('put' in r) return opSize({ requestPut: r.put })
  if ('deleteRange' in r) return opSize({ requestDeleteRange: r.deleteRange })
  return txnSize(r.txn)
}

/** etcd's KV service in front of one member: validation, checks, limits. */
export class KVService implements KVApi {
  constructor(
    private readonly server: () => KVServer,
    private readonly limits: KVLimits = DEFAULT_KV_LIMITS,
    /** Keeps the host alive while a request is in flight (see `Clock.hold`). */
    private readonly hold: () => () => void = () => () => undefined,
    /** The auth token each request carries (none by default). */
    private readonly tokens: TokenSource = NO_TOKEN,
  ) {}

  private held<T>(run: () => Promise<T>): Promise<T> {
    return whileHeld(this.hold, run)
  }

  // The request methods are not `async`: each hands back the answer's own promise, which
  // an async wrapper would resolve through an extra promise and two more microtask turns
  // per request. A bad request still rejects (never throws), as an async method would.

  /** Gets the keys in a range (etcd `KV.Range`). */
  range(request: Parameters<KVApi['range']>[0]): Promise<RangeResponse> {
    try {
      const r = parseRequest(rangeRequestSchema, request, 'RangeRequest')
      checkRangeRequest(r)
      // a serializable read is served from local state at once: nothing waits on the clock
      if (r.serializable) return this.tokens.run((t) => this.server().range(r, t))
      return this.held(() => this.tokens.run((t) => this.server().range(r, t)))
    } catch (err) {
      return Promise.reject(err)
    }
  }

  /** Puts a key (etcd `KV.Put`). */
  put(request: Parameters<KVApi['put']>[0]): Promise<PutResponse> {
    try {
      const r = parseRequest(putRequestSchema, request, 'PutRequest')
      checkPutRequest(r)
      if (requestSize({ put: r }) > this.limits.maxRequestBytes) throw etcdError('RequestTooLarge')
      return this.held(() => this.tokens.run((t) => this.server().put(r, t)))
    } catch (err) {
      return Promise.reject(err)
    }
  }

  /** Deletes a key or range (etcd `KV.DeleteRange`). */
  deleteRange(request: Parameters<KVApi['deleteRange']>[0]): Promise<DeleteRangeResponse> {
    try {
      const r = parseRequest(deleteRangeRequestSchema, request, 'DeleteRangeRequest')
      checkDeleteRequest(r)
      if (requestSize({ deleteRange: r }) > this.limits.maxRequestBytes) throw etcdError('RequestTooLarge')
      return this.held(() => this.tokens.run((t) => this.server().deleteRange(r, t)))
    } catch (err) {
      return Promise.reject(err)
    }
  }

  /** Runs a txn (etcd `KV.Txn`). */
  txn(request: Parameters<KVApi['txn']>[0]): Promise<TxnResponse> {
    try {
      const r = parseRequest(txnRequestSchema, request, 'TxnRequest')
      checkTxnRequest(r, this.limits.maxTxnOps)
      // checked after the request itself, to avoid quadratic work on a malformed one (as etcd)
      checkIntervals(r.success)
      checkIntervals(r.failure)
      if (requestSize({ txn: r }) > this.limits.maxRequestBytes) throw etcdError('RequestTooLarge')
      return this.held(() => this.tokens.run((t) => this.server().txn(r, t)))
    } catch (err) {
      return Promise.reject(err)
    }
  }

  /** Compacts history below a revision (etcd `KV.Compact`). */
  async compact(request: Parameters<KVApi['compact']>[0]): Promise<CompactionResponse> {
    const r = parseRequest(compactionRequestSchema, request, 'CompactionRequest')
    return this.held(() => this.tokens.run((t) => this.server().compact(r, t)))
  }
}
