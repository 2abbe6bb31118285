/**
 * A {@link KVApi} backed by a real etcd 3.4 server through its grpc-gateway JSON API
 * (`POST /v3/kv/...`). Requests are parsed with pocket-etcd's own zod schemas first, so
 * the reference and the implementation under test see identical normalized requests;
 * responses are turned into pocket-etcd's normalized messages with every default filled.
 *
 * Wire format of etcd 3.4's gateway, as observed: bytes are base64, int64s are decimal
 * strings, enums are names, field names are the proto names (`range_end`,
 * `create_revision`, ...; camelCase is accepted on input too) and default-valued fields
 * are omitted from responses. Errors come back as `{ error, message, code }` with `code`
 * the numeric gRPC status.
 *
 * @module
 */
import type {
  Compare,
  CompactionResponse,
  DeleteRangeRequest,
  DeleteRangeResponse,
  KeyValue,
  PutRequest,
  PutResponse,
  RangeRequest,
  RangeResponse,
  RequestOp,
  ResponseHeader,
  ResponseOp,
  TxnRequest,
  TxnResponse,
} from '../../src/api/messages.js'
import { EMPTY } from '../../src/api/bytes.js'
import { ERRORS, EtcdError, type GrpcCode } from '../../src/errors.js'
import type { KVApi } from '../../src/services/kv-api.js'
import type { LeaseApi, LeaseIdInput, LeaseKeepAliveStream } from '../../src/services/lease-api.js'
import { keepAliveStream } from '../../src/services/lease.js'
import type {
  LeaseGrantResponse,
  LeaseKeepAliveResponse,
  LeaseLeasesResponse,
  LeaseRevokeResponse,
  LeaseTimeToLiveResponse,
} from '../../src/api/messages.js'
import {
  leaseGrantRequestSchema,
  leaseKeepAliveRequestSchema,
  leaseRevokeRequestSchema,
  leaseTimeToLiveRequestSchema,
} from '../../src/services/lease-schema.js'
import {
  compactionRequestSchema,
  deleteRangeRequestSchema,
  parseRequest,
  putRequestSchema,
  rangeRequestSchema,
  txnRequestSchema,
  type CompactionRequestInput,
  type DeleteRangeRequestInput,
  type PutRequestInput,
  type RangeRequestInput,
  type TxnRequestInput,
} from '../../src/services/kv-schema.js'

/** A JSON object as the gateway sends and receives it. */
type Json = { [field: string]: unknown }

/** gRPC status numbers to the names etcd attaches; codes etcd never uses for KV map to Internal. */
const GRPC_CODES: Record<number, GrpcCode> = {
  1: 'Canceled',
  2: 'Unknown',
  3: 'InvalidArgument',
  4: 'DeadlineExceeded',
  5: 'NotFound',
  7: 'PermissionDenied',
  8: 'ResourceExhausted',
  9: 'FailedPrecondition',
  11: 'OutOfRange',
  13: 'Internal',
  14: 'Unavailable',
  15: 'DataLoss',
  16: 'Unauthenticated',
}

const errorsByMessage = new Map<string, (typeof ERRORS)[keyof typeof ERRORS]>(
  Object.values(ERRORS).map((d) => [d.message as string, d]),
)

/**
 * Builds the error for an etcd failure: the catalogue's class and stable code when etcd's
 * message is a known one, a plain {@link EtcdError} otherwise; the message is etcd's verbatim
 * and `grpcCode` is the one etcd sent.
 */
export function etcdErrorFromGateway(message: string, code: number): EtcdError {
  const grpcCode = GRPC_CODES[code] ?? 'Internal'
  const known = errorsByMessage.get(message)
  if (known) return new known.cls(message, grpcCode, known.code)
  return new EtcdError(message, grpcCode, `Grpc${code}`)
}

// ---------------------------------------------------------------- encoding (ours -> JSON)

function b64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')
}

/** Sets `field` only when it differs from the proto default, as a protobuf encoder would. */
function setBytes(out: Json, field: string, v: Uint8Array): void {
  if (v.length > 0) out[field] = b64(v)
}
function setInt(out: Json, field: string, v: number | string): void {
  if (String(v) !== '0') out[field] = String(v)
}
function setBool(out: Json, field: string, v: boolean): void {
  if (v) out[field] = true
}

function encodeRange(r: RangeRequest): Json {
  const out: Json = {}
  setBytes(out, 'key', r.key)
  setBytes(out, 'range_end', r.rangeEnd)
  setInt(out, 'limit', r.limit)
  setInt(out, 'revision', r.revision)
  if (r.sortOrder !== 'NONE') out.sort_order = r.sortOrder
  if (r.sortTarget !== 'KEY') out.sort_target = r.sortTarget
  setBool(out, 'serializable', r.serializable)
  setBool(out, 'keys_only', r.keysOnly)
  setBool(out, 'count_only', r.countOnly)
  setInt(out, 'min_mod_revision', r.minModRevision)
  setInt(out, 'max_mod_revision', r.maxModRevision)
  setInt(out, 'min_create_revision', r.minCreateRevision)
  setInt(out, 'max_create_revision', r.maxCreateRevision)
  return out
}

function encodePut(r: PutRequest): Json {
  const out: Json = {}
  setBytes(out, 'key', r.key)
  setBytes(out, 'value', r.value)
  setInt(out, 'lease', r.lease)
  setBool(out, 'prev_kv', r.prevKv)
  setBool(out, 'ignore_value', r.ignoreValue)
  setBool(out, 'ignore_lease', r.ignoreLease)
  return out
}

function encodeDeleteRange(r: DeleteRangeRequest): Json {
  const out: Json = {}
  setBytes(out, 'key', r.key)
  setBytes(out, 'range_end', r.rangeEnd)
  setBool(out, 'prev_kv', r.prevKv)
  return out
}

/**
 * A compare always carries its target's field, even at the default: the proto's
 * `target_union` is a oneof, and etcd treats an unset VALUE union as "never equal", while
 * every real client (clientv3, etcd3) sets it. Our normalized Compare means "set".
 */
function encodeCompare(c: Compare): Json {
  const out: Json = { result: c.result, target: c.target }
  setBytes(out, 'key', c.key)
  setBytes(out, 'range_end', c.rangeEnd)
  switch (c.target) {
    case 'VERSION':
      out.version = String(c.version)
      break
    case 'CREATE':
      out.create_revision = String(c.createRevision)
      break
    case 'MOD':
      out.mod_revision = String(c.modRevision)
      break
    case 'VALUE':
      out.value = b64(c.value)
      break
    case 'LEASE':
      out.lease = c.lease
      break
  }
  return out
}

function encodeRequestOp(op: RequestOp): Json {
  if ('requestRange' in op) return { request_range: encodeRange(op.requestRange) }
  if ('requestPut' in op) return { request_put: encodePut(op.requestPut) }
  if ('requestDeleteRange' in op) return { request_delete_range: encodeDeleteRange(op.requestDeleteRange) }
  return { request_txn: encodeTxn(op.requestTxn) }
}

function encodeTxn(r: TxnRequest): Json {
  const out: Json = {}
  if (r.compare.length > 0) out.compare = r.compare.map(encodeCompare)
  if (r.success.length > 0) out.success = r.success.map(encodeRequestOp)
  if (r.failure.length > 0) out.failure = r.failure.map(encodeRequestOp)
  return out
}

// ---------------------------------------------------------------- decoding (JSON -> ours)

function fail(what: string, v: unknown): never {
  throw new Error(`etcd gateway: unexpected ${what}: ${JSON.stringify(v)}`)
}

function obj(v: unknown, what: string): Json {
  if (v === undefined || v === null) return {}
  if (typeof v !== 'object' || Array.isArray(v)) fail(what, v)
  return v as Json
}

function arr(v: unknown, what: string): unknown[] {
  if (v === undefined || v === null) return []
  if (!Array.isArray(v)) fail(what, v)
  return v
}

function bytesOf(v: unknown, what: string): Uint8Array {
  if (v === undefined || v === null) return EMPTY
  if (typeof v !== 'string') fail(what, v)
  return new Uint8Array(Buffer.from(v, 'base64'))
}

/** An int64 the gateway sent as a decimal string; it must fit a `number` exactly. */
function numOf(v: unknown, what: string): number {
  if (v === undefined || v === null) return 0
  if (typeof v !== 'string' && typeof v !== 'number') fail(what, v)
  const n = Number(v)
  if (!Number.isSafeInteger(n)) fail(what, v)
  return n
}

function idOf(v: unknown, what: string): string {
  if (v === undefined || v === null) return '0'
  if (typeof v !== 'string' && typeof v !== 'number') fail(what, v)
  return BigInt(v).toString()
}

function boolOf(v: unknown, what: string): boolean {
  if (v === undefined || v === null) return false
  if (typeof v !== 'boolean') fail(what, v)
  return v
}

function decodeHeader(v: unknown): ResponseHeader {
  const h = obj(v, 'header')
  return {
    clusterId: idOf(h.cluster_id, 'header.cluster_id'),
    memberId: idOf(h.member_id, 'header.member_id'),
    revision: numOf(h.revision, 'header.revision'),
    raftTerm: numOf(h.raft_term, 'header.raft_term'),
  }
}

function decodeKv(v: unknown): KeyValue {
  const kv = obj(v, 'kv')
  return {
    key: bytesOf(kv.key, 'kv.key'),
    createRevision: numOf(kv.create_revision, 'kv.create_revision'),
    modRevision: numOf(kv.mod_revision, 'kv.mod_revision'),
    version: numOf(kv.version, 'kv.version'),
    value: bytesOf(kv.value, 'kv.value'),
    lease: idOf(kv.lease, 'kv.lease'),
  }
}

function decodeRange(v: unknown): RangeResponse {
  const r = obj(v, 'RangeResponse')
  return {
    header: decodeHeader(r.header),
    kvs: arr(r.kvs, 'kvs').map(decodeKv),
    more: boolOf(r.more, 'more'),
    count: numOf(r.count, 'count'),
  }
}

function decodePut(v: unknown): PutResponse {
  const r = obj(v, 'PutResponse')
  const out: PutResponse = { header: decodeHeader(r.header) }
  if (r.prev_kv !== undefined && r.prev_kv !== null) out.prevKv = decodeKv(r.prev_kv)
  return out
}

function decodeDeleteRange(v: unknown): DeleteRangeResponse {
  const r = obj(v, 'DeleteRangeResponse')
  return {
    header: decodeHeader(r.header),
    deleted: numOf(r.deleted, 'deleted'),
    prevKvs: arr(r.prev_kvs, 'prev_kvs').map(decodeKv),
  }
}

function decodeResponseOp(v: unknown): ResponseOp {
  const r = obj(v, 'ResponseOp')
  if (r.response_range !== undefined) return { responseRange: decodeRange(r.response_range) }
  if (r.response_put !== undefined) return { responsePut: decodePut(r.response_put) }
  if (r.response_delete_range !== undefined) return { responseDeleteRange: decodeDeleteRange(r.response_delete_range) }
  if (r.response_txn !== undefined) return { responseTxn: decodeTxn(r.response_txn) }
  return fail('ResponseOp', v)
}

function decodeTxn(v: unknown): TxnResponse {
  const r = obj(v, 'TxnResponse')
  return {
    header: decodeHeader(r.header),
    succeeded: boolOf(r.succeeded, 'succeeded'),
    responses: arr(r.responses, 'responses').map(decodeResponseOp),
  }
}

function decodeCompaction(v: unknown): CompactionResponse {
  return { header: decodeHeader(obj(v, 'CompactionResponse').header) }
}

// ---------------------------------------------------------------- the gateway

/** Options of {@link EtcdGateway}. */
export interface EtcdGatewayOptions {
  /** Per-request timeout in ms (default 10 000). */
  timeoutMs?: number
  /** An auth token (from `/v3/auth/authenticate`) sent as the `Authorization` header of every request. */
  token?: string
}

/**
 * etcd's KV service over HTTP, as a {@link KVApi}: the reference side of differential
 * tests. Every method rejects with an {@link EtcdError} carrying etcd's message verbatim
 * when etcd refuses the request, and with a plain `Error` on transport failures.
 */
export class EtcdGateway implements KVApi {
  readonly #base: string
  readonly #timeoutMs: number
  readonly #token: string | undefined

  /** `clientUrl` is the server's client URL, e.g. `http://127.0.0.1:2379`. */
  constructor(clientUrl: string, options: EtcdGatewayOptions = {}) {
    this.#base = clientUrl.replace(/\/+$/, '')
    this.#timeoutMs = options.timeoutMs ?? 10_000
    this.#token = options.token
  }

  /** Posts one JSON request to `/v3/<path>` and returns the parsed JSON answer. */
  async call(path: string, body: Json): Promise<Json> {
    const res = await fetch(`${this.#base}/v3/${path}`, {
      method: 'POST',
      headers: this.#token === undefined ? { 'content-type': 'application/json' } : { 'content-type': 'application/json', authorization: this.#token },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(this.#timeoutMs),
    })
    const text = await res.text()
    let parsed: unknown
    try {
      parsed = JSON.parse(text)
    } catch {
      throw new Error(`etcd gateway: ${path}: HTTP ${res.status}, not JSON: ${text.slice(0, 500)}`)
    }
    const json = obj(parsed, 'body')
    if (typeof json.code === 'number' && json.code !== 0 && (typeof json.message === 'string' || typeof json.error === 'string')) {
      const message = typeof json.message === 'string' ? json.message : String(json.error)
      throw etcdErrorFromGateway(message, json.code)
    }
    if (!res.ok) throw new Error(`etcd gateway: ${path}: HTTP ${res.status}: ${text.slice(0, 500)}`)
    return json
  }

  async range(request: RangeRequestInput): Promise<RangeResponse> {
    const r = parseRequest(rangeRequestSchema, request, 'RangeRequest')
    return decodeRange(await this.call('kv/range', encodeRange(r)))
  }

  async put(request: PutRequestInput): Promise<PutResponse> {
    const r = parseRequest(putRequestSchema, request, 'PutRequest')
    return decodePut(await this.call('kv/put', encodePut(r)))
  }

  async deleteRange(request: DeleteRangeRequestInput): Promise<DeleteRangeResponse> {
    const r = parseRequest(deleteRangeRequestSchema, request, 'DeleteRangeRequest')
    return decodeDeleteRange(await this.call('kv/deleterange', encodeDeleteRange(r)))
  }

  async txn(request: TxnRequestInput): Promise<TxnResponse> {
    const r = parseRequest(txnRequestSchema, request, 'TxnRequest')
    return decodeTxn(await this.call('kv/txn', encodeTxn(r)))
  }

  async compact(request: CompactionRequestInput): Promise<CompactionResponse> {
    const r = parseRequest(compactionRequestSchema, request, 'CompactionRequest')
    const body: Json = {}
    setInt(body, 'revision', r.revision)
    setBool(body, 'physical', r.physical)
    return decodeCompaction(await this.call('kv/compaction', body))
  }
}

// ---------------------------------------------------------------- leases

/**
 * etcd's Lease service over the gateway (`/v3/lease/grant`, `/v3/lease/revoke`,
 * `/v3/lease/keepalive` (a stream: one `{ result }` line per request), `/v3/lease/timetolive`,
 * `/v3/lease/leases`), as a {@link LeaseApi}, with pocket-etcd's normalized messages.
 * A missing lease gives keep-alive `ttl` 0 and time-to-live `ttl` -1, as etcd answers.
 */
export class EtcdLeaseGateway implements LeaseApi {
  constructor(private readonly gateway: EtcdGateway) {}

  async grant(request: { ttl: number; id?: LeaseIdInput }): Promise<LeaseGrantResponse> {
    const r = parseRequest(leaseGrantRequestSchema, request, 'LeaseGrantRequest')
    const body: Json = {}
    setInt(body, 'TTL', r.ttl)
    setInt(body, 'ID', r.id)
    const res = await this.gateway.call('lease/grant', body)
    return { header: decodeHeader(res.header), id: idOf(res.ID, 'ID'), ttl: numOf(res.TTL, 'TTL'), error: typeof res.error === 'string' ? res.error : '' }
  }

  async revoke(request: { id: LeaseIdInput }): Promise<LeaseRevokeResponse> {
    const r = parseRequest(leaseRevokeRequestSchema, request, 'LeaseRevokeRequest')
    const body: Json = {}
    setInt(body, 'ID', r.id)
    return { header: decodeHeader((await this.gateway.call('lease/revoke', body)).header) }
  }

  /** A keep-alive stream over single keep-alive calls. */
  keepAlive(): LeaseKeepAliveStream {
    return keepAliveStream((request) => this.keepAliveOnce(request))
  }

  async keepAliveOnce(request: { id: LeaseIdInput }): Promise<LeaseKeepAliveResponse> {
    const r = parseRequest(leaseKeepAliveRequestSchema, request, 'LeaseKeepAliveRequest')
    const body: Json = {}
    setInt(body, 'ID', r.id)
    const res = obj((await this.gateway.call('lease/keepalive', body)).result, 'result')
    return { header: decodeHeader(res.header), id: idOf(res.ID, 'ID'), ttl: numOf(res.TTL, 'TTL') }
  }

  async timeToLive(request: { id: LeaseIdInput; keys?: boolean }): Promise<LeaseTimeToLiveResponse> {
    const r = parseRequest(leaseTimeToLiveRequestSchema, request, 'LeaseTimeToLiveRequest')
    const body: Json = {}
    setInt(body, 'ID', r.id)
    setBool(body, 'keys', r.keys)
    const res = await this.gateway.call('lease/timetolive', body)
    return {
      header: decodeHeader(res.header),
      id: idOf(res.ID, 'ID'),
      ttl: numOf(res.TTL, 'TTL'),
      grantedTtl: numOf(res.grantedTTL, 'grantedTTL'),
      keys: arr(res.keys, 'keys').map((k) => bytesOf(k, 'keys')),
    }
  }

  async leases(): Promise<LeaseLeasesResponse> {
    const res = await this.gateway.call('lease/leases', {})
    return { header: decodeHeader(res.header), leases: arr(res.leases, 'leases').map((l) => ({ id: idOf(obj(l, 'lease').ID, 'ID') })) }
  }
}
