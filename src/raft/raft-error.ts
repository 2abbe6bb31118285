/**
 * Errors raised by the Raft core. Raft cannot import the library's error hierarchy (it imports
 * nothing outside `raft/`), so it has its own class with the stable codes etcd-io/raft uses.
 *
 * @module
 */

/** The conditions Raft reports to its caller, named after etcd-io/raft's error variables. */
export type RaftErrorCode =
  | 'ErrCompacted'
  | 'ErrSnapOutOfDate'
  | 'ErrUnavailable'
  | 'ErrSnapshotTemporarilyUnavailable'
  | 'ErrProposalDropped'
  | 'ErrStepLocalMsg'
  | 'ErrStepPeerNotFound'
  | 'ErrInvalidConfig'
  | 'ErrInvalidConfChange'
  | 'ErrNotEmptyStorage'
  | 'ErrInvariant'

const MESSAGES: Record<RaftErrorCode, string> = {
  ErrCompacted: 'requested index is unavailable due to compaction',
  ErrSnapOutOfDate: 'requested index is older than the existing snapshot',
  ErrUnavailable: 'requested entry at index is unavailable',
  ErrSnapshotTemporarilyUnavailable: 'snapshot is temporarily unavailable',
  ErrProposalDropped: 'raft proposal dropped',
  ErrStepLocalMsg: 'raft: cannot step raft local message',
  ErrStepPeerNotFound: 'raft: cannot step as peer not found',
  ErrInvalidConfig: 'raft: invalid config',
  ErrInvalidConfChange: 'raft: invalid conf change',
  ErrNotEmptyStorage: "raft: can't bootstrap a nonempty storage",
  ErrInvariant: 'raft: invariant violated',
}

/** An error from the Raft core; `code` is stable for programs, `message` is etcd-io/raft's text. */
export class RaftError extends Error {
  /** A stable identifier such as `ErrProposalDropped`. */
  readonly code: RaftErrorCode

  constructor(code: RaftErrorCode, detail?: string) {
    super(detail === undefined ? MESSAGES[code] : `${MESSAGES[code]}: ${detail}`)
    this.name = 'RaftError'
    this.code = code
  }
}

/** Whether `e` is a {@link RaftError} with the given code. */
export function isRaftError(e: unknown, code: RaftErrorCode): e is RaftError {
  return e instanceof RaftError && e.code === code
}
