/**
 * The Raft state machine (etcd-io/raft's `raft`): elections with PreVote and CheckQuorum, log
 * replication with flow control, ReadIndex, snapshots, single-step membership changes and
 * leader transfer. It is stepped with messages and ticks and only ever queues outgoing
 * messages and log changes; the {@link RawNode} hands those to the caller as a Ready.
 *
 * @module
 */
import { assert } from './assert.js'
import { RaftLog } from './log.js'
import { RaftError } from './raft-error.js'
import { ReadOnly } from './read-only.js'
import type { Storage } from './storage.js'
import { ProgressTracker } from './tracker.js'
import type {
  ConfChange,
  ConfState,
  Entry,
  HardState,
  Message,
  MessageType,
  NodeId,
  ReadState,
  Snapshot,
  SoftState,
  StateType,
} from './types.js'
import { EMPTY_BYTES, NONE, isEmptyHardState, isEmptySnap, makeMessage, voteRespMsgType } from './types.js'
import { decodeConfChange } from './conf-change.js'

/** Configuration of one Raft member; only `id`, `storage`, the ticks and `random` are required. */
export interface Config {
  /** This member's id; never {@link NONE}. */
  id: NodeId
  /** Where the stable log, hard state and snapshot are read from. */
  storage: Storage
  /** Ticks without hearing from a leader before campaigning (randomized to [n, 2n)). */
  electionTick: number
  /** Ticks between leader heartbeats; must be below `electionTick`. */
  heartbeatTick: number
  /** The last applied index when restarting, so applied entries are not handed out again. */
  applied?: number
  /** Byte limit of entries in one MsgApp (default 1 MiB; at least one entry is always sent). */
  maxSizePerMsg?: number
  /** How many MsgApp may be in flight to one follower in replicate state (default 256). */
  maxInflightMsgs?: number
  /** Leader steps down without a quorum's contact in an election timeout; enables leader lease. */
  checkQuorum?: boolean
  /** Run a pre-election so a partitioned member rejoining does not disrupt the term. */
  preVote?: boolean
  /** Returns an integer in [0, n); the caller seeds it, so runs are reproducible. */
  random: (n: number) => number
  /** Followers drop proposals instead of forwarding them to the leader. */
  disableProposalForwarding?: boolean
}

/** How an election was started (`CampaignType`). */
export type CampaignType = 'CampaignPreElection' | 'CampaignElection' | 'CampaignTransfer'

const CAMPAIGN_TRANSFER = new Uint8Array([...'CampaignTransfer'].map((c) => c.charCodeAt(0)))

function isTransferContext(ctx: Uint8Array): boolean {
  if (ctx.byteLength !== CAMPAIGN_TRANSFER.byteLength) return false
  for (let i = 0; i < ctx.byteLength; i++) if (ctx[i] !== CAMPAIGN_TRANSFER[i]) return false
  return true
}

const DEFAULT_MAX_SIZE_PER_MSG = 1024 * 1024
const DEFAULT_MAX_INFLIGHT = 256

/** The Raft state machine of one member. Use it through {@link RawNode}. */
export class Raft {
  readonly id: NodeId
  term = 0
  vote: NodeId = NONE
  readStates: ReadState[] = []
  readonly raftLog: RaftLog
  readonly trk: ProgressTracker
  state: StateType = 'Follower'
  isLearner = false
  msgs: Message[] = []
  lead: NodeId = NONE
  /** The member a leadership transfer goes to, or NONE. */
  leadTransferee: NodeId = NONE
  /** Index of the latest conf change proposed; a new one waits until this is applied. */
  pendingConfIndex = 0
  readOnly = new ReadOnly()
  electionElapsed = 0
  heartbeatElapsed = 0
  readonly checkQuorum: boolean
  readonly preVote: boolean
  readonly heartbeatTimeout: number
  readonly electionTimeout: number
  randomizedElectionTimeout = 0
  readonly disableProposalForwarding: boolean
  private readonly maxMsgSize: number
  private readonly random: (n: number) => number
  private pendingReadIndexMessages: Message[] = []

  constructor(c: Config) {
    if (c.id === NONE) throw new RaftError('ErrInvalidConfig', 'cannot use none as id')
    if (c.heartbeatTick <= 0) throw new RaftError('ErrInvalidConfig', 'heartbeat tick must be greater than 0')
    if (c.electionTick <= c.heartbeatTick) throw new RaftError('ErrInvalidConfig', 'election tick must be greater than heartbeat tick')
    const maxInflight = c.maxInflightMsgs ?? DEFAULT_MAX_INFLIGHT
    if (maxInflight <= 0) throw new RaftError('ErrInvalidConfig', 'max inflight messages must be greater than 0')
    this.id = c.id
    this.raftLog = new RaftLog(c.storage)
    this.trk = new ProgressTracker(maxInflight)
    this.maxMsgSize = c.maxSizePerMsg ?? DEFAULT_MAX_SIZE_PER_MSG
    this.checkQuorum = c.checkQuorum ?? false
    this.preVote = c.preVote ?? false
    this.heartbeatTimeout = c.heartbeatTick
    this.electionTimeout = c.electionTick
    this.disableProposalForwarding = c.disableProposalForwarding ?? false
    this.random = c.random

    const { hardState, confState } = c.storage.initialState()
    this.restoreConfState(confState)
    if (!isEmptyHardState(hardState)) this.loadState(hardState)
    if (c.applied !== undefined && c.applied > 0) this.raftLog.appliedTo(c.applied)
    this.becomeFollower(this.term, NONE)
  }

  // ---- state accessors -------------------------------------------------------------------

  /** Whether a leader exists as far as we know. */
  hasLeader(): boolean {
    return this.lead !== NONE
  }

  /** The volatile state reported in Ready. */
  softState(): SoftState {
    return { lead: this.lead, raftState: this.state }
  }

  /** The state to persist. */
  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.raftLog.committed }
  }

  private loadState(hs: HardState): void {
    const last = this.raftLog.lastIndex()
    assert(
      hs.commit >= this.raftLog.committed && hs.commit <= last,
      `hs.commit ${hs.commit} is out of range [${this.raftLog.committed}, ${last}]`,
    )
    this.raftLog.committed = hs.commit
    this.term = hs.term
    this.vote = hs.vote
  }

  /** Whether this member may campaign: it is a voter and not waiting on a snapshot. */
  promotable(): boolean {
    const pr = this.trk.progress.get(this.id)
    return pr !== undefined && !pr.isLearner && !this.raftLog.hasPendingSnapshot()
  }

  private pastElectionTimeout(): boolean {
    return this.electionElapsed >= this.randomizedElectionTimeout
  }

  private resetRandomizedElectionTimeout(): void {
    const r = this.random(this.electionTimeout)
    assert(Number.isInteger(r) && r >= 0 && r < this.electionTimeout, `random(${this.electionTimeout}) returned ${r}`)
    this.randomizedElectionTimeout = this.electionTimeout + r
  }

  // ---- sending -----------------------------------------------------------------------------

  /** Queues a message, stamping `from` and (except for votes and forwarded requests) our term. */
  private send(m: Message): void {
    m.from = this.id
    if (m.type === 'MsgVote' || m.type === 'MsgVoteResp' || m.type === 'MsgPreVote' || m.type === 'MsgPreVoteResp') {
      // Vote messages carry the term they are for, which is not always ours (pre-votes).
      assert(m.term !== 0, `term should be set when sending ${m.type}`)
    } else {
      assert(m.term === 0, `term should not be set when sending ${m.type} (was ${m.term})`)
      // Proposals and read requests forwarded to the leader are local messages: no term.
      if (m.type !== 'MsgProp' && m.type !== 'MsgReadIndex') m.term = this.term
    }
    this.msgs.push(m)
  }

  private sendAppend(to: NodeId): void {
    this.maybeSendAppend(to, true)
  }

  /**
   * Sends a MsgApp with new entries (or an empty one if `sendIfEmpty`), or a snapshot if the
   * entries it needs are compacted; returns whether a message was sent.
   */
  private maybeSendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.trk.progress.get(to)
    if (pr === undefined || pr.isPaused()) return false
    const prevIndex = pr.next - 1
    const prevTerm = this.raftLog.maybeTerm(prevIndex)
    const ents = this.raftLog.entries(pr.next, this.maxMsgSize)
    if (ents !== undefined && ents.length === 0 && !sendIfEmpty) return false

    if (prevTerm === undefined || ents === undefined) {
      // The entries the follower needs are compacted: send a snapshot, but only to a member
      // we have heard from lately, since a snapshot is expensive.
      if (!pr.recentActive) return false
      const snapshot = this.raftLog.snapshot()
      assert(!isEmptySnap(snapshot), 'need non-empty snapshot')
      pr.becomeSnapshot(snapshot.metadata.index)
      this.send(makeMessage({ type: 'MsgSnap', to, snapshot }))
      return true
    }

    const last = ents[ents.length - 1]
    if (last !== undefined) {
      switch (pr.state) {
        case 'Replicate':
          pr.optimisticUpdate(last.index)
          pr.inflights.add(last.index)
          break
        case 'Probe':
          pr.probeSent = true
          break
        case 'Snapshot':
          assert(false, `${this.id} is sending append in unhandled state Snapshot`)
      }
    }
    this.send(
      makeMessage({ type: 'MsgApp', to, index: prevIndex, logTerm: prevTerm, entries: ents, commit: this.raftLog.committed }),
    )
    return true
  }

  private sendHeartbeat(to: NodeId, ctx: Uint8Array): void {
    // A follower may not have all committed entries yet; never tell it to commit past its match.
    const match = this.trk.progress.get(to)?.match ?? 0
    const commit = Math.min(match, this.raftLog.committed)
    this.send(makeMessage({ type: 'MsgHeartbeat', to, commit, context: ctx }))
  }

  /** Sends MsgApp to every other member. */
  private bcastAppend(): void {
    this.trk.visit((id) => {
      if (id !== this.id) this.sendAppend(id)
    })
  }

  /** Sends heartbeats, piggybacking the newest pending read's context. */
  private bcastHeartbeat(): void {
    this.bcastHeartbeatWithCtx(this.readOnly.lastPendingRequestCtx() ?? EMPTY_BYTES)
  }

  private bcastHeartbeatWithCtx(ctx: Uint8Array): void {
    this.trk.visit((id) => {
      if (id !== this.id) this.sendHeartbeat(id, ctx)
    })
  }

  // ---- commit and append -------------------------------------------------------------------

  /** Advances the commit index to what a quorum has; only entries of our term commit directly. */
  private maybeCommit(): boolean {
    return this.raftLog.maybeCommit(this.trk.committed(), this.term)
  }

  /** Appends entries as leader, stamping term and index, and counts our own acknowledgement. */
  private appendEntry(es: Entry[]): void {
    let li = this.raftLog.lastIndex()
    for (const e of es) {
      e.term = this.term
      e.index = ++li
    }
    li = this.raftLog.append(es)
    this.trk.progress.get(this.id)?.maybeUpdate(li)
    this.maybeCommit()
  }

  // ---- state transitions -------------------------------------------------------------------

  private reset(term: number): void {
    if (this.term !== term) {
      this.term = term
      this.vote = NONE
    }
    this.lead = NONE
    this.electionElapsed = 0
    this.heartbeatElapsed = 0
    this.resetRandomizedElectionTimeout()
    this.abortLeaderTransfer()
    this.trk.resetVotes()
    const last = this.raftLog.lastIndex()
    this.trk.visit((id, pr) => {
      pr.becomeProbe()
      pr.match = id === this.id ? last : 0
      pr.next = last + 1
      pr.recentActive = false
    })
    this.pendingConfIndex = 0
    this.readOnly = new ReadOnly()
    this.pendingReadIndexMessages = []
  }

  /** Becomes a follower of `lead` (NONE when unknown) in `term`. */
  becomeFollower(term: number, lead: NodeId): void {
    this.reset(term)
    this.lead = lead
    this.state = 'Follower'
  }

  /** Starts an election: new term, vote for self. */
  becomeCandidate(): void {
    assert(this.state !== 'Leader', 'invalid transition [leader -> candidate]')
    this.reset(this.term + 1)
    this.vote = this.id
    this.state = 'Candidate'
  }

  /** Starts a pre-election: neither the term nor the vote change. */
  becomePreCandidate(): void {
    assert(this.state !== 'Leader', 'invalid transition [leader -> pre-candidate]')
    this.trk.resetVotes()
    this.lead = NONE
    this.state = 'PreCandidate'
  }

  /** Becomes leader and appends an empty entry of the new term, so earlier entries can commit. */
  becomeLeader(): void {
    assert(this.state !== 'Follower', 'invalid transition [follower -> leader]')
    this.reset(this.term)
    this.lead = this.id
    this.state = 'Leader'
    const self = this.trk.progress.get(this.id)
    assert(self !== undefined, 'leader must be a member')
    self.becomeReplicate()
    self.recentActive = true
    // Conservatively treat any unapplied entry as a possible conf change.
    this.pendingConfIndex = this.raftLog.lastIndex()
    this.appendEntry([{ term: 0, index: 0, type: 'Normal', data: EMPTY_BYTES }])
  }

  // ---- ticks -------------------------------------------------------------------------------

  /** Advances logical time by one tick. */
  tick(): void {
    if (this.state === 'Leader') this.tickHeartbeat()
    else this.tickElection()
  }

  private tickElection(): void {
    this.electionElapsed++
    if (this.promotable() && this.pastElectionTimeout()) {
      this.electionElapsed = 0
      this.step(makeMessage({ type: 'MsgHup', from: this.id }))
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsed++
    this.electionElapsed++
    if (this.electionElapsed >= this.electionTimeout) {
      this.electionElapsed = 0
      if (this.checkQuorum) this.step(makeMessage({ type: 'MsgCheckQuorum', from: this.id }))
      // A transfer that did not finish within an election timeout is abandoned.
      if (this.state === 'Leader' && this.leadTransferee !== NONE) this.abortLeaderTransfer()
    }
    if (this.state !== 'Leader') return
    if (this.heartbeatElapsed >= this.heartbeatTimeout) {
      this.heartbeatElapsed = 0
      this.step(makeMessage({ type: 'MsgBeat', from: this.id }))
    }
  }

  // ---- elections ---------------------------------------------------------------------------

  private hup(t: CampaignType): void {
    if (this.state === 'Leader') return
    if (!this.promotable()) return
    // A conf change committed but not applied could change who may vote: wait for it.
    if (this.raftLog.committed > this.raftLog.applied) {
      const ents = this.raftLog.slice(this.raftLog.applied + 1, this.raftLog.committed + 1, Number.POSITIVE_INFINITY)
      assert(ents !== undefined, 'unexpected error getting unapplied entries')
      if (ents.some((e) => e.type === 'ConfChange')) return
    }
    this.campaign(t)
  }

  /** Runs a (pre-)election: votes for itself and asks every other voter. */
  campaign(t: CampaignType): void {
    if (!this.promotable()) return
    let voteMsg: MessageType
    let term: number
    if (t === 'CampaignPreElection') {
      this.becomePreCandidate()
      voteMsg = 'MsgPreVote'
      // Pre-votes ask for the term we would campaign in, without moving to it yet.
      term = this.term + 1
    } else {
      this.becomeCandidate()
      voteMsg = 'MsgVote'
      term = this.term
    }
    if (this.poll(this.id, true) === 'VoteWon') {
      // Single-voter cluster: we won at once.
      if (t === 'CampaignPreElection') this.campaign('CampaignElection')
      else this.becomeLeader()
      return
    }
    for (const id of this.trk.voterIds()) {
      if (id === this.id) continue
      this.send(
        makeMessage({
          type: voteMsg,
          to: id,
          term,
          index: this.raftLog.lastIndex(),
          logTerm: this.raftLog.lastTerm(),
          context: t === 'CampaignTransfer' ? CAMPAIGN_TRANSFER : EMPTY_BYTES,
        }),
      )
    }
  }

  private poll(id: NodeId, granted: boolean): 'VotePending' | 'VoteLost' | 'VoteWon' {
    this.trk.recordVote(id, granted)
    return this.trk.tallyVotes().result
  }

  // ---- step --------------------------------------------------------------------------------

  /**
   * The entry point for every message, local or remote: handles terms, then dispatches on our
   * role. Throws `RaftError` `ErrProposalDropped` when a proposal cannot be accepted.
   */
  step(m: Message): void {
    if (m.term === 0) {
      // local message
    } else if (m.term > this.term) {
      if (m.type === 'MsgVote' || m.type === 'MsgPreVote') {
        const force = isTransferContext(m.context)
        const inLease = this.checkQuorum && this.lead !== NONE && this.electionElapsed < this.electionTimeout
        // Within the lease of a live leader we ignore votes, so a member that was partitioned
        // cannot depose a healthy leader (unless the leader itself asked for the transfer).
        if (!force && inLease) return
      }
      if (m.type === 'MsgPreVote') {
        // Never change our term in response to a pre-vote.
      } else if (m.type === 'MsgPreVoteResp' && !m.reject) {
        // We bump our term when we win the pre-vote; a rejection with a higher term means
        // someone is ahead and we fall through to become their follower.
      } else if (m.type === 'MsgApp' || m.type === 'MsgHeartbeat' || m.type === 'MsgSnap') {
        this.becomeFollower(m.term, m.from)
      } else {
        this.becomeFollower(m.term, NONE)
      }
    } else if (m.term < this.term) {
      if ((this.checkQuorum || this.preVote) && (m.type === 'MsgHeartbeat' || m.type === 'MsgApp')) {
        // A stale leader (e.g. rejoining after a partition) would otherwise never learn of the
        // newer term: our pre-votes or lease keep us from raising the term at it. Answer so
        // it steps down.
        this.send(makeMessage({ type: 'MsgAppResp', to: m.from }))
      } else if (m.type === 'MsgPreVote') {
        // Tell a pre-candidate with a stale term that it lost, so it does not wait forever.
        this.send(makeMessage({ type: 'MsgPreVoteResp', to: m.from, term: this.term, reject: true }))
      }
      // Any other message from an older term is ignored.
      return
    }

    switch (m.type) {
      case 'MsgHup':
        this.hup(this.preVote ? 'CampaignPreElection' : 'CampaignElection')
        return
      case 'MsgVote':
      case 'MsgPreVote': {
        const canVote =
          this.vote === m.from ||
          (this.vote === NONE && this.lead === NONE) ||
          (m.type === 'MsgPreVote' && m.term > this.term)
        if (canVote && this.raftLog.isUpToDate(m.index, m.logTerm)) {
          // Reply with the message's term: for pre-votes it is the future term asked about.
          this.send(makeMessage({ type: voteRespMsgType(m.type), to: m.from, term: m.term }))
          if (m.type === 'MsgVote') {
            this.electionElapsed = 0
            this.vote = m.from
          }
        } else {
          this.send(makeMessage({ type: voteRespMsgType(m.type), to: m.from, term: this.term, reject: true }))
        }
        return
      }
      default:
        switch (this.state) {
          case 'Leader':
            this.stepLeader(m)
            return
          case 'Candidate':
          case 'PreCandidate':
            this.stepCandidate(m)
            return
          case 'Follower':
            this.stepFollower(m)
            return
        }
    }
  }

  private stepLeader(m: Message): void {
    switch (m.type) {
      case 'MsgBeat':
        this.bcastHeartbeat()
        return
      case 'MsgCheckQuorum':
        if (!this.trk.quorumActive()) this.becomeFollower(this.term, NONE)
        // Everyone but us is inactive until heard from again.
        this.trk.visit((id, pr) => {
          if (id !== this.id) pr.recentActive = false
        })
        return
      case 'MsgProp': {
        assert(m.entries.length > 0, `${this.id} stepped empty MsgProp`)
        // Removed from the config while leader: we cannot replicate.
        if (!this.trk.progress.has(this.id)) throw new RaftError('ErrProposalDropped', 'leader is not a member')
        if (this.leadTransferee !== NONE) throw new RaftError('ErrProposalDropped', 'leadership transfer in progress')
        const ents = m.entries.map((e) => ({ ...e }))
        ents.forEach((e, i) => {
          if (e.type !== 'ConfChange') return
          if (this.pendingConfIndex > this.raftLog.applied) {
            // One change at a time: a second one becomes a no-op entry, as in etcd-io/raft.
            ents[i] = { term: 0, index: 0, type: 'Normal', data: EMPTY_BYTES }
          } else {
            this.pendingConfIndex = this.raftLog.lastIndex() + i + 1
          }
        })
        this.appendEntry(ents)
        this.bcastAppend()
        return
      }
      case 'MsgReadIndex':
        if (this.trk.isSingleton()) {
          this.answerReadIndex(m, this.raftLog.committed)
          return
        }
        // Until we commit an entry of our term, our commit index may lag the real one.
        if (!this.committedEntryInCurrentTerm()) {
          this.pendingReadIndexMessages.push(m)
          return
        }
        this.sendMsgReadIndexResponse(m)
        return
      default:
        break
    }

    const pr = this.trk.progress.get(m.from)
    if (pr === undefined) return
    switch (m.type) {
      case 'MsgAppResp': {
        pr.recentActive = true
        if (m.reject) {
          let nextProbeIdx = m.rejectHint
          if (m.logTerm > 0) {
            // Fast back-off: skip every entry of ours whose term exceeds the follower's term
            // at the hint, since none of them can match.
            nextProbeIdx = this.raftLog.findConflictByTerm(m.rejectHint, m.logTerm).index
          }
          if (pr.maybeDecrTo(m.index, nextProbeIdx)) {
            if (pr.state === 'Replicate') pr.becomeProbe()
            this.sendAppend(m.from)
          }
        } else {
          const oldPaused = pr.isPaused()
          if (pr.maybeUpdate(m.index)) {
            if (pr.state === 'Probe') {
              pr.becomeReplicate()
            } else if (pr.state === 'Snapshot' && pr.match + 1 >= this.raftLog.firstIndex()) {
              // The follower caught up far enough that the log can take it from here.
              pr.becomeProbe()
              pr.becomeReplicate()
            } else if (pr.state === 'Replicate') {
              pr.inflights.freeLE(m.index)
            }
            if (this.maybeCommit()) {
              this.releasePendingReadIndexMessages()
              this.bcastAppend()
            } else if (oldPaused) {
              // The follower was paused and may now take more entries.
              this.sendAppend(m.from)
            }
            // Send as many entries as flow control allows.
            while (this.maybeSendAppend(m.from, false)) {
              // keep sending
            }
            if (m.from === this.leadTransferee && pr.match === this.raftLog.lastIndex()) {
              this.sendTimeoutNow(m.from)
            }
          }
        }
        return
      }
      case 'MsgHeartbeatResp': {
        pr.recentActive = true
        pr.probeSent = false
        // A full window may be a lost ack; free one slot so replication does not stall.
        if (pr.state === 'Replicate' && pr.inflights.full()) pr.inflights.freeFirstOne()
        if (pr.match < this.raftLog.lastIndex()) this.sendAppend(m.from)
        if (m.context.byteLength === 0) return
        const acks = this.readOnly.recvAck(m.from, m.context)
        if (acks === undefined) return
        const votes = new Map<NodeId, boolean>()
        for (const id of acks) votes.set(id, true)
        if (this.trk.voters.voteResult(votes) !== 'VoteWon') return
        for (const rs of this.readOnly.advance(m.context)) this.answerReadIndex(rs.req, rs.index)
        return
      }
      case 'MsgSnapStatus':
        if (pr.state !== 'Snapshot') return
        // On failure forget the snapshot; either way wait for the next heartbeat response
        // (probeSent) before probing, giving the follower time to apply it.
        if (m.reject) pr.pendingSnapshot = 0
        pr.becomeProbe()
        pr.probeSent = true
        return
      case 'MsgUnreachable':
        // An unreachable follower probably lost MsgApp: probe instead of streaming.
        if (pr.state === 'Replicate') pr.becomeProbe()
        return
      case 'MsgTransferLeader': {
        if (pr.isLearner) return
        const transferee = m.from
        if (this.leadTransferee !== NONE) {
          if (this.leadTransferee === transferee) return
          this.abortLeaderTransfer()
        }
        if (transferee === this.id) return
        // The transfer must finish within an election timeout.
        this.electionElapsed = 0
        this.leadTransferee = transferee
        if (pr.match === this.raftLog.lastIndex()) this.sendTimeoutNow(transferee)
        else this.sendAppend(transferee)
        return
      }
      default:
        return
    }
  }

  private stepCandidate(m: Message): void {
    const myVoteRespType: MessageType = this.state === 'PreCandidate' ? 'MsgPreVoteResp' : 'MsgVoteResp'
    switch (m.type) {
      case 'MsgProp':
        throw new RaftError('ErrProposalDropped', 'no leader')
      case 'MsgApp':
        this.becomeFollower(m.term, m.from)
        this.handleAppendEntries(m)
        return
      case 'MsgHeartbeat':
        this.becomeFollower(m.term, m.from)
        this.handleHeartbeat(m)
        return
      case 'MsgSnap':
        this.becomeFollower(m.term, m.from)
        this.handleSnapshot(m)
        return
      case 'MsgPreVoteResp':
      case 'MsgVoteResp': {
        if (m.type !== myVoteRespType) return
        const res = this.poll(m.from, !m.reject)
        if (res === 'VoteWon') {
          if (this.state === 'PreCandidate') {
            this.campaign('CampaignElection')
          } else {
            this.becomeLeader()
            this.bcastAppend()
          }
        } else if (res === 'VoteLost') {
          // A pre-vote rejection with a newer term has already made us its follower.
          this.becomeFollower(this.term, NONE)
        }
        return
      }
      default:
        return
    }
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case 'MsgProp':
        if (this.lead === NONE) throw new RaftError('ErrProposalDropped', 'no leader')
        if (this.disableProposalForwarding) throw new RaftError('ErrProposalDropped', 'proposal forwarding disabled')
        this.send({ ...m, to: this.lead, term: 0 })
        return
      case 'MsgApp':
        this.electionElapsed = 0
        this.lead = m.from
        this.handleAppendEntries(m)
        return
      case 'MsgHeartbeat':
        this.electionElapsed = 0
        this.lead = m.from
        this.handleHeartbeat(m)
        return
      case 'MsgSnap':
        this.electionElapsed = 0
        this.lead = m.from
        this.handleSnapshot(m)
        return
      case 'MsgTransferLeader':
        if (this.lead === NONE) return
        this.send({ ...m, to: this.lead, term: 0 })
        return
      case 'MsgTimeoutNow':
        // The leader handed us leadership: campaign now, skipping the pre-vote.
        this.hup('CampaignTransfer')
        return
      case 'MsgReadIndex':
        if (this.lead === NONE) return
        this.send({ ...m, to: this.lead, term: 0 })
        return
      case 'MsgReadIndexResp': {
        const ctx = m.entries[0]
        if (m.entries.length !== 1 || ctx === undefined) return
        this.readStates.push({ index: m.index, requestCtx: ctx.data })
        return
      }
      default:
        return
    }
  }

  // ---- follower handlers -------------------------------------------------------------------

  private handleAppendEntries(m: Message): void {
    if (m.index < this.raftLog.committed) {
      this.send(makeMessage({ type: 'MsgAppResp', to: m.from, index: this.raftLog.committed }))
      return
    }
    const lastNew = this.raftLog.maybeAppend(m.index, m.logTerm, m.commit, m.entries)
    if (lastNew !== undefined) {
      this.send(makeMessage({ type: 'MsgAppResp', to: m.from, index: lastNew }))
      return
    }
    // Reject with a hint: our largest index ≤ m.index whose term is ≤ m.logTerm, so the
    // leader can skip whole terms instead of probing one index at a time.
    const hintIndex = Math.min(m.index, this.raftLog.lastIndex())
    const hint = this.raftLog.findConflictByTerm(hintIndex, m.logTerm)
    this.send(
      makeMessage({ type: 'MsgAppResp', to: m.from, index: m.index, reject: true, rejectHint: hint.index, logTerm: hint.term }),
    )
  }

  private handleHeartbeat(m: Message): void {
    this.raftLog.commitTo(m.commit)
    this.send(makeMessage({ type: 'MsgHeartbeatResp', to: m.from, context: m.context }))
  }

  private handleSnapshot(m: Message): void {
    const snap = m.snapshot
    if (snap !== undefined && this.restore(snap)) {
      this.send(makeMessage({ type: 'MsgAppResp', to: m.from, index: this.raftLog.lastIndex() }))
    } else {
      this.send(makeMessage({ type: 'MsgAppResp', to: m.from, index: this.raftLog.committed }))
    }
  }

  /** Installs a snapshot from the leader; returns false if it is stale or already covered by our log. */
  private restore(s: Snapshot): boolean {
    if (s.metadata.index <= this.raftLog.committed) return false
    if (this.state !== 'Follower') {
      // Only a follower may restore; defensively become one in a newer term.
      this.becomeFollower(this.term + 1, NONE)
      return false
    }
    const cs = s.metadata.confState
    if (!cs.voters.includes(this.id) && !cs.learners.includes(this.id)) return false
    if (this.raftLog.matchTerm(s.metadata.index, s.metadata.term)) {
      // Our log already has the snapshot's last entry: just fast-forward the commit.
      this.raftLog.commitTo(s.metadata.index)
      return false
    }
    this.raftLog.restore(s)
    this.restoreConfState(cs)
    const pr = this.trk.progress.get(this.id)
    assert(pr !== undefined, 'self missing after restoring snapshot')
    pr.maybeUpdate(pr.next - 1)
    return true
  }

  // ---- membership --------------------------------------------------------------------------

  private restoreConfState(cs: ConfState): void {
    for (const id of [...this.trk.progress.keys()]) this.trk.remove(id)
    const next = this.raftLog.lastIndex() + 1
    for (const id of cs.voters) this.trk.addVoter(id, next)
    for (const id of cs.learners) {
      assert(!cs.voters.includes(id), `${id} is in voters and learners`)
      this.trk.addLearner(id, next)
    }
    this.trk.checkInvariants()
    this.isLearner = this.trk.progress.get(this.id)?.isLearner ?? false
  }

  /**
   * Applies a committed membership change and returns the new membership. Removing the last
   * voter is refused with `ErrInvalidConfChange`.
   */
  applyConfChange(cc: ConfChange): ConfState {
    const next = Math.max(this.raftLog.lastIndex(), 1)
    switch (cc.type) {
      case 'AddNode':
        this.trk.addVoter(cc.nodeId, next)
        break
      case 'AddLearnerNode':
        if (this.trk.voters.voters.size === 1 && this.trk.voters.voters.has(cc.nodeId)) {
          throw new RaftError('ErrInvalidConfChange', 'removed all voters')
        }
        this.trk.addLearner(cc.nodeId, next)
        break
      case 'RemoveNode':
        if (this.trk.voters.voters.size === 1 && this.trk.voters.voters.has(cc.nodeId)) {
          throw new RaftError('ErrInvalidConfChange', 'removed all voters')
        }
        this.trk.remove(cc.nodeId)
        break
    }
    this.trk.checkInvariants()
    return this.switchToConfig()
  }

  private switchToConfig(): ConfState {
    const cs = this.trk.confState()
    const pr = this.trk.progress.get(this.id)
    this.isLearner = pr?.isLearner ?? false
    if ((pr === undefined || this.isLearner) && this.state === 'Leader') {
      // We were removed (or demoted) as leader: step down so the others elect a leader.
      this.becomeFollower(this.term, NONE)
      return cs
    }
    if (this.state !== 'Leader' || cs.voters.length === 0) return cs
    if (this.maybeCommit()) {
      // Fewer voters may mean more is committed now.
      this.bcastAppend()
    } else {
      // Probe newly added members at once.
      this.trk.visit((id) => {
        if (id !== this.id) this.maybeSendAppend(id, false)
      })
    }
    if (this.leadTransferee !== NONE && !this.trk.voters.voters.has(this.leadTransferee)) this.abortLeaderTransfer()
    return cs
  }

  // ---- reads and transfer ------------------------------------------------------------------

  private committedEntryInCurrentTerm(): boolean {
    return this.raftLog.termOrZero(this.raftLog.committed) === this.term
  }

  /** Answers a read: locally as a ReadState, or to the follower that forwarded it. */
  private answerReadIndex(req: Message, readIndex: number): void {
    const ctx = req.entries[0]?.data ?? EMPTY_BYTES
    if (req.from === NONE || req.from === this.id) {
      this.readStates.push({ index: readIndex, requestCtx: ctx })
      return
    }
    this.send(makeMessage({ type: 'MsgReadIndexResp', to: req.from, index: readIndex, entries: req.entries }))
  }

  private sendMsgReadIndexResponse(m: Message): void {
    const ctx = m.entries[0]?.data ?? EMPTY_BYTES
    // ReadOnlySafe: confirm we are still leader with a heartbeat round carrying the context.
    this.readOnly.addRequest(this.raftLog.committed, m)
    this.readOnly.recvAck(this.id, ctx)
    this.bcastHeartbeatWithCtx(ctx)
  }

  private releasePendingReadIndexMessages(): void {
    if (this.pendingReadIndexMessages.length === 0 || !this.committedEntryInCurrentTerm()) return
    const msgs = this.pendingReadIndexMessages
    this.pendingReadIndexMessages = []
    for (const m of msgs) this.sendMsgReadIndexResponse(m)
  }

  private sendTimeoutNow(to: NodeId): void {
    this.send(makeMessage({ type: 'MsgTimeoutNow', to }))
  }

  /** Gives up a leadership transfer in progress. */
  abortLeaderTransfer(): void {
    this.leadTransferee = NONE
  }

  // ---- persistence acknowledgement ---------------------------------------------------------

  /** Records that the caller persisted and applied what a Ready handed out. */
  advance(appliedIndex: number, stableEntry: Entry | undefined, stableSnapIndex: number | undefined): void {
    if (appliedIndex > 0) this.raftLog.appliedTo(appliedIndex)
    if (stableEntry !== undefined) this.raftLog.stableTo(stableEntry.index, stableEntry.term)
    if (stableSnapIndex !== undefined) this.raftLog.stableSnapTo(stableSnapIndex)
  }

  /** Decodes and applies a committed ConfChange entry (convenience for callers and tests). */
  applyConfChangeEntry(e: Entry): ConfState {
    assert(e.type === 'ConfChange', 'not a conf change entry')
    return this.applyConfChange(decodeConfChange(e.data))
  }
}
