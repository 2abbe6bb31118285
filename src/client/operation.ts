/**
 * What a txn branch accepts: anything that can describe itself as one etcd RequestOp.
 *
 * @module
 */
import type { ResponseOp } from '../api/messages.js'
import type { RequestOpInput } from '../services/kv-schema.js'

/**
 * One operation of a txn branch (etcd3's `IOperation`). `get`, `getAll`, `put`, `delete`
 * builders and nested `if(...)` builders all implement it, so they can be handed to
 * `ComparatorBuilder.then()` / `.else()` as they are.
 */
export interface Operation {
  /** The store-level request (namespace prefix applied); throws if the builder is incomplete. */
  op(): RequestOpInput
  /**
   * Maps this operation's txn response back into the builder's namespace (strips the prefix
   * from returned keys). Optional: an operation without it gets the store-level response.
   */
  unprefix?(response: ResponseOp): ResponseOp
}
