/**
 * Request and response messages of etcd's Maintenance service (etcdserverpb `Status*`,
 * `HashKV*`, `Defragment*`, `MoveLeader*`, `Alarm*`), with camelCase fields.
 *
 * @module
 */
import type { ResponseHeader } from '../api/messages.js'
import type { AlarmMember, AlarmType } from './alarms.js'

export type { AlarmMember, AlarmType } from './alarms.js'

/** What an alarm request does (etcd `AlarmRequest.AlarmAction`). */
export type AlarmAction = 'GET' | 'ACTIVATE' | 'DEACTIVATE'

/** etcd `AlarmRequest`; `memberID` '0' with GET lists every member's alarms. */
export interface AlarmRequest {
  action: AlarmAction
  memberID: string
  alarm: AlarmType
}

/** etcd `AlarmResponse`. */
export interface AlarmResponse {
  header: ResponseHeader
  alarms: AlarmMember[]
}

/** etcd `StatusResponse`. */
export interface StatusResponse {
  header: ResponseHeader
  /** The etcd server version this library implements. */
  version: string
  /** Bytes the member's database takes (approximate on disk; the stored bytes in memory). */
  dbSize: number
  /** Bytes of live keys and values in the database (etcd: the size in use, without free pages). */
  dbSizeInUse: number
  /** The leader this member follows, '0' if none. */
  leader: string
  raftIndex: number
  raftTerm: number
  raftAppliedIndex: number
  /** Alarm and health messages of this member (etcd 3.4's `errors`). */
  errors: string[]
  isLearner: boolean
}

/** etcd `HashKVResponse`. */
export interface HashKVResponse {
  header: ResponseHeader
  hash: number
  compactRevision: number
}

/** etcd `DefragmentResponse`. */
export interface DefragmentResponse {
  header: ResponseHeader
}

/** etcd `MoveLeaderResponse`. */
export interface MoveLeaderResponse {
  header: ResponseHeader
}
