/**
 * The leader's bookkeeping of the membership and each member's progress and votes
 * (etcd-io/raft's `tracker.ProgressTracker`, without joint consensus).
 *
 * @module
 */
import { assert } from './assert.js'
import { Progress } from './progress.js'
import { MajorityConfig } from './quorum.js'
import type { VoteResult } from './quorum.js'
import type { ConfState, NodeId } from './types.js'

/** Orders member ids numerically (they are decimal strings), so iteration is deterministic. */
export function compareNodeIds(a: NodeId, b: NodeId): number {
  if (a.length !== b.length) return a.length - b.length
  return a < b ? -1 : a > b ? 1 : 0
}

/** Membership, progress and votes; voters decide, learners only replicate. */
export class ProgressTracker {
  voters: MajorityConfig = new MajorityConfig([])
  learners: Set<NodeId> = new Set()
  readonly progress = new Map<NodeId, Progress>()
  readonly votes = new Map<NodeId, boolean>()

  constructor(readonly maxInflight: number) {}

  /** The membership as a conf state, ids sorted. */
  confState(): ConfState {
    return {
      voters: [...this.voters.voters].sort(compareNodeIds),
      learners: [...this.learners].sort(compareNodeIds),
    }
  }

  /** Whether the only voter is this one: reads and commits need no round trip. */
  isSingleton(): boolean {
    return this.voters.voters.size === 1
  }

  /** Calls `f` for every member (voters and learners) in id order. */
  visit(f: (id: NodeId, pr: Progress) => void): void {
    const ids = [...this.progress.keys()].sort(compareNodeIds)
    for (const id of ids) f(id, this.progress.get(id) as Progress)
  }

  /** Voter ids in id order. */
  voterIds(): NodeId[] {
    return [...this.voters.voters].sort(compareNodeIds)
  }

  /** Whether a quorum of voters was recently active (CheckQuorum). */
  quorumActive(): boolean {
    const votes = new Map<NodeId, boolean>()
    for (const [id, pr] of this.progress) {
      if (!pr.isLearner) votes.set(id, pr.recentActive)
    }
    return this.voters.voteResult(votes) === 'VoteWon'
  }

  /** The largest index replicated on a quorum of voters. */
  committed(): number {
    return this.voters.committedIndex((id) => this.progress.get(id)?.match)
  }

  /** Clears the votes of the last election. */
  resetVotes(): void {
    this.votes.clear()
  }

  /** Records `id`'s vote, keeping the first vote if it voted twice. */
  recordVote(id: NodeId, granted: boolean): void {
    if (!this.votes.has(id)) this.votes.set(id, granted)
  }

  /** Counts the votes so far. */
  tallyVotes(): { granted: number; rejected: number; result: VoteResult } {
    let granted = 0
    let rejected = 0
    for (const id of this.voters.voters) {
      const v = this.votes.get(id)
      if (v === undefined) continue
      if (v) granted++
      else rejected++
    }
    return { granted, rejected, result: this.voters.voteResult(this.votes) }
  }

  /** Adds or promotes a voter; new members start probing at `next` and count as recently active. */
  addVoter(id: NodeId, next: number): void {
    const pr = this.progress.get(id)
    if (pr !== undefined) {
      if (!pr.isLearner) return
      pr.isLearner = false
      this.learners.delete(id)
    } else {
      this.progress.set(id, this.newProgress(next, false))
    }
    this.voters = new MajorityConfig([...this.voters.voters, id])
  }

  /** Adds a learner, or demotes a voter to one. */
  addLearner(id: NodeId, next: number): void {
    const pr = this.progress.get(id)
    if (pr !== undefined) {
      if (pr.isLearner) return
      pr.isLearner = true
      this.voters = new MajorityConfig([...this.voters.voters].filter((v) => v !== id))
    } else {
      this.progress.set(id, this.newProgress(next, true))
    }
    this.learners.add(id)
  }

  /** Removes a member entirely. */
  remove(id: NodeId): void {
    this.progress.delete(id)
    this.learners.delete(id)
    if (this.voters.voters.has(id)) this.voters = new MajorityConfig([...this.voters.voters].filter((v) => v !== id))
  }

  /** Checks that voters and learners are disjoint and each has progress. */
  checkInvariants(): void {
    for (const id of this.voters.voters) {
      assert(!this.learners.has(id), `${id} is both voter and learner`)
      assert(this.progress.get(id)?.isLearner === false, `voter ${id} lacks voter progress`)
    }
    for (const id of this.learners) assert(this.progress.get(id)?.isLearner === true, `learner ${id} lacks learner progress`)
    assert(this.progress.size === this.voters.voters.size + this.learners.size, 'progress for a non-member')
  }

  private newProgress(next: number, isLearner: boolean): Progress {
    const pr = new Progress(Math.max(next, 1), this.maxInflight, isLearner)
    // A new member counts as active so CheckQuorum does not fire before it could answer.
    pr.recentActive = true
    return pr
  }
}
