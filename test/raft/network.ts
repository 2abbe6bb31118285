/**
 * A deterministic in-memory cluster of RawNodes for tests, in the spirit of etcd-io/raft's
 * `network` helper: it runs each node's Ready loop (persist into MemoryStorage, queue messages,
 * apply committed entries, advance), delivers messages through drop/partition filters, and
 * checks Raft's safety properties on every Ready.
 */
import assert from 'node:assert/strict'
import {
  MemoryStorage,
  NONE,
  RawNode,
  decodeConfChange,
  isRaftError,
} from '../../src/raft/index.js'
import type { ConfState, Entry, Message, NodeId, ReadState, Ready } from '../../src/raft/index.js'
import { intRandom, mulberry32 } from './prng.js'

const enc = new TextEncoder()
const dec = new TextDecoder()

/** Encodes a string as bytes. */
export function b(s: string): Uint8Array {
  return enc.encode(s)
}

/** Decodes bytes as a string. */
export function s(u: Uint8Array): string {
  return dec.decode(u)
}

/** One applied log entry as the test state machine records it. */
export interface AppliedEntry {
  index: number
  term: number
  data: string
}

/** A member of the test network: its raft node, storage and applied state machine. */
export interface NetNode {
  id: NodeId
  storage: MemoryStorage
  rn: RawNode
  /** The applied state: every non-empty normal entry, in order. */
  applied: AppliedEntry[]
  appliedIndex: number
  confState: ConfState
  readStates: ReadState[]
  /** Set by `crash`; a down node neither ticks nor receives. */
  down: boolean
}

/** Options for a test cluster. */
export interface NetworkOptions {
  preVote?: boolean
  checkQuorum?: boolean
  electionTick?: number
  heartbeatTick?: number
  maxSizePerMsg?: number
  maxInflightMsgs?: number
  disableProposalForwarding?: boolean
  seed?: number
  /** Log every delivered message into `trace`. */
  trace?: boolean
}

/** The cluster plus its message queue, filters and invariant checker. */
export class Network {
  readonly nodes = new Map<NodeId, NetNode>()
  queue: Message[] = []
  readonly trace: string[] = []
  /** Directed links that drop everything: `from->to`. */
  private readonly cut = new Set<string>()
  /** Extra drop rule, checked for every message. */
  filter: ((m: Message) => boolean) | undefined = undefined
  /** Probability of dropping any message (uses the network's own seeded PRNG). */
  dropRate = 0
  /** Message types never delivered. */
  readonly ignored = new Set<string>()
  readonly rand: () => number
  private readonly opts: NetworkOptions
  private readonly seed: number
  // invariant bookkeeping
  private readonly leaderOfTerm = new Map<number, NodeId>()
  private readonly wasLeaderAt = new Map<NodeId, number>()
  /** index → the entry applied there by anyone (state machine safety). */
  readonly committedAt = new Map<number, AppliedEntry>()

  constructor(ids: NodeId[], opts: NetworkOptions = {}) {
    this.opts = opts
    this.seed = opts.seed ?? 1
    this.rand = mulberry32(this.seed ^ 0x5eed)
    for (const id of ids) {
      const n = this.makeNode(id)
      n.rn.bootstrap(ids)
      this.nodes.set(id, n)
    }
    this.stabilize()
  }

  private makeNode(id: NodeId, storage = new MemoryStorage(), applied = 0): NetNode {
    const o = this.opts
    const rn = new RawNode({
      id,
      storage,
      electionTick: o.electionTick ?? 10,
      heartbeatTick: o.heartbeatTick ?? 1,
      applied,
      preVote: o.preVote ?? false,
      checkQuorum: o.checkQuorum ?? false,
      maxSizePerMsg: o.maxSizePerMsg ?? 1024 * 1024,
      maxInflightMsgs: o.maxInflightMsgs ?? 256,
      disableProposalForwarding: o.disableProposalForwarding ?? false,
      random: intRandom(this.seed * 7919 + Number(id)),
    })
    const cs = storage.initialState().confState
    return { id, storage, rn, applied: [], appliedIndex: applied, confState: cs, readStates: [], down: false }
  }

  /** Adds a fresh, non-bootstrapped member (the cluster must still add it with a ConfChange). */
  addNode(id: NodeId): NetNode {
    const n = this.makeNode(id)
    this.nodes.set(id, n)
    return n
  }

  /** The node with `id`. */
  node(id: NodeId): NetNode {
    const n = this.nodes.get(id)
    assert.ok(n, `no node ${id}`)
    return n
  }

  /** Ids in numeric order. */
  ids(): NodeId[] {
    return [...this.nodes.keys()].sort((a, c) => Number(a) - Number(c))
  }

  /** The leader with the highest term among live nodes, if any. */
  leader(): NodeId | undefined {
    let best: { id: NodeId; term: number } | undefined
    for (const n of this.nodes.values()) {
      if (n.down || n.rn.raft.state !== 'Leader') continue
      if (best === undefined || n.rn.raft.term > best.term) best = { id: n.id, term: n.rn.raft.term }
    }
    return best?.id
  }

  // ---- faults --------------------------------------------------------------------------------

  /** Drops messages both ways between `a` and `c`. */
  cutLink(a: NodeId, c: NodeId): void {
    this.cut.add(`${a}->${c}`)
    this.cut.add(`${c}->${a}`)
  }

  /** Cuts `id` off from everyone. */
  isolate(id: NodeId): void {
    for (const o of this.nodes.keys()) if (o !== id) this.cutLink(id, o)
  }

  /** Splits the cluster into groups that cannot talk to each other. */
  partition(...groups: NodeId[][]): void {
    for (const g of groups) for (const h of groups) if (g !== h) for (const a of g) for (const c of h) this.cut.add(`${a}->${c}`)
  }

  /** Restores every link. */
  heal(): void {
    this.cut.clear()
  }

  /** Whether `m` would be dropped. */
  private dropped(m: Message): boolean {
    if (this.cut.has(`${m.from}->${m.to}`)) return true
    if (this.ignored.has(m.type)) return true
    if (this.filter?.(m) === true) return true
    if (this.dropRate > 0 && this.rand() < this.dropRate) return true
    const to = this.nodes.get(m.to)
    return to === undefined || to.down
  }

  // ---- driving -------------------------------------------------------------------------------

  /** Ticks one node (and runs its Ready loop). */
  tick(id: NodeId, times = 1): void {
    for (let i = 0; i < times; i++) {
      const n = this.node(id)
      if (n.down) return
      n.rn.tick()
      this.processReady(n)
    }
  }

  /** Ticks every live node once. */
  tickAll(): void {
    for (const id of this.ids()) this.tick(id)
  }

  /** Makes `id` campaign and runs the cluster until quiet. */
  campaign(id: NodeId): void {
    this.node(id).rn.campaign()
    this.stabilize()
  }

  /** Proposes on `id` and runs the cluster until quiet; rethrows ErrProposalDropped. */
  propose(id: NodeId, data: string): void {
    this.node(id).rn.propose(b(data))
    this.stabilize()
  }

  /** Runs every node's Ready loop once, queueing outgoing messages. */
  processAll(): void {
    for (const id of this.ids()) {
      const n = this.node(id)
      if (!n.down) this.processReady(n)
    }
  }

  /** Delivers one message, if not dropped. */
  deliver(m: Message): void {
    const sender = this.nodes.get(m.from)
    const senderUp = sender !== undefined && !sender.down
    if (this.dropped(m)) {
      // Like etcd's transport: tell the sender a snapshot failed or a peer is unreachable.
      if (senderUp && m.type === 'MsgSnap') sender.rn.reportSnapshot(m.to, 'Failure')
      else if (senderUp && m.type === 'MsgApp') sender.rn.reportUnreachable(m.to)
      if (senderUp) this.processReady(sender)
      return
    }
    const n = this.node(m.to)
    if (this.opts.trace === true) this.trace.push(fmt(m))
    try {
      n.rn.step(m)
    } catch (e) {
      // A removed member's responses are refused by design; anything else is a bug.
      if (!isRaftError(e, 'ErrStepPeerNotFound')) throw e
    }
    this.processReady(n)
    if (senderUp && m.type === 'MsgSnap') {
      sender.rn.reportSnapshot(m.to, 'Finish')
      this.processReady(sender)
    }
  }

  /** Delivers queued messages and processes Ready batches until nothing is left to do. */
  stabilize(maxRounds = 10_000): void {
    this.processAll()
    for (let round = 0; this.queue.length > 0; round++) {
      assert.ok(round < maxRounds, 'network did not stabilize')
      const msgs = this.queue
      this.queue = []
      for (const m of msgs) this.deliver(m)
      this.processAll()
    }
  }

  /** Takes queued messages matching `pred` out of the queue (for step-by-step tests). */
  take(pred: (m: Message) => boolean = () => true): Message[] {
    const out = this.queue.filter(pred)
    this.queue = this.queue.filter((m) => !pred(m))
    return out
  }

  /** Ticks everyone until some node leads, stabilizing as it goes; returns the leader. */
  electLeader(maxTicks = 500): NodeId {
    for (let i = 0; i < maxTicks; i++) {
      const l = this.leader()
      if (l !== undefined && this.commitsInTerm(l)) return l
      this.tickAll()
      this.stabilize()
    }
    assert.fail(`no leader after ${maxTicks} ticks (seed ${this.seed})`)
  }

  private commitsInTerm(id: NodeId): boolean {
    const r = this.node(id).rn.raft
    return r.raftLog.termOrZero(r.raftLog.committed) === r.term
  }

  /** Takes a snapshot of `id` at its applied index and compacts its log up to there. */
  compact(id: NodeId): void {
    const n = this.node(id)
    if (n.appliedIndex <= n.storage.snapshot().metadata.index) return
    n.storage.createSnapshot(n.appliedIndex, n.confState, b(JSON.stringify(n.applied)))
    n.storage.compact(n.appliedIndex)
  }

  /** Stops a node; `restart` brings it back from its storage, like a process restart. */
  crash(id: NodeId): void {
    this.node(id).down = true
    const lost = this.queue.filter((m) => m.to === id || m.from === id)
    this.queue = this.queue.filter((m) => m.to !== id && m.from !== id)
    // Like etcd's transport, tell a live sender that its snapshot never arrived.
    for (const m of lost) {
      const sender = this.nodes.get(m.from)
      if (m.type === 'MsgSnap' && sender !== undefined && !sender.down) {
        sender.rn.reportSnapshot(m.to, 'Failure')
        this.processReady(sender)
      }
    }
  }

  /** Recreates a crashed node's RawNode from its storage (state machine rebuilt from the snapshot and log). */
  restart(id: NodeId): void {
    const old = this.node(id)
    const snap = old.storage.snapshot()
    const n = this.makeNode(id, old.storage, snap.metadata.index)
    n.applied = snap.metadata.index > 0 ? (JSON.parse(s(snap.data)) as AppliedEntry[]) : []
    n.confState = snap.metadata.confState
    this.nodes.set(id, n)
    this.processReady(n)
  }

  // ---- the Ready loop ------------------------------------------------------------------------

  /** Handles every pending Ready of `n`, checking invariants on each. */
  processReady(n: NetNode): void {
    while (n.rn.hasReady()) {
      const rd = n.rn.ready()
      this.checkReady(n, rd)
      if (rd.snapshot !== undefined) {
        n.storage.applySnapshot(rd.snapshot)
        n.applied = JSON.parse(s(rd.snapshot.data)) as AppliedEntry[]
        n.appliedIndex = rd.snapshot.metadata.index
        n.confState = rd.snapshot.metadata.confState
        for (const e of n.applied) this.recordCommitted(e)
      }
      n.storage.append(rd.entries)
      if (rd.hardState !== undefined) n.storage.setHardState(rd.hardState)
      for (const m of rd.messages) this.queue.push(m)
      for (const e of rd.committedEntries) {
        assert.equal(e.index, n.appliedIndex + 1, `node ${n.id} applies ${e.index} after ${n.appliedIndex} (seed ${this.seed})`)
        n.appliedIndex = e.index
        const ae: AppliedEntry = { index: e.index, term: e.term, data: e.type === 'ConfChange' ? `cc:${s(e.data)}` : s(e.data) }
        this.recordCommitted(ae)
        if (e.type === 'ConfChange') {
          n.confState = n.rn.applyConfChange(decodeConfChange(e.data))
        } else if (e.data.byteLength > 0) {
          n.applied.push(ae)
        }
      }
      n.readStates.push(...rd.readStates)
      n.rn.advance(rd)
    }
  }

  private recordCommitted(e: AppliedEntry): void {
    const prev = this.committedAt.get(e.index)
    if (prev === undefined) this.committedAt.set(e.index, e)
    else
      assert.deepEqual(e, prev, `state machine safety: two entries applied at index ${e.index} (seed ${this.seed})`)
  }

  /** Election safety, leader append-only and leader completeness, checked on every Ready. */
  private checkReady(n: NetNode, rd: Ready): void {
    const r = n.rn.raft
    if (r.state !== 'Leader') {
      this.wasLeaderAt.delete(n.id)
      return
    }
    const other = this.leaderOfTerm.get(r.term)
    assert.ok(other === undefined || other === n.id, `election safety: ${other} and ${n.id} both lead term ${r.term} (seed ${this.seed})`)
    this.leaderOfTerm.set(r.term, n.id)
    const first = rd.entries[0]
    if (this.wasLeaderAt.get(n.id) === r.term) {
      assert.ok(
        first === undefined || first.index === n.storage.lastIndex() + 1,
        `leader append-only: leader ${n.id} rewrites from ${first?.index} (seed ${this.seed})`,
      )
    } else {
      // Newly observed leader: it must hold every entry committed so far.
      for (const [index, e] of this.committedAt) {
        if (index < r.raftLog.firstIndex()) continue
        assert.equal(r.raftLog.maybeTerm(index), e.term, `leader completeness: ${n.id} lacks committed ${index} (seed ${this.seed})`)
      }
    }
    this.wasLeaderAt.set(n.id, r.term)
  }

  /** Log matching: whenever two logs hold an entry with the same index and term, they agree up to it. */
  checkLogMatching(): void {
    const logs = this.ids().map((id) => ({ id, ents: logOf(this.node(id)) }))
    for (let i = 0; i < logs.length; i++) {
      for (let j = i + 1; j < logs.length; j++) {
        const x = logs[i]!
        const y = logs[j]!
        const ym = new Map(y.ents.map((e) => [e.index, e]))
        let matchAt = 0
        for (const e of x.ents) if (ym.get(e.index)?.term === e.term) matchAt = Math.max(matchAt, e.index)
        for (const e of x.ents) {
          if (e.index > matchAt) continue
          const o = ym.get(e.index)
          if (o === undefined) continue
          assert.equal(o.term, e.term, `log matching: ${x.id}/${y.id} differ at ${e.index} below ${matchAt} (seed ${this.seed})`)
          assert.deepEqual(o.data, e.data, `log matching: ${x.id}/${y.id} data differ at ${e.index} (seed ${this.seed})`)
        }
      }
    }
  }
}

/** All entries a node holds, stable and unstable. */
export function logOf(n: NetNode): Entry[] {
  const log = n.rn.raft.raftLog
  const first = log.firstIndex()
  const last = log.lastIndex()
  if (last < first) return []
  return log.slice(first, last + 1, Number.POSITIVE_INFINITY) ?? []
}

/** One line describing a message, for traces. */
export function fmt(m: Message): string {
  return `${m.from}->${m.to} ${m.type} t${m.term} lt${m.logTerm} i${m.index} c${m.commit} n${m.entries.length}${m.reject ? ` R${m.rejectHint}` : ''}${m.snapshot ? ` snap${m.snapshot.metadata.index}` : ''}`
}

export { NONE }

/**
 * A storage holding a hand-made log: a snapshot at index 1 (term 1) naming `voters`, then one
 * entry per element of `terms` from index 2, and a hard state at the last term.
 */
export function storageWith(voters: NodeId[], terms: number[], data = (i: number) => `e${i}`): MemoryStorage {
  const st = new MemoryStorage()
  st.applySnapshot({ metadata: { index: 1, term: 1, confState: { voters, learners: [] } }, data: b('[]') })
  st.append(terms.map((term, i) => ({ term, index: i + 2, type: 'Normal' as const, data: b(data(i + 2)) })))
  st.setHardState({ term: Math.max(1, ...terms), vote: NONE, commit: 1 })
  return st
}
