/**
 * The Maintenance service (etcd's `v3rpc` MaintenanceServer): status, hash, defragment,
 * leader transfer and alarms, each request parsed with zod and served by one member.
 * `snapshot` (etcd's `Snapshot` stream) belongs here as well and is provided by the
 * durability layer.
 *
 * @module
 */
import { z } from 'zod'
import type {
  AlarmRequest,
  AlarmResponse,
  DefragmentResponse,
  HashKVResponse,
  MoveLeaderResponse,
  StatusResponse,
} from '../maintenance/messages.js'
import { idInput, parseRequest } from './kv-schema.js'
import { memberId } from './cluster.js'
import type { LeaseIdInput } from './lease-api.js'
import { SnapshotStream } from '../snapshot/snapshot.js'
import type { MemberStateSnapshot } from '../member/member.js'
import { whileHeld } from '../sim/clock.js'


const int = z.number().int().refine(Number.isSafeInteger, 'must be a safe integer')

/** AlarmRequest as a caller writes it; defaults: GET, member 0 (all), alarm NONE (all). */
export const alarmRequestSchema = z.strictObject({
  action: z.enum(['GET', 'ACTIVATE', 'DEACTIVATE']).optional().transform((v) => v ?? 'GET'),
  memberID: idInput.optional().transform((v) => (v === undefined ? '0' : memberId(v))),
  alarm: z.enum(['NONE', 'NOSPACE', 'CORRUPT']).optional().transform((v) => v ?? 'NONE'),
})
/** HashKVRequest as a caller writes it. */
export const hashKVRequestSchema = z.strictObject({ revision: int.min(0).optional().transform((v) => v ?? 0) }).optional()
/** MoveLeaderRequest as a caller writes it. */
export const moveLeaderRequestSchema = z.strictObject({ targetID: idInput.transform((v) => memberId(v)) })
/** An empty request (Status, Defragment). */
export const emptyRequestSchema = z.strictObject({}).optional()

/** What the Maintenance service needs from a member. */
export interface MaintenanceServer {
  status(): Promise<StatusResponse>
  hashKV(revision: number): Promise<HashKVResponse>
  defragment(): Promise<DefragmentResponse>
  moveLeader(targetID: string): Promise<MoveLeaderResponse>
  alarm(r: AlarmRequest): Promise<AlarmResponse>
  /** The member's id, written into a snapshot image's header. */
  readonly id: string
  /** The member's name. */
  readonly name: string
  /** The cluster's id. */
  readonly clusterId: string
  /** True once the member stopped (a snapshot read under way then fails with `etcdserver: server stopped`). */
  readonly isStopped: boolean
  /** A consistent read of the member's state buckets at one applied index (for `snapshot`). */
  openStateSnapshot(): Promise<MemberStateSnapshot>
}

/** etcd's Maintenance service (`store.maintenance`, `store.member(name).maintenance`). */
export interface MaintenanceApi {
  /** The member's version, database size, leader, Raft indexes and alarms (etcd `Status`). */
  status(request?: Record<string, never>): Promise<StatusResponse>
  /** A hash of the MVCC history up to `revision`, equal on every member (etcd `HashKV`). */
  hashKV(request?: { revision?: number }): Promise<HashKVResponse>
  /**
   * Reclaims the free backend space of the member that serves it (etcd `Defragment`, which
   * also works member by member): a full-range compaction of a classic-level database; on an
   * in-memory database, the stored records packed into fresh memory (compaction frees a
   * record's memory only with the last record sharing its 4 KiB slab). Data and revisions do
   * not change. Run it on each member (`store.member(name).maintenance`) to reclaim on all.
   */
  defragment(request?: Record<string, never>): Promise<DefragmentResponse>
  /** Hands leadership to `targetID`; must be sent to the leader (etcd `MoveLeader`). */
  moveLeader(request: { targetID: LeaseIdInput }): Promise<MoveLeaderResponse>
  /** Lists, raises or clears alarms (etcd `Alarm`). */
  alarm(request?: { action?: AlarmRequest['action']; memberID?: LeaseIdInput; alarm?: AlarmRequest['alarm'] }): Promise<AlarmResponse>
  /**
   * A snapshot image of the member's state (etcd `Snapshot`): iterate it for chunks, or
   * `await snapshot().bytes()`; restore it with `Store.restore`. Each iteration takes a new
   * consistent image when it starts.
   */
  snapshot(request?: Record<string, never>): SnapshotStream
}

/** etcd's Maintenance service in front of one member. */
export class MaintenanceService implements MaintenanceApi {
  constructor(
    private readonly server: () => MaintenanceServer,
    /** Keeps the host alive while a request is in flight (see `Clock.hold`). */
    private readonly hold: () => () => void = () => () => undefined,
  ) {}

  private held<T>(run: () => Promise<T>): Promise<T> {
    return whileHeld(this.hold, run)
  }

  /** etcd `Status`. */
  async status(request?: Record<string, never>): Promise<StatusResponse> {
    parseRequest(emptyRequestSchema, request, 'StatusRequest')
    return this.held(() => this.server().status())
  }

  /** etcd `HashKV`. */
  async hashKV(request?: { revision?: number }): Promise<HashKVResponse> {
    const r = parseRequest(hashKVRequestSchema, request, 'HashKVRequest')
    return this.held(() => this.server().hashKV(r?.revision ?? 0))
  }

  /** etcd `Defragment`. */
  async defragment(request?: Record<string, never>): Promise<DefragmentResponse> {
    parseRequest(emptyRequestSchema, request, 'DefragmentRequest')
    return this.held(() => this.server().defragment())
  }

  /** etcd `MoveLeader`: `etcdserver: not leader` off the leader, `etcdserver: bad leader transferee` for a learner or unknown id. */
  async moveLeader(request: { targetID: LeaseIdInput }): Promise<MoveLeaderResponse> {
    const r = parseRequest(moveLeaderRequestSchema, request, 'MoveLeaderRequest')
    return this.held(() => this.server().moveLeader(r.targetID))
  }

  /** etcd `Alarm`. */
  async alarm(request?: { action?: AlarmRequest['action']; memberID?: LeaseIdInput; alarm?: AlarmRequest['alarm'] }): Promise<AlarmResponse> {
    const r = parseRequest(alarmRequestSchema, request ?? {}, 'AlarmRequest')
    return this.held(() => this.server().alarm(r))
  }

  /** etcd `Snapshot`: the member is chosen when iteration starts (`etcdserver: server stopped` if it is down). */
  snapshot(request?: Record<string, never>): SnapshotStream {
    parseRequest(emptyRequestSchema, request, 'SnapshotRequest')
    return new SnapshotStream(() => this.server())
  }
}
