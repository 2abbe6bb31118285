/**
 * Majority quorum arithmetic (etcd-io/raft's `quorum.MajorityConfig`): which index a majority
 * has acknowledged and whether an election is won, lost or still open.
 *
 * @module
 */
import type { NodeId } from './types.js'

/** The outcome of counting votes (`quorum.VoteResult`). */
export type VoteResult = 'VotePending' | 'VoteLost' | 'VoteWon'

/** A set of voters where any majority decides. */
export class MajorityConfig {
  readonly voters: ReadonlySet<NodeId>

  constructor(voters: Iterable<NodeId>) {
    this.voters = new Set(voters)
  }

  /**
   * The largest index acknowledged by a majority, given each voter's acknowledged index
   * (missing voters count as 0). An empty config commits everything (`MaxUint64` in etcd).
   */
  committedIndex(acked: (id: NodeId) => number | undefined): number {
    const n = this.voters.size
    if (n === 0) return Number.MAX_SAFE_INTEGER
    const idx: number[] = []
    for (const id of this.voters) idx.push(acked(id) ?? 0)
    idx.sort((a, b) => a - b)
    return idx[n - (Math.floor(n / 2) + 1)] as number
  }

  /** Whether `votes` (true = granted) win, lose, or may still win. An empty config wins. */
  voteResult(votes: ReadonlyMap<NodeId, boolean>): VoteResult {
    const n = this.voters.size
    if (n === 0) return 'VoteWon'
    let yes = 0
    let missing = 0
    for (const id of this.voters) {
      const v = votes.get(id)
      if (v === undefined) missing++
      else if (v) yes++
    }
    const q = Math.floor(n / 2) + 1
    if (yes >= q) return 'VoteWon'
    if (yes + missing >= q) return 'VotePending'
    return 'VoteLost'
  }
}
