/**
 * The KV service's surface (etcd's `KV` gRPC service), as the typed layer, tests and the
 * `Store` see it. Inputs are the caller's forms (see `kv-schema.ts`); outputs are etcd's
 * normalized response messages.
 *
 * @module
 */
import type {
  CompactionResponse,
  DeleteRangeResponse,
  PutResponse,
  RangeResponse,
  TxnResponse,
} from '../api/messages.js'
import type {
  CompactionRequestInput,
  DeleteRangeRequestInput,
  PutRequestInput,
  RangeRequestInput,
  TxnRequestInput,
} from './kv-schema.js'

/** etcd's KV service: Range, Put, DeleteRange, Txn, Compact. */
export interface KVApi {
  /** Gets the keys in a range (etcd `KV.Range`). */
  range(request: RangeRequestInput): Promise<RangeResponse>
  /** Puts a key (etcd `KV.Put`); bumps the revision. */
  put(request: PutRequestInput): Promise<PutResponse>
  /** Deletes a key or range (etcd `KV.DeleteRange`); bumps the revision when something is deleted. */
  deleteRange(request: DeleteRangeRequestInput): Promise<DeleteRangeResponse>
  /** Runs compares, then one of two branches, atomically in one revision (etcd `KV.Txn`). */
  txn(request: TxnRequestInput): Promise<TxnResponse>
  /** Drops history below a revision (etcd `KV.Compact`). */
  compact(request: CompactionRequestInput): Promise<CompactionResponse>
}
