/**
 * The Lock service's messages and surface (etcd's `v3lockpb.Lock` gRPC service), field for
 * field in camelCase.
 *
 * @module
 */
import type { Bytes, ResponseHeader } from '../api/messages.js'
import type { LeaseIdInput } from './lease-api.js'

/** v3lockpb.LockRequest as a caller writes it. */
export interface LockRequestInput {
  /** The lock's name: its keys live under `<name>/`. */
  name: string | Uint8Array
  /** The lease the lock key is attached to; the lock is released when it expires. 0 or omitted grants a 60 s lease nobody keeps alive (as etcd). */
  lease?: LeaseIdInput
}

/** v3lockpb.LockResponse. */
export interface LockResponse {
  header: ResponseHeader
  /** The key that holds the lock (`<name>/<lease hex>`); pass it to `unlock`. */
  key: Bytes
}

/** v3lockpb.UnlockRequest as a caller writes it. */
export interface UnlockRequestInput {
  /** The key `lock` returned. */
  key: string | Uint8Array
}

/** v3lockpb.UnlockResponse. */
export interface UnlockResponse {
  header: ResponseHeader
}

/** Call options of a request that may wait (etcd's request context). */
export interface WaitOptions {
  /** Stops waiting when aborted: the request rejects and leaves nothing behind. */
  signal?: AbortSignal
}

/** etcd's Lock service (v3lock). */
export interface LockApi {
  /** Acquires the named lock, waiting for earlier holders to release it (etcd `Lock.Lock`). */
  lock(request: LockRequestInput, options?: WaitOptions): Promise<LockResponse>
  /** Releases a lock by deleting its key (etcd `Lock.Unlock`). */
  unlock(request: UnlockRequestInput): Promise<UnlockResponse>
}
