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

/** A key's state at one revision (mvccpb.KeyValue). */
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
