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

/** etcd's Lease service. */
export interface LeaseApi {
  /** Creates a lease (etcd `LeaseGrant`); `id` omitted or 0 lets the server choose. */
  grant(request: { ttl: number; id?: LeaseIdInput }): Promise<LeaseGrantResponse>
  /** Revokes a lease and deletes its keys in one revision (etcd `LeaseRevoke`). */
  revoke(request: { id: LeaseIdInput }): Promise<LeaseRevokeResponse>
  /** Renews a lease once (one round of etcd's `LeaseKeepAlive` stream); `ttl` 0 if it is gone. */
  keepAliveOnce(request: { id: LeaseIdInput }): Promise<LeaseKeepAliveResponse>
  /** A lease's remaining and granted TTL, and optionally its keys (etcd `LeaseTimeToLive`). */
  timeToLive(request: { id: LeaseIdInput; keys?: boolean }): Promise<LeaseTimeToLiveResponse>
  /** Every live lease (etcd `LeaseLeases`). */
  leases(request?: Record<string, never>): Promise<LeaseLeasesResponse>
}
