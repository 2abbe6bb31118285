/**
 * The requests a member proposes through Raft (etcd's `InternalRaftRequest`): one write or
 * state change, tagged with who proposed it so that the proposer can answer its caller once
 * the entry is applied.
 *
 * @module
 */
import type { AlarmRequest } from '../maintenance/messages.js'
import type { AuthRequest } from '../auth/auth-request.js'
import type { LeaseCheckpoint } from '../lease/lessor.js'
import type { CompactionRequest, DeleteRangeRequest, LeaseGrantRequest, LeaseRevokeRequest, PutRequest, TxnRequest } from '../api/messages.js'

/** Identifies a proposal: the proposing member and a request id unique within it. */
export interface RequestHeader {
  /** The proposing member's id. */
  memberId: string
  /** Unique per proposal of that member (incarnation and counter). */
  id: string
  /** The sender's user name when it sent a valid token (etcd `RequestHeader.username`). */
  username?: string
  /** The auth revision the sender's token was checked at; absent or 0: no credentials (etcd `auth_revision`). */
  authRevision?: number
}

/** The state-machine operations a Raft entry can carry. */
export type InternalRequestBody =
  | { put: PutRequest }
  | { deleteRange: DeleteRangeRequest }
  | { txn: TxnRequest }
  | { compaction: CompactionRequest }
  /** `id` is never '0': the proposing member chose one (etcd's LeaseGrant picks it before proposing). */
  | { leaseGrant: LeaseGrantRequest }
  | { leaseRevoke: LeaseRevokeRequest }
  /** User, role and auth management, and authenticate (etcd's `Auth*` requests). */
  | { auth: AuthRequest }
  /** Raises, clears or lists alarms (etcd `AlarmRequest` through Raft). */
  | { alarm: AlarmRequest }
  /** Changes a member's peer URLs (etcd's ConfChangeUpdateNode, a normal entry here). */
  | { memberUpdate: { id: string; peerURLs: string[] } }
  /** Records leases' remaining TTLs on every member, proposed by the primary lessor (etcd `LeaseCheckpointRequest`). */
  | { leaseCheckpoint: { checkpoints: LeaseCheckpoint[] } }

/** One proposed operation with its header (etcd `InternalRaftRequest`). */
export type InternalRequest = { header: RequestHeader } & InternalRequestBody
