/**
 * The Lease service's surface (etcd's `Lease` gRPC service), as the typed layer, the
 * concurrency helpers and tests see it.
 *
 * @module
 */
import type {
  LeaseGrantResponse,
  LeaseKeepAliveResponse,
  LeaseLeasesResponse,
  LeaseRevokeResponse,
  LeaseTimeToLiveResponse,
} from '../api/messages.js'

/** A lease id as a caller writes it: a decimal string, a safe integer or a bigint. */
export type LeaseIdInput = string | number | bigint

/**
 * etcd's `LeaseKeepAlive` stream: every `send` renews a lease once and its response comes
 * out of the stream, in the order sent. The stream ends after `close()` once every sent
 * renewal is answered; an error (no leader, timeout, stopped) ends it by throwing from the
 * iterator, as a failed gRPC stream does.
 */
export interface LeaseKeepAliveStream extends AsyncIterable<LeaseKeepAliveResponse> {
  /** Sends one keep-alive request (etcd LeaseKeepAliveRequest). */
  send(request: { id: LeaseIdInput }): void
  /** Half-closes the stream: no more requests; the iterator ends after the pending answers. */
  close(): void
}

/** etcd's Lease service. */
export interface LeaseApi {
  /** Creates a lease (etcd `LeaseGrant`); `id` omitted or 0 lets the server choose. */
  grant(request: { ttl: number; id?: LeaseIdInput }): Promise<LeaseGrantResponse>
  /** Revokes a lease and deletes its keys in one revision (etcd `LeaseRevoke`). */
  revoke(request: { id: LeaseIdInput }): Promise<LeaseRevokeResponse>
  /** Renews a lease once (one round of etcd's `LeaseKeepAlive` stream); `ttl` 0 if it is gone. */
  keepAliveOnce(request: { id: LeaseIdInput }): Promise<LeaseKeepAliveResponse>
  /** Opens a keep-alive stream (etcd's bidirectional `LeaseKeepAlive`). */
  keepAlive(): LeaseKeepAliveStream
  /** A lease's remaining and granted TTL, and optionally its keys (etcd `LeaseTimeToLive`). */
  timeToLive(request: { id: LeaseIdInput; keys?: boolean }): Promise<LeaseTimeToLiveResponse>
  /** Every live lease (etcd `LeaseLeases`). */
  leases(request?: Record<string, never>): Promise<LeaseLeasesResponse>
}
