/**
 * The data types of the pure Raft core, shaped after etcd-io/raft's `raftpb` protobufs so an
 * etcd reader recognises every field. 64-bit ids are decimal strings; indexes and terms are
 * plain numbers (safe up to 2^53, far beyond any log this library will hold).
 *
 * @module
 */

/** A Raft member id: the decimal string of a 64-bit etcd member id (`uint64` in etcd-io/raft). */
export type NodeId = string

/** The absent member id, used for "no leader" and "no vote" (etcd-io/raft's `None`). */
export const NONE: NodeId = '0'

/** What an entry carries: application data or an encoded {@link ConfChange} (`EntryType`). */
export type EntryType = 'Normal' | 'ConfChange'

/** One log entry; `index` and `term` place it in the log, `data` is opaque to Raft. */
export interface Entry {
  term: number
  index: number
  type: EntryType
  data: Uint8Array
}

/** The state a member must persist before sending messages: current term, vote and commit. */
export interface HardState {
  term: number
  vote: NodeId
  commit: number
}

/** The membership a snapshot or the applied log describes: who votes and who only learns. */
export interface ConfState {
  voters: NodeId[]
  learners: NodeId[]
}

/** Where a snapshot sits in the log and the membership as of that point. */
export interface SnapshotMetadata {
  index: number
  term: number
  confState: ConfState
}

/** The application state up to `metadata.index`, replacing the log prefix it covers. */
export interface Snapshot {
  metadata: SnapshotMetadata
  data: Uint8Array
}

/** The single-step membership changes Raft supports (`ConfChangeType`, v1 without joint consensus). */
export type ConfChangeType = 'AddNode' | 'AddLearnerNode' | 'RemoveNode'

/** A membership change, proposed with `proposeConfChange` and applied with `applyConfChange`. */
export interface ConfChange {
  type: ConfChangeType
  nodeId: NodeId
  context: Uint8Array
}

/** Every message type of etcd-io/raft's protocol, local ones (`MsgHup`, `MsgBeat`, ...) included. */
export type MessageType =
  | 'MsgHup'
  | 'MsgBeat'
  | 'MsgProp'
  | 'MsgApp'
  | 'MsgAppResp'
  | 'MsgVote'
  | 'MsgVoteResp'
  | 'MsgSnap'
  | 'MsgHeartbeat'
  | 'MsgHeartbeatResp'
  | 'MsgUnreachable'
  | 'MsgSnapStatus'
  | 'MsgCheckQuorum'
  | 'MsgTransferLeader'
  | 'MsgTimeoutNow'
  | 'MsgReadIndex'
  | 'MsgReadIndexResp'
  | 'MsgPreVote'
  | 'MsgPreVoteResp'

/** One Raft message; fields unused by a type hold their zero value, as in protobuf. */
export interface Message {
  type: MessageType
  to: NodeId
  from: NodeId
  term: number
  logTerm: number
  index: number
  entries: Entry[]
  commit: number
  reject: boolean
  rejectHint: number
  snapshot?: Snapshot
  context: Uint8Array
}

/** The role a member plays (`StateType`). */
export type StateType = 'Follower' | 'Candidate' | 'Leader' | 'PreCandidate'

/** Volatile state worth reporting but never persisted: who leads and our role. */
export interface SoftState {
  lead: NodeId
  raftState: StateType
}

/** A linearizable read point: once `index` is applied, a read for `requestCtx` may be served. */
export interface ReadState {
  index: number
  requestCtx: Uint8Array
}

/**
 * One batch of work for the caller: persist `snapshot`, `entries` and `hardState`, then send
 * `messages`, apply `committedEntries` in order, and acknowledge with `advance`.
 */
export interface Ready {
  softState?: SoftState
  hardState?: HardState
  readStates: ReadState[]
  entries: Entry[]
  snapshot?: Snapshot
  committedEntries: Entry[]
  messages: Message[]
  mustSync: boolean
}

/** A shared empty byte array, for the many fields that default to no bytes. */
export const EMPTY_BYTES: Uint8Array = new Uint8Array(0)

/** Builds a message with every field not given set to its zero value. */
export function makeMessage(fields: Partial<Message> & { type: MessageType }): Message {
  return {
    to: NONE,
    from: NONE,
    term: 0,
    logTerm: 0,
    index: 0,
    entries: [],
    commit: 0,
    reject: false,
    rejectHint: 0,
    context: EMPTY_BYTES,
    ...fields,
  }
}

/** Whether a snapshot carries nothing (index 0), the zero value etcd-io/raft calls `IsEmptySnap`. */
export function isEmptySnap(snap: Snapshot | undefined): boolean {
  return snap === undefined || snap.metadata.index === 0
}

/** Whether a hard state is the zero value (`IsEmptyHardState`). */
export function isEmptyHardState(hs: HardState): boolean {
  return hs.term === 0 && hs.vote === NONE && hs.commit === 0
}

/** Whether two hard states are equal; Ready only reports a hard state that changed. */
export function isHardStateEqual(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit
}

/** Message types that only ever originate locally and must never arrive from a peer. */
export function isLocalMsg(t: MessageType): boolean {
  return t === 'MsgHup' || t === 'MsgBeat' || t === 'MsgUnreachable' || t === 'MsgSnapStatus' || t === 'MsgCheckQuorum'
}

/** Message types that answer a request; a response from an unknown peer is dropped. */
export function isResponseMsg(t: MessageType): boolean {
  return (
    t === 'MsgAppResp' || t === 'MsgVoteResp' || t === 'MsgHeartbeatResp' || t === 'MsgUnreachable' || t === 'MsgPreVoteResp'
  )
}

/** The response type for a vote request type (`voteRespMsgType`). */
export function voteRespMsgType(t: MessageType): MessageType {
  if (t === 'MsgVote') return 'MsgVoteResp'
  if (t === 'MsgPreVote') return 'MsgPreVoteResp'
  throw new TypeError(`not a vote message: ${t}`)
}
