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

/**
 * One request kind of the service: how it is parsed and checked (throwing etcd's error for a
 * bad request), how the checked request reaches the member, and whether the host is held
 * while it is in flight (see `Clock.hold`).
 */
interface Endpoint<R, T> {
  parse(request: unknown, limits: KVLimits): R
  send(server: KVServer, r: R, token: string | undefined): Promise<T>
  held(r: R): boolean
}

/** Most requests hold the host while in flight. */
const HELD = (): boolean => true

const RANGE: Endpoint<RangeRequest, RangeResponse> = {
  parse(request) {
    const r = parseRequest(rangeRequestSchema, request, 'RangeRequest')
    checkRangeRequest(r)
    return r
  },
  send: (server, r, token) => server.range(r, token),
  // a serializable read is served from local state at once: nothing waits on the clock
  held: (r) => !r.serializable,
}

const PUT: Endpoint<PutRequest, PutResponse> = {
  parse(request, limits) {
    const r = parseRequest(putRequestSchema, request, 'PutRequest')
    checkPutRequest(r)
    if (requestSize({ put: r }) > limits.maxRequestBytes) throw etcdError('RequestTooLarge')
    return r
  },
  send: (server, r, token) => server.put(r, token),
  held: HELD,
}

const DELETE_RANGE: Endpoint<DeleteRangeRequest, DeleteRangeResponse> = {
  parse(request, limits) {
    const r = parseRequest(deleteRangeRequestSchema, request, 'DeleteRangeRequest')
    checkDeleteRequest(r)
    if (requestSize({ deleteRange: r }) > limits.maxRequestBytes) throw etcdError('RequestTooLarge')
    return r
  },
  send: (server, r, token) => server.deleteRange(r, token),
  held: HELD,
}

const TXN: Endpoint<TxnRequest, TxnResponse> = {
  parse(request, limits) {
    const r = parseRequest(txnRequestSchema, request, 'TxnRequest')
    checkTxnRequest(r, limits.maxTxnOps)
    // checked after the request itself, to avoid quadratic work on a malformed one (as etcd)
    checkIntervals(r.success)
    checkIntervals(r.failure)
    if (requestSize({ txn: r }) > limits.maxRequestBytes) throw etcdError('RequestTooLarge')
    return r
  },
  send: (server, r, token) => server.txn(r, token),
  held: HELD,
}

const COMPACT: Endpoint<CompactionRequest, CompactionResponse> = {
  parse: (request) => parseRequest(compactionRequestSchema, request, 'CompactionRequest'),
  send: (server, r, token) => server.compact(r, token),
  held: HELD,
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

  /**
   * Parses and checks `request` as `e` says, then sends it to the member with the auth token.
   * Not `async`: it hands back the answer's own promise, which an async wrapper would resolve
   * through one more promise and two more microtask turns per request. A bad request still
   * rejects (never throws), as from an async method, and reaches no member.
   */
  private request<R, T>(e: Endpoint<R, T>, request: unknown): Promise<T> {
    try {
      const r = e.parse(request, this.limits)
      const send = (): Promise<T> => this.tokens.run((t) => e.send(this.server(), r, t))
      return e.held(r) ? whileHeld(this.hold, send) : send()
    } catch (err) {
      return Promise.reject(err)
    }
  }

  /** Gets the keys in a range (etcd `KV.Range`). */
  range(request: Parameters<KVApi['range']>[0]): Promise<RangeResponse> {
    return this.request(RANGE, request)
  }

  /** Puts a key (etcd `KV.Put`). */
  put(request: Parameters<KVApi['put']>[0]): Promise<PutResponse> {
    return this.request(PUT, request)
  }

  /** Deletes a key or range (etcd `KV.DeleteRange`). */
  deleteRange(request: Parameters<KVApi['deleteRange']>[0]): Promise<DeleteRangeResponse> {
    return this.request(DELETE_RANGE, request)
  }

  /** Runs a txn (etcd `KV.Txn`). */
  txn(request: Parameters<KVApi['txn']>[0]): Promise<TxnResponse> {
    return this.request(TXN, request)
  }

  /** Compacts history below a revision (etcd `KV.Compact`). */
  compact(request: Parameters<KVApi['compact']>[0]): Promise<CompactionResponse> {
    return this.request(COMPACT, request)
  }
}
