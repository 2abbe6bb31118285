/**
 * The errors of etcd's concurrency recipes (`clientv3/concurrency`) and of the v3lock and
 * v3election services, with etcd's messages verbatim.
 *
 * @module
 */
import { EtcdError } from '../errors.js'

/**
 * A lock, election or STM failure. etcd sends these over gRPC with status code `Unknown`
 * (they are plain Go errors); our {@link GrpcCode} has no `Unknown`, so they carry
 * `FailedPrecondition`, the closest code. `code` names etcd's Go variable.
 */
export class ConcurrencyError extends EtcdError {}

/** `election: not leader` (etcd's `concurrency.ErrElectionNotLeader`): proclaim by a candidate that does not lead. */
export function errElectionNotLeader(): ConcurrencyError {
  return new ConcurrencyError('election: not leader', 'FailedPrecondition', 'ErrElectionNotLeader')
}

/** `election: no leader` (etcd's `concurrency.ErrElectionNoLeader`): nobody leads the election. */
export function errElectionNoLeader(): ConcurrencyError {
  return new ConcurrencyError('election: no leader', 'FailedPrecondition', 'ErrElectionNoLeader')
}

/** `mutex: Locked by another session` (etcd's `concurrency.ErrLocked`): `tryLock` found the mutex held. */
export function errLocked(): ConcurrencyError {
  return new ConcurrencyError('mutex: Locked by another session', 'FailedPrecondition', 'ErrLocked')
}

/** `mutex: session is expired` (etcd's `concurrency.ErrSessionExpired`): the waiter's key vanished with its lease. */
export function errSessionExpired(): ConcurrencyError {
  return new ConcurrencyError('mutex: session is expired', 'FailedPrecondition', 'ErrSessionExpired')
}

/** `"leader" field must be provided` (etcd's `v3election.ErrMissingLeaderKey`). */
export function errMissingLeaderKey(): ConcurrencyError {
  return new ConcurrencyError('"leader" field must be provided', 'InvalidArgument', 'ErrMissingLeaderKey')
}

/** `lost watcher waiting for delete` (etcd's `waitDelete`, key.go): a watch ended without the awaited delete. */
export function errLostWatcher(): ConcurrencyError {
  return new ConcurrencyError('lost watcher waiting for delete', 'Unavailable', 'ErrLostWatcher')
}

/** `context canceled` (Go's `context.Canceled`): the caller's AbortSignal fired. */
export function errCanceled(reason?: unknown): ConcurrencyError {
  return new ConcurrencyError('context canceled', 'Canceled', 'ErrCanceled', reason === undefined ? undefined : { cause: reason })
}
