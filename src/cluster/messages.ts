/**
 * Request and response messages of etcd's Cluster service (etcdserverpb `Member*`), with
 * camelCase fields; ids are decimal strings.
 *
 * @module
 */
import type { ResponseHeader } from '../api/messages.js'
import type { ClusterMember } from './membership.js'

export type { ClusterMember } from './membership.js'

/** etcd `MemberAddRequest`. */
export interface MemberAddRequest {
  peerURLs: string[]
  isLearner: boolean
}

/** etcd `MemberAddResponse`: the new member and the list after the add. */
export interface MemberAddResponse {
  header: ResponseHeader
  member: ClusterMember
  members: ClusterMember[]
}

/** etcd `MemberRemoveResponse`: the list after the removal. */
export interface MemberRemoveResponse {
  header: ResponseHeader
  members: ClusterMember[]
}

/** etcd `MemberUpdateResponse`: the list after the update. */
export interface MemberUpdateResponse {
  header: ResponseHeader
  members: ClusterMember[]
}

/** etcd `MemberListResponse`. */
export interface MemberListResponse {
  header: ResponseHeader
  members: ClusterMember[]
}

/** etcd `MemberPromoteResponse`: the list after the promotion. */
export interface MemberPromoteResponse {
  header: ResponseHeader
  members: ClusterMember[]
}
