/**
 * The Election service's messages and surface (etcd's `v3electionpb.Election` gRPC
 * service), field for field in camelCase.
 *
 * @module
 */
import type { Bytes, KeyValue, ResponseHeader } from '../api/messages.js'
import type { LeaseIdInput } from './lease-api.js'
import type { WaitOptions } from './lock-api.js'

/** v3electionpb.LeaderKey: identifies a leadership; proof of it for proclaim and resign. */
export interface LeaderKey {
  /** The election's name. */
  name: Bytes
  /** The leader's key (`<name>/<lease hex>`). */
  key: Bytes
  /** The create revision of the leader's key. */
  rev: number
  /** The leader's lease id (decimal string). */
  lease: string
}

/** A {@link LeaderKey} as a caller writes it. */
export interface LeaderKeyInput {
  name: string | Uint8Array
  key: string | Uint8Array
  rev: number
  lease: LeaseIdInput
}

/** v3electionpb.CampaignRequest as a caller writes it. */
export interface CampaignRequestInput {
  name: string | Uint8Array
  /** The candidate's lease; 0 or omitted grants a 60 s lease nobody keeps alive (as etcd). */
  lease?: LeaseIdInput
  /** The value the candidate proclaims once elected. */
  value?: string | Uint8Array
}

/** v3electionpb.CampaignResponse. */
export interface CampaignResponse {
  header: ResponseHeader
  leader: LeaderKey
}

/** v3electionpb.ProclaimRequest as a caller writes it. */
export interface ProclaimRequestInput {
  leader: LeaderKeyInput
  value?: string | Uint8Array
}

/** v3electionpb.ProclaimResponse. */
export interface ProclaimResponse {
  header: ResponseHeader
}

/** v3electionpb.LeaderRequest as a caller writes it. */
export interface LeaderRequestInput {
  name: string | Uint8Array
}

/** v3electionpb.LeaderResponse: the leader's key-value. */
export interface LeaderResponse {
  header: ResponseHeader
  kv: KeyValue
}

/** v3electionpb.ResignRequest as a caller writes it. */
export interface ResignRequestInput {
  leader: LeaderKeyInput
}

/** v3electionpb.ResignResponse. */
export interface ResignResponse {
  header: ResponseHeader
}

/** etcd's Election service (v3election). */
export interface ElectionApi {
  /** Waits to become the leader of `name`, then proclaims `value` (etcd `Election.Campaign`). */
  campaign(request: CampaignRequestInput, options?: WaitOptions): Promise<CampaignResponse>
  /** Updates the leader's value; `election: not leader` if `leader` no longer leads (etcd `Election.Proclaim`). */
  proclaim(request: ProclaimRequestInput): Promise<ProclaimResponse>
  /** The current leader; `election: no leader` when there is none (etcd `Election.Leader`). */
  leader(request: LeaderRequestInput): Promise<LeaderResponse>
  /** Streams every leader and proclamation in order (etcd `Election.Observe`); stop by breaking out of the loop or aborting. */
  observe(request: LeaderRequestInput, options?: WaitOptions): AsyncIterable<LeaderResponse>
  /** Gives up leadership (etcd `Election.Resign`). */
  resign(request: ResignRequestInput): Promise<ResignResponse>
}
