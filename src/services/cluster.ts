/**
 * The Cluster service (etcd's `v3rpc` ClusterServer): parses each request with zod, checks
 * peer URLs as etcd does, and hands it to the cluster. Membership changes go through Raft
 * as conf changes; the list is served by the member asked.
 *
 * @module
 */
import { z } from 'zod'
import type {
  MemberAddResponse,
  MemberListResponse,
  MemberPromoteResponse,
  MemberRemoveResponse,
  MemberUpdateResponse,
} from '../cluster/messages.js'
import { validateUrls } from '../cluster/membership.js'
import { InvalidArgumentError } from '../errors.js'
import { idInput, parseRequest } from './kv-schema.js'
import type { LeaseIdInput } from './lease-api.js'
import { whileHeld } from '../sim/clock.js'


/** A member id (etcd's uint64) as a canonical decimal string; the Maintenance service's requests name members too. */
export function memberId(v: string | number | bigint): string {
  const b = BigInt(v)
  if (b < 0n || b >= 1n << 64n) throw new InvalidArgumentError('pocket-etcd: invalid request: member id out of uint64 range', 'InvalidArgument', 'ErrInvalidRequest')
  return b.toString()
}

const id = idInput.transform((v) => memberId(v))

/** MemberAddRequest as a caller writes it. */
export const memberAddRequestSchema = z.strictObject({
  peerURLs: z.array(z.string()),
  isLearner: z.boolean().optional().transform((v) => v ?? false),
})
/** MemberRemoveRequest / MemberPromoteRequest as a caller writes them. */
export const memberIdRequestSchema = z.strictObject({ id })
/** MemberUpdateRequest as a caller writes it. */
export const memberUpdateRequestSchema = z.strictObject({ id, peerURLs: z.array(z.string()) })
/** MemberListRequest: empty. */
export const memberListRequestSchema = z.strictObject({}).optional()

/** What the Cluster service needs: the cluster seen through one member (the Store adds members' storage). */
export interface ClusterServer {
  memberAdd(r: { peerURLs: string[]; isLearner: boolean }): Promise<MemberAddResponse>
  memberRemove(id: string): Promise<MemberRemoveResponse>
  memberUpdate(id: string, peerURLs: string[]): Promise<MemberUpdateResponse>
  memberList(): Promise<MemberListResponse>
  memberPromote(id: string): Promise<MemberPromoteResponse>
}

/** etcd's Cluster service (`store.cluster`, `store.member(name).cluster`). */
export interface ClusterApi {
  /** Adds a member, a learner when `isLearner` (etcd `MemberAdd`); it starts at once and catches up from a snapshot. */
  memberAdd(request: { peerURLs: string[]; isLearner?: boolean }): Promise<MemberAddResponse>
  /** Removes a member (etcd `MemberRemove`); the leader may remove itself. */
  memberRemove(request: { id: LeaseIdInput }): Promise<MemberRemoveResponse>
  /** Changes a member's peer URLs (etcd `MemberUpdate`). */
  memberUpdate(request: { id: LeaseIdInput; peerURLs: string[] }): Promise<MemberUpdateResponse>
  /** Lists the members (etcd `MemberList`). */
  memberList(request?: Record<string, never>): Promise<MemberListResponse>
  /** Promotes a learner that caught up with the leader (etcd `MemberPromote`). */
  memberPromote(request: { id: LeaseIdInput }): Promise<MemberPromoteResponse>
}

/** etcd's Cluster service in front of a {@link ClusterServer}. */
export class ClusterService implements ClusterApi {
  constructor(
    private readonly server: () => ClusterServer,
    /** Keeps the host alive while a request is in flight (see `Clock.hold`). */
    private readonly hold: () => () => void = () => () => undefined,
  ) {}

  private held<T>(run: () => Promise<T>): Promise<T> {
    return whileHeld(this.hold, run)
  }

  /** etcd `MemberAdd`: `etcdserver: given member URLs are invalid` for a bad URL. */
  async memberAdd(request: { peerURLs: string[]; isLearner?: boolean }): Promise<MemberAddResponse> {
    const r = parseRequest(memberAddRequestSchema, request, 'MemberAddRequest')
    const peerURLs = validateUrls(r.peerURLs)
    return this.held(() => this.server().memberAdd({ peerURLs, isLearner: r.isLearner }))
  }

  /** etcd `MemberRemove`. */
  async memberRemove(request: { id: LeaseIdInput }): Promise<MemberRemoveResponse> {
    const r = parseRequest(memberIdRequestSchema, request, 'MemberRemoveRequest')
    return this.held(() => this.server().memberRemove(r.id))
  }

  /** etcd `MemberUpdate`. */
  async memberUpdate(request: { id: LeaseIdInput; peerURLs: string[] }): Promise<MemberUpdateResponse> {
    const r = parseRequest(memberUpdateRequestSchema, request, 'MemberUpdateRequest')
    const peerURLs = validateUrls(r.peerURLs)
    return this.held(() => this.server().memberUpdate(r.id, peerURLs))
  }

  /** etcd `MemberList`. */
  async memberList(request?: Record<string, never>): Promise<MemberListResponse> {
    parseRequest(memberListRequestSchema, request, 'MemberListRequest')
    return this.held(() => this.server().memberList())
  }

  /** etcd `MemberPromote`. */
  async memberPromote(request: { id: LeaseIdInput }): Promise<MemberPromoteResponse> {
    const r = parseRequest(memberIdRequestSchema, request, 'MemberPromoteRequest')
    return this.held(() => this.server().memberPromote(r.id))
  }
}
