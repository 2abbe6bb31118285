/**
 * The pure Raft core: a deterministic state machine in the style of etcd-io/raft. The member
 * layer drives a {@link RawNode} and persists into a {@link MemoryStorage}.
 *
 * @module
 */
export * from './types.js'
export { RaftError, isRaftError } from './raft-error.js'
export type { RaftErrorCode } from './raft-error.js'
export { MemoryStorage, entrySize, limitSize, ENTRY_OVERHEAD } from './storage.js'
export type { Storage, InitialState } from './storage.js'
export { encodeConfChange, decodeConfChange } from './conf-change.js'
export { RawNode } from './raw-node.js'
export type { BasicStatus, Status, ProgressStatus, SnapshotStatus } from './raw-node.js'
export type { Config, CampaignType } from './raft.js'
export { Raft } from './raft.js'
export type { ProgressStateType } from './progress.js'
