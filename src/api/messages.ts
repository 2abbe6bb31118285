/**
 * The request and response objects of etcd's v3 KV API (etcdserverpb, mvccpb), field for
 * field, in camelCase. These are the *normalized* forms: every field present with etcd's
 * proto default, bytes as `Uint8Array`, 64-bit ids as decimal strings. The services parse
 * user input into these once, at the boundary; every inner layer trusts them.
 *
 * @module
 */

/** Raw bytes: keys and values are bytes in etcd. */
export type Bytes = Uint8Array

/** Every response carries one (etcdserverpb.ResponseHeader). */
export interface ResponseHeader {
  /** The cluster's id, a decimal string of a 64-bit integer. */
  clusterId: string
  /** The id of the member that served the request, a decimal string. */
  memberId: string
  /** The store's revision when the request was served (for writes, the new revision). */
  revision: number
  /** The Raft term of the serving member. */
  raftTerm: number
}

/**
 * A key's state at one revision (mvccpb.KeyValue).
 *
 * In a response or a watch event, `key` and `value` are copies: changing them changes
 * nothing in the store. A watch event's key-value is one object for every watcher that
 * receives the event, so treat events as read-only. Like the byte fields a gRPC client
 * decodes, keys and values may be views of a larger shared buffer (one per range response,
 * or a pool for small arrays): read them through their own `byteOffset` and `length`,
 * never their whole `buffer`.
 */
export interface KeyValue {
  key: Bytes
  /** Revision of the last creation of this key (start of its current generation). */
  createRevision: number
  /** Revision of the last modification of this key. */
  modRevision: number
  /** Number of modifications since creation; a delete resets it to 0. */
  version: number
  value: Bytes
  /** Lease attached to the key, `'0'` for none. */
  lease: string
}

/** Sort order of a range (RangeRequest.SortOrder). */
export type SortOrder = 'NONE' | 'ASCEND' | 'DESCEND'
/** What a range sorts by (RangeRequest.SortTarget). */
export type SortTarget = 'KEY' | 'VERSION' | 'CREATE' | 'MOD' | 'VALUE'

/** etcdserverpb.RangeRequest. `rangeEnd` empty means the single key `key`; `[0]` means every key >= `key`. */
export interface RangeRequest {
  key: Bytes
  rangeEnd: Bytes
  limit: number
  revision: number
  sortOrder: SortOrder
  sortTarget: SortTarget
  serializable: boolean
  keysOnly: boolean
  countOnly: boolean
  minModRevision: number
  maxModRevision: number
  minCreateRevision: number
  maxCreateRevision: number
}

/** etcdserverpb.RangeResponse. */
export interface RangeResponse {
  header: ResponseHeader
  kvs: KeyValue[]
  /** True when `limit` cut the result short. */
  more: boolean
  /** Number of keys in the range (before `limit` and the revision filters). */
  count: number
}

/** etcdserverpb.PutRequest. */
export interface PutRequest {
  key: Bytes
  value: Bytes
  lease: string
  prevKv: boolean
  ignoreValue: boolean
  ignoreLease: boolean
}

/** etcdserverpb.PutResponse. */
export interface PutResponse {
  header: ResponseHeader
  prevKv?: KeyValue
}

/** etcdserverpb.DeleteRangeRequest. */
export interface DeleteRangeRequest {
  key: Bytes
  rangeEnd: Bytes
  prevKv: boolean
}

/** etcdserverpb.DeleteRangeResponse. */
export interface DeleteRangeResponse {
  header: ResponseHeader
  deleted: number
  prevKvs: KeyValue[]
}

/** Compare.CompareResult. */
export type CompareResult = 'EQUAL' | 'GREATER' | 'LESS' | 'NOT_EQUAL'
/** Compare.CompareTarget. */
export type CompareTarget = 'VERSION' | 'CREATE' | 'MOD' | 'VALUE' | 'LEASE'

/**
 * etcdserverpb.Compare. Only the field named by `target` is compared; the others keep
 * their defaults (the proto's `target_union`).
 */
export interface Compare {
  result: CompareResult
  target: CompareTarget
  key: Bytes
  rangeEnd: Bytes
  version: number
  createRevision: number
  modRevision: number
  value: Bytes
  lease: string
}

/** etcdserverpb.RequestOp: exactly one of the four. */
export type RequestOp =
  | { requestRange: RangeRequest }
  | { requestPut: PutRequest }
  | { requestDeleteRange: DeleteRangeRequest }
  | { requestTxn: TxnRequest }

/** etcdserverpb.ResponseOp: exactly one of the four, matching the request. */
export type ResponseOp =
  | { responseRange: RangeResponse }
  | { responsePut: PutResponse }
  | { responseDeleteRange: DeleteRangeResponse }
  | { responseTxn: TxnResponse }

/** etcdserverpb.TxnRequest. */
export interface TxnRequest {
  compare: Compare[]
  success: RequestOp[]
  failure: RequestOp[]
}

/** etcdserverpb.TxnResponse. */
export interface TxnResponse {
  header: ResponseHeader
  succeeded: boolean
  responses: ResponseOp[]
}

/** etcdserverpb.CompactionRequest. */
export interface CompactionRequest {
  revision: number
  physical: boolean
}

/** etcdserverpb.CompactionResponse. */
export interface CompactionResponse {
  header: ResponseHeader
}

/** The revision-less header used inside nested txn responses, as etcd fills them. */
export function nestedHeader(revision: number): ResponseHeader {
  return { clusterId: '0', memberId: '0', revision, raftTerm: 0 }
}

// --- Lease (etcdserverpb.Lease*) ---

/** etcdserverpb.LeaseGrantRequest: `id` 0 lets the server choose. */
export interface LeaseGrantRequest {
  /** Requested time to live, in seconds. */
  ttl: number
  /** Requested lease id (decimal string), `'0'` for a server-chosen one. */
  id: string
}

/** etcdserverpb.LeaseGrantResponse. */
export interface LeaseGrantResponse {
  header: ResponseHeader
  id: string
  /** The TTL granted, in seconds (at least the minimum TTL). */
  ttl: number
  error: string
}

/** etcdserverpb.LeaseRevokeRequest. */
export interface LeaseRevokeRequest {
  id: string
}

/** etcdserverpb.LeaseRevokeResponse. */
export interface LeaseRevokeResponse {
  header: ResponseHeader
}

/** etcdserverpb.LeaseKeepAliveRequest. */
export interface LeaseKeepAliveRequest {
  id: string
}

/** etcdserverpb.LeaseKeepAliveResponse: `ttl` 0 means the lease no longer exists. */
export interface LeaseKeepAliveResponse {
  header: ResponseHeader
  id: string
  ttl: number
}

/** etcdserverpb.LeaseTimeToLiveRequest. */
export interface LeaseTimeToLiveRequest {
  id: string
  /** List the keys attached to the lease. */
  keys: boolean
}

/** etcdserverpb.LeaseTimeToLiveResponse: `ttl` -1 when the lease does not exist (or has expired). */
export interface LeaseTimeToLiveResponse {
  header: ResponseHeader
  id: string
  /** Remaining TTL in seconds. */
  ttl: number
  /** The TTL the lease was granted with. */
  grantedTtl: number
  keys: Bytes[]
}

/** etcdserverpb.LeaseLeasesResponse. */
export interface LeaseLeasesResponse {
  header: ResponseHeader
  leases: { id: string }[]
}

// --- Watch (etcdserverpb.Watch*, mvccpb.Event) ---

/** mvccpb.Event.EventType. */
export type EventType = 'PUT' | 'DELETE'

/** mvccpb.Event: one change of one key; for DELETE, `kv` holds the key and the delete's modRevision. */
export interface WatchEvent {
  type: EventType
  kv: KeyValue
  /** The key's previous state, when the watch asked for `prevKv` and there was one. */
  prevKv?: KeyValue
}

/** WatchCreateRequest.FilterType. */
export type WatchFilter = 'NOPUT' | 'NODELETE'

/** etcdserverpb.WatchCreateRequest. */
export interface WatchCreateRequest {
  key: Bytes
  rangeEnd: Bytes
  /** First revision to report (inclusive); 0 means "from the next revision". */
  startRevision: number
  progressNotify: boolean
  filters: WatchFilter[]
  prevKv: boolean
  /** Requested watch id (decimal string), `'0'` for a server-chosen one. */
  watchId: string
  fragment: boolean
}

/** etcdserverpb.WatchResponse. */
export interface WatchResponse {
  header: ResponseHeader
  watchId: string
  created: boolean
  canceled: boolean
  /** Set when the start revision was compacted: the watch is canceled. */
  compactRevision: number
  cancelReason: string
  fragment: boolean
  events: WatchEvent[]
}
