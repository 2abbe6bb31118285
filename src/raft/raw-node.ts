/**
 * The caller-facing handle on a Raft member (etcd-io/raft's `RawNode`): feed it ticks,
 * proposals and messages; take Ready batches of work out; acknowledge them with `advance`.
 * Single-threaded and synchronous, so the member layer (or a test) drives it exactly.
 *
 * @module
 */
import { assert } from './assert.js'
import { encodeConfChange } from './conf-change.js'
import type { ProgressStateType } from './progress.js'
import { Raft } from './raft.js'
import type { Config } from './raft.js'
import { RaftError, isRaftError } from './raft-error.js'
import type { ConfChange, ConfState, Entry, HardState, Message, NodeId, Ready, SoftState } from './types.js'
import { EMPTY_BYTES, NONE, isHardStateEqual, isLocalMsg, isResponseMsg, makeMessage } from './types.js'

/** The leader's view of one member, as reported by {@link RawNode.status}. */
export interface ProgressStatus {
  match: number
  next: number
  state: ProgressStateType
  isLearner: boolean
  recentActive: boolean
  pendingSnapshot: number
  paused: boolean
  inflight: number
}

/** A cheap summary of a member's state (`BasicStatus`). */
export interface BasicStatus {
  id: NodeId
  hardState: HardState
  softState: SoftState
  applied: number
  leadTransferee: NodeId
}

/** The full status (`Status`): the basic one plus, on a leader, every member's progress. */
export interface Status extends BasicStatus {
  /** Only on a leader: member id → replication progress. */
  progress?: Record<NodeId, ProgressStatus>
  /** The membership currently in force. */
  config: ConfState
}

/** The outcome of sending a snapshot, reported back with {@link RawNode.reportSnapshot}. */
export type SnapshotStatus = 'Finish' | 'Failure'

/** The caller's handle on one Raft member. */
export class RawNode {
  /** The state machine; exposed for tests and status, not for mutation. */
  readonly raft: Raft
  private prevSoftState: SoftState
  private prevHardState: HardState

  /** Creates a member from `config`; its log, hard state and membership come from `config.storage`. */
  constructor(config: Config) {
    this.raft = new Raft(config)
    this.prevSoftState = this.raft.softState()
    this.prevHardState = this.raft.hardState()
  }

  /**
   * Bootstraps a brand-new cluster member (etcd's `StartNode` path): on an empty storage,
   * appends one committed `AddNode` ConfChange entry per initial peer at term 1 and applies
   * them, so the member can campaign at once. The first Ready then carries those entries
   * (persist them) and hands them out as committed entries (apply them with
   * `applyConfChange`; re-adding is a no-op). Members added later to a running cluster are
   * not bootstrapped: they start on an empty storage and learn the log from the leader.
   */
  bootstrap(peers: NodeId[]): void {
    if (peers.length === 0) throw new RaftError('ErrInvalidConfig', 'must provide at least one peer to bootstrap')
    if (this.raft.raftLog.storage.lastIndex() !== 0) throw new RaftError('ErrNotEmptyStorage')
    // Nothing is persisted yet: the first Ready must carry a hard state.
    this.prevHardState = { term: 0, vote: NONE, commit: 0 }
    this.raft.becomeFollower(1, NONE)
    const ents: Entry[] = peers.map((id, i) => ({
      term: 1,
      index: i + 1,
      type: 'ConfChange',
      data: encodeConfChange({ type: 'AddNode', nodeId: id, context: EMPTY_BYTES }),
    }))
    this.raft.raftLog.append(ents)
    // Committed but not applied: the application observes every change via committedEntries.
    this.raft.raftLog.committed = ents.length
    for (const id of peers) this.raft.applyConfChange({ type: 'AddNode', nodeId: id, context: EMPTY_BYTES })
  }

  /** Advances logical time by one tick (drives elections and heartbeats). */
  tick(): void {
    this.raft.tick()
  }

  /** Starts an election now (pre-vote first if enabled), as if the election timeout had passed. */
  campaign(): void {
    this.raft.step(makeMessage({ type: 'MsgHup', from: this.raft.id }))
  }

  /**
   * Proposes `data` for the log. Throws `RaftError` `ErrProposalDropped` when it cannot be
   * accepted here: no known leader, forwarding disabled, or a leadership transfer in progress.
   * Acceptance is not commitment: a proposal may still be lost and must be retried by the caller.
   */
  propose(data: Uint8Array): void {
    this.raft.step(
      makeMessage({ type: 'MsgProp', from: this.raft.id, entries: [{ term: 0, index: 0, type: 'Normal', data }] }),
    )
  }

  /**
   * Proposes several entries in one message (etcd-io/raft's `MsgProp` carries many): the
   * leader appends them together and sends them to its followers in one round, instead of
   * one append and one round of messages per entry. All are accepted or none: throws like
   * {@link propose}. An empty list proposes nothing.
   */
  proposeAll(data: readonly Uint8Array[]): void {
    if (data.length === 0) return
    this.raft.step(
      makeMessage({ type: 'MsgProp', from: this.raft.id, entries: data.map((d) => ({ term: 0, index: 0, type: 'Normal' as const, data: d })) }),
    )
  }

  /** Proposes a membership change; throws like {@link propose}. */
  proposeConfChange(cc: ConfChange): void {
    this.raft.step(
      makeMessage({
        type: 'MsgProp',
        from: this.raft.id,
        entries: [{ term: 0, index: 0, type: 'ConfChange', data: encodeConfChange(cc) }],
      }),
    )
  }

  /**
   * Applies a committed membership change; call it when a ConfChange entry comes out of
   * `committedEntries`. Returns the membership now in force, for the next snapshot.
   */
  applyConfChange(cc: ConfChange): ConfState {
    return this.raft.applyConfChange(cc)
  }

  /**
   * Steps a message received from a peer. Throws `ErrStepLocalMsg` for local-only types and
   * `ErrStepPeerNotFound` for a response from a non-member. A forwarded proposal this member
   * cannot accept is dropped silently; its proposer notices by never seeing it commit.
   */
  step(m: Message): void {
    if (isLocalMsg(m.type)) throw new RaftError('ErrStepLocalMsg')
    if (!this.raft.trk.progress.has(m.from) && isResponseMsg(m.type)) throw new RaftError('ErrStepPeerNotFound')
    try {
      this.raft.step(m)
    } catch (e) {
      if (isRaftError(e, 'ErrProposalDropped')) return
      throw e
    }
  }

  /**
   * Requests a linearizable read point; `ctx` identifies the request (it must be unique among
   * pending reads). The answer arrives as a {@link Ready.readStates} entry with the same ctx.
   */
  readIndex(ctx: Uint8Array): void {
    this.raft.step(
      makeMessage({ type: 'MsgReadIndex', from: this.raft.id, entries: [{ term: 0, index: 0, type: 'Normal', data: ctx }] }),
    )
  }

  /** Asks the leader to hand leadership to `to` (any member may ask; followers forward it). */
  transferLeader(to: NodeId): void {
    this.raft.step(makeMessage({ type: 'MsgTransferLeader', from: to }))
  }

  /** Tells the leader that `id` could not be reached, so it stops streaming and probes. */
  reportUnreachable(id: NodeId): void {
    this.raft.step(makeMessage({ type: 'MsgUnreachable', from: id }))
  }

  /** Tells the leader how sending a snapshot to `id` ended. */
  reportSnapshot(id: NodeId, status: SnapshotStatus): void {
    this.raft.step(makeMessage({ type: 'MsgSnapStatus', from: id, reject: status === 'Failure' }))
  }

  /** Whether {@link ready} would return any work. */
  hasReady(): boolean {
    const r = this.raft
    const ss = r.softState()
    if (ss.lead !== this.prevSoftState.lead || ss.raftState !== this.prevSoftState.raftState) return true
    const hs = r.hardState()
    if (!isHardStateEqual(hs, this.prevHardState)) return true
    if (r.raftLog.hasPendingSnapshot()) return true
    if (r.msgs.length > 0 || r.raftLog.unstable.entries.length > 0 || r.raftLog.hasNextEnts()) return true
    return r.readStates.length > 0
  }

  /**
   * Takes the pending work. The caller must persist `snapshot`, `entries` and `hardState`
   * before sending `messages`, then apply `committedEntries` in order, then call `advance(rd)`.
   */
  ready(): Ready {
    const r = this.raft
    const ss = r.softState()
    const hs = r.hardState()
    const entries = r.raftLog.unstableEntries()
    const rd: Ready = {
      readStates: r.readStates,
      entries,
      committedEntries: r.raftLog.nextEnts(),
      messages: r.msgs,
      mustSync: entries.length > 0 || hs.vote !== this.prevHardState.vote || hs.term !== this.prevHardState.term,
    }
    if (ss.lead !== this.prevSoftState.lead || ss.raftState !== this.prevSoftState.raftState) {
      rd.softState = ss
      this.prevSoftState = ss
    }
    if (!isHardStateEqual(hs, this.prevHardState)) {
      rd.hardState = hs
      this.prevHardState = hs
    }
    const snap = r.raftLog.unstable.snapshot
    if (snap !== undefined) rd.snapshot = snap
    r.msgs = []
    r.readStates = []
    return rd
  }

  /** Acknowledges a Ready: its entries and snapshot are persisted and its committed entries applied. */
  advance(rd: Ready): void {
    let applied = 0
    const lastCommitted = rd.committedEntries[rd.committedEntries.length - 1]
    if (lastCommitted !== undefined) applied = lastCommitted.index
    else if (rd.snapshot !== undefined) applied = rd.snapshot.metadata.index
    assert(applied === 0 || applied >= this.raft.raftLog.applied, 'advance with an older Ready')
    this.raft.advance(applied, rd.entries[rd.entries.length - 1], rd.snapshot?.metadata.index)
  }

  /** A cheap status: ids, hard and soft state, applied index. */
  basicStatus(): BasicStatus {
    const r = this.raft
    return {
      id: r.id,
      hardState: r.hardState(),
      softState: r.softState(),
      applied: r.raftLog.applied,
      leadTransferee: r.leadTransferee,
    }
  }

  /** The full status, including every member's progress when this member leads. */
  status(): Status {
    const s: Status = { ...this.basicStatus(), config: this.raft.trk.confState() }
    if (this.raft.state === 'Leader') {
      const progress: Record<NodeId, ProgressStatus> = {}
      this.raft.trk.visit((id, pr) => {
        progress[id] = {
          match: pr.match,
          next: pr.next,
          state: pr.state,
          isLearner: pr.isLearner,
          recentActive: pr.recentActive,
          pendingSnapshot: pr.pendingSnapshot,
          paused: pr.isPaused(),
          inflight: pr.inflights.count(),
        }
      })
      s.progress = progress
    }
    return s
  }
}
