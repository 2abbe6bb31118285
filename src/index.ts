/**
 * pocket-etcd: etcd, reimplemented in TypeScript as an embeddable in-process library. One
 * {@link Store} holds a whole replicated etcd cluster inside your process, with etcd's v3
 * API (`store.kv`), the etcd3-style typed layer (`store.get(...)`, `store.put(...)`, ...) and
 * control of time, network faults and crashes (`store.sim`).
 *
 * @module
 */
export { Store } from './store.js'
export type { StoreOptions, StoreEvents, MemberHandle, Database } from './store.js'
export type {
  Message as RaftMessage,
  MessageType as RaftMessageType,
  Entry as RaftEntry,
  EntryType as RaftEntryType,
  Snapshot as RaftSnapshot,
  SnapshotMetadata as RaftSnapshotMetadata,
  ConfState,
  ConfChange,
  ConfChangeType,
} from './raft/index.js'
export type { Event } from './mvcc/index.js'

export {
  EtcdError,
  InvalidArgumentError,
  RevisionError,
  LeaseError,
  MembershipError,
  AuthError,
  UnavailableError,
  StorageError,
  InvariantError,
  ERRORS,
  etcdError,
  isEtcdError,
} from './errors.js'
export type { GrpcCode, ErrorName, ErrorClass } from './errors.js'

export type {
  Bytes,
  ResponseHeader,
  KeyValue,
  SortOrder,
  SortTarget,
  RangeRequest,
  RangeResponse,
  PutRequest,
  PutResponse,
  DeleteRangeRequest,
  DeleteRangeResponse,
  CompareResult,
  CompareTarget,
  Compare,
  RequestOp,
  ResponseOp,
  TxnRequest,
  TxnResponse,
  CompactionRequest,
  CompactionResponse,
} from './api/messages.js'
export { toBytes, toText, compareBytes, prefixEnd } from './api/bytes.js'

export type { KVApi } from './services/kv-api.js'
export type {
  RangeRequestInput,
  PutRequestInput,
  DeleteRangeRequestInput,
  CompareInput,
  TxnRequestInput,
  RequestOpInput,
  CompactionRequestInput,
  TxnInputShape,
} from './services/kv-schema.js'
export {
  rangeRequestSchema,
  putRequestSchema,
  deleteRangeRequestSchema,
  compareSchema,
  txnRequestSchema,
  compactionRequestSchema,
} from './services/kv-schema.js'
export type { KVLimits } from './services/kv.js'
export type { LeaseApi, LeaseIdInput, LeaseKeepAliveStream } from './services/lease-api.js'
export { LeaseService, keepAliveStream } from './services/lease.js'
export { ClusterService } from './services/cluster.js'
export type { ClusterApi, ClusterServer } from './services/cluster.js'
export { MaintenanceService } from './services/maintenance.js'
export type { MaintenanceApi, MaintenanceServer } from './services/maintenance.js'
export type { ClusterMember, MembershipChange } from './cluster/membership.js'
export { MAX_LEARNERS } from './cluster/membership.js'
export type { MemberAddRequest, MemberAddResponse, MemberListResponse, MemberPromoteResponse, MemberRemoveResponse, MemberUpdateResponse } from './cluster/messages.js'
export type { AlarmAction, AlarmMember, AlarmRequest, AlarmResponse, AlarmType, DefragmentResponse, HashKVResponse, MoveLeaderResponse, StatusResponse } from './maintenance/messages.js'
export { ETCD_VERSION } from './member/member.js'
export type { LeaseServer } from './services/lease.js'
export {
  leaseGrantRequestSchema,
  leaseRevokeRequestSchema,
  leaseKeepAliveRequestSchema,
  leaseTimeToLiveRequestSchema,
} from './services/lease-schema.js'
export type { LeaseGrantRequestInput, LeaseTimeToLiveRequestInput } from './services/lease-schema.js'
export type {
  LeaseGrantRequest,
  LeaseGrantResponse,
  LeaseRevokeRequest,
  LeaseRevokeResponse,
  LeaseKeepAliveRequest,
  LeaseKeepAliveResponse,
  LeaseTimeToLiveRequest,
  LeaseTimeToLiveResponse,
  LeaseLeasesResponse,
} from './api/messages.js'
export { Lease, leaseFacade } from './client/lease.js'
export type { LeaseFacade, LeaseOptions, LeaseEvents } from './client/lease.js'
export { MAX_LEASE_TTL } from './lease/lessor.js'
export { DEFAULT_KV_LIMITS } from './services/kv.js'

export * from './client/index.js'
export { WatchBuilder, watchFacade } from './client/watch-builder.js'
export type { WatchFacade } from './client/watch-builder.js'
export { Watcher } from './client/watcher.js'
export type { WatcherEvents, WatchConnector } from './client/watcher.js'
export type { WatchApi, WatchStream, WatchCreateRequestInput } from './services/watch-api.js'
export { watchCreateRequestSchema } from './services/watch-schema.js'
export type { EventType, WatchEvent, WatchFilter, WatchCreateRequest, WatchResponse } from './api/messages.js'

export { Simulation, ManualClock, RealClock, Random, Network } from './sim/index.js'
export type {
  Clock,
  TimerHandle,
  ManualClockOptions,
  RealClockOptions,
  NetworkEvent,
  NetworkEventBase,
  NetworkFaults,
  NetworkOptions,
  NetworkStats,
  DropReason,
  DeliverFn,
  SimulationHost,
} from './sim/index.js'

export { Session, DEFAULT_SESSION_TTL } from './concurrency/session.js'
export type { SessionOptions } from './concurrency/session.js'
export { Mutex } from './concurrency/mutex.js'
export type { LockOptions } from './concurrency/mutex.js'
export { Election } from './concurrency/election.js'
export type { LeaderState, ElectionWaitOptions } from './concurrency/election.js'
export { stm, STMConflictError } from './concurrency/stm.js'
export type { STM, STMOptions, STMResult, Isolation } from './concurrency/stm.js'
export type { ConcurrencyClient } from './concurrency/client.js'
export { ConcurrencyError } from './concurrency/errors.js'
export { LockService, lockRequestSchema, unlockRequestSchema } from './services/lock.js'
export type { LockApi, LockRequestInput, LockResponse, UnlockRequestInput, UnlockResponse, WaitOptions } from './services/lock-api.js'
export { ElectionService } from './services/election.js'
export type {
  ElectionApi,
  LeaderKey,
  LeaderKeyInput,
  CampaignRequestInput,
  CampaignResponse,
  ProclaimRequestInput,
  ProclaimResponse,
  LeaderRequestInput,
  LeaderResponse,
  ResignRequestInput,
  ResignResponse,
} from './services/election-api.js'
export { Lock, lockOn, lockFacade, DEFAULT_LOCK_TTL } from './client/lock.js'
export type { LockFacade } from './client/lock.js'
export { Campaign, electionOn, electionFacade, DEFAULT_ELECTION_TTL } from './client/election.js'
export type { CampaignEvents, LeaderInfo, ElectionFacade } from './client/election.js'

// --- auth ---
export { AuthService } from './services/auth.js'
export type { AuthServer } from './services/auth.js'
export type { AuthApi, AuthHeaderResponse, PermissionInput } from './services/auth-api.js'
export { AuthView } from './services/auth-view.js'
export type { Permission, PermType, AuthRequest, AuthInfo } from './auth/auth-request.js'
export { ROOT_ROLE, ROOT_USER } from './auth/auth-store.js'
export { NO_TOKEN, PasswordCredentials, fixedToken } from './auth/credentials.js'
export type { TokenSource } from './auth/credentials.js'
export type { WatchPermission } from './services/watch.js'

export { SnapshotStream, snapshotStatus, collectSnapshot, SNAPSHOT_CHUNK_BYTES } from './snapshot/snapshot.js'
export type { SnapshotImageSource, SnapshotStatus } from './snapshot/snapshot.js'
export { SNAPSHOT_MAGIC, SNAPSHOT_FORMAT_VERSION } from './snapshot/image.js'
export type { SnapshotHeader } from './snapshot/image.js'
export type { MemberStateSnapshot } from './member/member.js'
