/**
 * One etcd member (etcd's `EtcdServer` with its `raftNode`): drives a Raft node, persists
 * what Raft asks before acting on it, sends its messages over the simulated network,
 * applies committed entries to its MVCC store in log order, and answers the requests it
 * proposed once they are applied. Linearizable reads wait for a ReadIndex round.
 *
 * @module
 */
import type { AbstractLevel } from 'abstract-level'
import type {
  CompactionRequest,
  CompactionResponse,
  DeleteRangeRequest,
  DeleteRangeResponse,
  LeaseGrantRequest,
  LeaseGrantResponse,
  LeaseKeepAliveResponse,
  LeaseLeasesResponse,
  LeaseRevokeRequest,
  LeaseRevokeResponse,
  LeaseTimeToLiveRequest,
  LeaseTimeToLiveResponse,
  PutRequest,
  PutResponse,
  RangeRequest,
  RangeResponse,
  ResponseHeader,
  TxnRequest,
  TxnResponse,
} from '../api/messages.js'
import { EtcdError, InvariantError, assert, etcdError } from '../errors.js'
import type { Clock, TimerHandle } from '../sim/clock.js'
import type { Random } from '../sim/random.js'
import type { Network } from '../sim/network.js'
import { KVStore } from '../mvcc/index.js'
import type { Event } from '../mvcc/index.js'
import type { ConfChange, ConfState, Entry, Message, ReadState, Ready, SnapshotMetadata, SoftState } from '../raft/index.js'
import { MemoryStorage, NONE, RaftError, RawNode, decodeConfChange } from '../raft/index.js'
import type { KVServer } from '../services/kv.js'
import type { LeaseServer } from '../services/lease.js'
import { LeaseExpiredError, Lessor, NotPrimaryError } from '../lease/lessor.js'
import { CHECKPOINT_BATCHES_PER_ROUND, MAX_CHECKPOINT_BATCH } from '../lease/lessor.js'
import { Applier, isTxnReadonly } from './apply.js'
import type { ApplyResult } from './apply.js'
import type { InternalRequest, InternalRequestBody, RequestHeader } from './internal-request.js'
import { decodeRecord, encodeRecord } from './record-codec.js'
import { RaftStorage } from './raft-storage.js'
import { Mutex } from './mutex.js'
import { AuthStore, DEFAULT_AUTH_TOKEN_TTL_MS } from '../auth/auth-store.js'
import type { AuthInfo, AuthRequest } from '../auth/auth-request.js'
import { checkRange, checkTxn } from '../auth/permissions.js'
import { verifyPassword } from '../auth/password.js'
import { Membership, syntheticUrls } from '../cluster/membership.js'
import type { ClusterMember, MembershipChange } from '../cluster/membership.js'
import { AlarmStore } from '../maintenance/alarms.js'
import type { AlarmMember } from '../maintenance/alarms.js'
import type { AlarmRequest, AlarmResponse, DefragmentResponse, HashKVResponse, MoveLeaderResponse, StatusResponse } from '../maintenance/messages.js'
import type { BackendOp } from '../mvcc/backend.js'

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- any abstract-level database, whatever its default encodings
type Database = AbstractLevel<any, any, any>

/** A peer as the member knows it: Raft id and network name. */
export interface PeerInfo {
  id: string
  name: string
}

/** Timing and limits of one member, in ticks and milliseconds of its clock. */
export interface MemberTiming {
  /** Milliseconds per Raft tick (etcd's heartbeat interval is one tick). */
  tickMs: number
  /** Ticks without a leader before a follower campaigns (randomized up to twice this). */
  electionTicks: number
  /** Ticks between leader heartbeats. */
  heartbeatTicks: number
  /** How long a request may wait for a leader, a commit or a read before failing (etcd: 5 s plus two election timeouts). */
  requestTimeoutMs: number
  /** Applied entries between Raft snapshots (etcd's `--snapshot-count`). */
  snapshotCount: number
  /** Entries kept in the log behind a snapshot for slow followers (etcd's SnapshotCatchUpEntries). */
  snapshotCatchUpEntries: number
  /** How long an unused auth token stays valid, in ms (etcd's `--auth-token-ttl`); default 5 minutes. */
  authTokenTtlMs?: number
  /**
   * Log bytes after which a member snapshots even before `snapshotCount` entries (default 32
   * MiB): the log is held in memory, so with large entries a count alone does not bound it.
   */
  snapshotLogBytes?: number
  /** At most this many bytes of entries are kept behind a snapshot for slow followers (default 16 MiB), besides the entry count. */
  snapshotCatchUpBytes?: number
  /** How often the leader checkpoints a lease's remaining TTL, in ms (etcd's `--experimental-lease-checkpoint-interval`); default 5 minutes. */
  leaseCheckpointIntervalMs?: number
}

/** Everything a member needs to run. */
export interface MemberConfig {
  name: string
  id: string
  clusterId: string
  /** The member's own database; it is opened if needed and never closed by the member. */
  db: Database
  /** The voters to bootstrap a fresh cluster with (ignored when the database has state). */
  initialPeers: PeerInfo[]
  /** Resolves a Raft id to a network name and back; shared by the whole cluster. */
  directory: { nameOf(id: string): string | undefined; idOf(name: string): string | undefined }
  clock: Clock
  random: Random
  network: Network<Message>
  timing: MemberTiming
  /**
   * Another running member by id, to forward a lease renew or time-to-live to the leader
   * (etcd forwards them over its peer HTTP API); absent, only the leader serves them.
   */
  peer?: (id: string) => Member | undefined
  /** Called with cluster events (leader changes). */
  onEvent?: (event: MemberEvent) => void
  /** A member added to a running cluster: starts with empty storage and catches up from the leader's snapshot (no bootstrap). */
  join?: boolean
  /** Backend bytes above which a write raises the NOSPACE alarm (etcd `--quota-backend-bytes`); 0 or absent: no quota. */
  quotaBackendBytes?: number
}

/** Events a member reports upwards. */
export type MemberEvent =
  | { type: 'leader'; memberId: string; leaderId: string; term: number }
  | { type: 'applied'; memberId: string; index: number; events: readonly Event[] }
  | { type: 'fatal'; memberId: string; error: unknown }
  /** A snapshot restore replaced the member's MVCC store (watchers resync from its history). */
  | { type: 'restored'; memberId: string }
  /** The member applied a membership change; `members` is the list now in force. */
  | { type: 'membership'; memberId: string; members: ClusterMember[] }
  /** The member applied its own removal and stops shortly after (etcd: "the member has been permanently removed from the cluster"). */
  | { type: 'removed'; memberId: string }
  /**
   * A message arrived from `peerId`, which this member's cluster removed: etcd's peer handler
   * answers it with 410 Gone and the sender stops ("the member has been permanently removed
   * from the cluster"). This is how a member removed while cut off learns of its removal.
   */
  | { type: 'peer-removed'; memberId: string; peerId: string }

/** What the apply loop awaits for an entry applied at once: one microtask turn. */
const APPLIED: Promise<void> = Promise.resolve()

/** How an applied request is answered: its response, or the etcd error it failed with. */
type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown }

interface Pending {
  resolve(value: unknown): void
  reject(err: unknown): void
  /** When it times out (the clock's time): submission time plus the request timeout. */
  deadline: number
  /**
   * The response is a KV response whose header this member fills in when it answers
   * (its own cluster and member ids, the revision, its term), as etcd does for the
   * responses it serves.
   */
  memberHeader: boolean
}

interface ReadWaiter {
  resolve(): void
  reject(err: unknown): void
}

/** A snapshot payload: the member's state buckets at one applied index. */
interface StateDump {
  consistentIndex: number
  entries: [Uint8Array, Uint8Array][]
}

const RAFT_PREFIX = new TextEncoder().encode('!raft')

function startsWith(k: Uint8Array, prefix: Uint8Array): boolean {
  if (k.length < prefix.length) return false
  for (let i = 0; i < prefix.length; i++) if (k[i] !== prefix[i]) return false
  return true
}

/** The letters of a simple token's random prefix (etcd's `letters`). */
const TOKEN_LETTERS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'

/** How often the primary looks for expired leases, in ms of cluster time (etcd's lessor runLoop: 500 ms). */
const LEASE_CHECK_MS = 500

/**
 * The smallest lease TTL in seconds (etcd: `minTTL = (3 * electionTicks / 2) * heartbeat`,
 * rounded up to whole seconds), so a lease outlives a leader election.
 */
export function minLeaseTtl(timing: Pick<MemberTiming, 'tickMs' | 'electionTicks'>): number {
  return Math.max(1, Math.ceil((Math.floor((3 * timing.electionTicks) / 2) * timing.tickMs) / 1000))
}

/** The etcd server version pocket-etcd implements, as `status()` reports it. */
export const ETCD_VERSION = '3.4.23'

/** Does this request need backend space (etcd's quota `Cost` > 0: puts, txns with puts, lease grants)? */
/** Default {@link MemberTiming.snapshotLogBytes}. */
const DEFAULT_SNAPSHOT_LOG_BYTES = 32 * 1024 * 1024
/** Default {@link MemberTiming.snapshotCatchUpBytes}. */
const DEFAULT_SNAPSHOT_CATCH_UP_BYTES = 16 * 1024 * 1024

/** A bound on how much the database grows per byte of logged entry data (log copy, applied records, keys and metadata). */
const QUOTA_GROWTH_FACTOR = 4
/** Slack added to that bound for per-entry and per-record overhead between measurements. */
const QUOTA_GROWTH_SLACK = 64 * 1024
/** Bytes counted per logged entry besides its data (entry header, record keys, revision metadata). */
const QUOTA_ENTRY_OVERHEAD = 128

function needsSpace(req: InternalRequestBody): boolean {
  if ('put' in req || 'leaseGrant' in req) return true
  if (!('txn' in req)) return false
  const hasPut = (t: TxnRequest): boolean => t.success.concat(t.failure).some((op) => 'requestPut' in op || ('requestTxn' in op && hasPut(op.requestTxn)))
  return hasPut(req.txn)
}

/** A consistent read of one member's state buckets, from a member's `openStateSnapshot()` (etcd's snapshot source). */
export interface MemberStateSnapshot {
  /** The applied index the records reflect (etcd's consistent index). */
  consistentIndex: number
  /** The MVCC revision at that index. */
  revision: number
  /** The compaction revision at that index (-1 if never compacted). */
  compactRevision: number
  /** The member's Raft term when the read was taken. */
  raftTerm: number
  /** Raw database records (root keys, sublevel prefixes included), in key order. */
  records: AsyncIterable<[Uint8Array, Uint8Array]>
  /** Releases the database iterator behind `records`. */
  close(): Promise<void>
}

/** One member of the cluster. Create it with {@link Member.open}. */
export class Member implements KVServer, LeaseServer {
  readonly name: string
  readonly id: string
  readonly clusterId: string
  private readonly cfg: MemberConfig
  private kv!: KVStore
  private lessor!: Lessor
  private leaseIds!: Random
  private raftState: SoftState['raftState'] = 'Follower'
  private ticks = 0
  /** Waits of lease requests retrying for a leader; woken on halt so they fail at once. */
  private readonly sleepers = new Set<() => void>()
  private applier!: Applier
  private authStore!: AuthStore
  private tokenRandom: Random | undefined
  private raftStorage!: RaftStorage
  private memory!: MemoryStorage
  private node!: RawNode
  private confState: ConfState = { voters: [], learners: [] }
  private cluster!: Membership
  private alarmStore!: AlarmStore

  private stopped = false
  private processing = false
  private again = false
  private ticker: TimerHandle | undefined
  private readonly applyLock = new Mutex()
  private readonly pending = new Map<string, Pending>()
  /** Proposals waiting for {@link flushProposals}, in arrival order. */
  private proposals: { id: string; data: Uint8Array }[] = []
  /** The timer of the oldest proposal's timeout ({@link armPendingTimer}); undefined while none waits. */
  private pendingTimer: TimerHandle | undefined
  private counter = 0
  private incarnation = ''
  private lead: string = NONE
  private term = 0
  private appliedIndex = 0
  private snapshotIndex = 0
  private leaderWaiters: { resolve(): void; reject(err: unknown): void; timer: TimerHandle }[] = []
  private appliedWaiters: { index: number; key?: string; resolve(): void; reject(err: unknown): void }[] = []
  private readBatch: ReadWaiter[] = []
  private readBatchScheduled = false
  private readonly readsInFlight = new Map<string, ReadWaiter[]>()
  private readCounter = 0
  private loop: Promise<void> = Promise.resolve()

  private constructor(cfg: MemberConfig) {
    this.cfg = cfg
    this.name = cfg.name
    this.id = cfg.id
    this.clusterId = cfg.clusterId
  }

  /** Opens the member's database state (MVCC and Raft), bootstraps a fresh one, and starts it. */
  static async open(cfg: MemberConfig): Promise<Member> {
    const m = new Member(cfg)
    await m.start()
    return m
  }

  private async start(): Promise<void> {
    const { db } = this.cfg
    if (db.status !== 'open') await db.open()
    this.kv = await KVStore.open(db)
    await this.openLessor()
    const loaded = await RaftStorage.open(db)
    this.raftStorage = loaded.storage
    this.memory = loaded.memory
    if (loaded.fresh && this.cfg.join === true) {
      // a member added to a running cluster: no bootstrap, the leader sends it a snapshot
      this.confState = { voters: [], learners: [] }
    } else if (loaded.fresh) {
      await this.kv.backend.write(this.cluster.seed(this.cfg.initialPeers.map((p) => ({ id: p.id, name: p.name, ...syntheticUrls(p.name), isLearner: false }))))
      // Every member of a new cluster starts from the same snapshot at index 1, term 1,
      // whose membership is the initial voters (as a restored etcd cluster does).
      this.confState = { voters: this.cfg.initialPeers.map((p) => p.id), learners: [] }
      const boot = { metadata: { index: 1, term: 1, confState: this.confState }, data: new Uint8Array(0) }
      const hardState = { term: 1, vote: NONE, commit: 1 }
      await this.raftStorage.save({ entries: [], snapshot: boot, hardState })
      this.memory.applySnapshot(boot)
      this.memory.setHardState(hardState)
    } else {
      this.confState = loaded.confState ?? { voters: this.cfg.initialPeers.map((p) => p.id), learners: [] }
    }
    const hs = this.memory.initialState().hardState
    this.appliedIndex = Math.max(Math.min(this.kv.consistentIndex, hs.commit), this.memory.snapshot().metadata.index)
    this.snapshotIndex = this.memory.snapshot().metadata.index
    // durable and new on every start: a late commit of an earlier start's proposal must not answer a new request
    this.incarnation = (await this.raftStorage.nextIncarnation()).toString(36)
    // a restarted member must not draw the lease ids of its previous run again
    this.leaseIds = this.cfg.random.fork(`lease-ids/${this.incarnation}`)
    this.node = new RawNode({
      id: this.id,
      storage: this.memory,
      electionTick: this.cfg.timing.electionTicks,
      heartbeatTick: this.cfg.timing.heartbeatTicks,
      applied: this.appliedIndex,
      checkQuorum: true,
      preVote: true,
      maxSizePerMsg: 1024 * 1024,
      maxInflightMsgs: 256,
      random: (n: number) => this.cfg.random.int(n),
    })
    this.term = hs.term
    this.reconcileConfState()
    this.cfg.network.register(this.name, (from, msg) => this.receive(from, msg))
    this.scheduleTick()
  }

  // --- the Raft loop ---

  /** Opens the lessor over the MVCC store's backend and the applier over both. */
  private async openLessor(): Promise<void> {
    const wasPrimary = this.lessor?.isPrimary ?? false
    this.lessor = await Lessor.open(this.kv, minLeaseTtl(this.cfg.timing), this.cfg.timing.leaseCheckpointIntervalMs)
    this.cluster = await Membership.open(this.kv.backend)
    this.alarmStore = await AlarmStore.open(this.kv.backend)
    this.authStore = await AuthStore.open(this.kv.backend, this.authStore, {
      now: () => this.cfg.clock.now(),
      ttlMs: this.cfg.timing.authTokenTtlMs ?? DEFAULT_AUTH_TOKEN_TTL_MS,
    })
    this.applier = new Applier(this.kv, this.lessor, this.lessor, () => this.cfg.clock.now(), this.authStore)
    if (wasPrimary) this.lessor.promote(this.cfg.clock.now(), this.electionTimeoutMs())
  }

  private electionTimeoutMs(): number {
    return this.cfg.timing.electionTicks * this.cfg.timing.tickMs
  }

  private scheduleTick(): void {
    if (this.stopped) return
    this.ticker = this.cfg.clock.setTimer(this.cfg.timing.tickMs, () => {
      if (this.stopped) return
      this.node.tick()
      this.kick()
      this.scheduleTick()
      if (++this.ticks % Math.max(1, Math.round(LEASE_CHECK_MS / this.cfg.timing.tickMs)) === 0) this.revokeExpiredLeases()
    })
  }

  /** Asks the member to campaign now (a fresh cluster's first election, without waiting a timeout). */
  campaign(): void {
    if (this.stopped) return
    this.node.campaign()
    this.kick()
  }

  private receive(_from: string, msg: Message): void {
    if (this.stopped) return
    if (this.cluster.isRemoved(msg.from)) {
      this.cfg.onEvent?.({ type: 'peer-removed', memberId: this.id, peerId: msg.from })
      return
    }
    try {
      this.node.step(msg)
    } catch (err) {
      // Raft refuses stale or misdirected messages (e.g. from a removed peer); dropping them is what etcd does.
      if (!(err instanceof RaftError)) throw err
    }
    this.kick()
  }

  /** Runs the Ready loop unless it is already running; it picks up whatever accumulated meanwhile (group commit). */
  private kick(): void {
    if (this.stopped) return
    if (this.processing) {
      this.again = true
      return
    }
    this.processing = true
    this.loop = this.processReadies()
  }

  private async processReadies(): Promise<void> {
    try {
      do {
        this.again = false
        while (!this.stopped && this.node.hasReady()) {
          const rd = this.node.ready()
          await this.handleReady(rd)
          if (this.stopped) return
          this.node.advance(rd)
          await this.maybeSnapshot()
        }
      } while (this.again && !this.stopped)
    } catch (err) {
      this.fail(err)
    } finally {
      // cleared in the same turn as the last check, so a kick() in between is never lost
      this.processing = false
    }
  }

  private async handleReady(rd: Ready): Promise<void> {
    if (rd.softState) this.onSoftState(rd.softState)
    if (rd.hardState) this.term = rd.hardState.term
    // 1. persist before anything that depends on it (etcd's order)
    const snapshot = rd.snapshot !== undefined && rd.snapshot.metadata.index > 0 ? rd.snapshot : undefined
    // A received snapshot's state is stored before the Raft log records the snapshot (etcd
    // saves the snapshot db before the WAL): a crash in between restarts from the old log
    // with state that skips entries it already holds, never from a snapshot record whose
    // state was not written (which would leave the member behind for good).
    if (snapshot) await this.restoreSnapshot(snapshot.data)
    if (this.stopped) return
    // what the log grows by bounds what the database grows by (the quota's estimate)
    for (const e of rd.entries) this.loggedBytes += e.data.length + QUOTA_ENTRY_OVERHEAD
    if (snapshot) this.spaceMeasure = undefined // the state was replaced: measure again
    await this.raftStorage.save({ entries: rd.entries, ...(rd.hardState ? { hardState: rd.hardState } : {}), ...(snapshot ? { snapshot } : {}) })
    if (this.stopped) return
    if (snapshot) {
      this.memory.applySnapshot(snapshot)
      this.confState = snapshot.metadata.confState
      this.reconcileConfState()
      this.snapshotIndex = snapshot.metadata.index
      this.appliedIndex = Math.max(this.appliedIndex, snapshot.metadata.index)
    }
    if (rd.entries.length > 0) this.memory.append(rd.entries)
    if (rd.hardState) this.memory.setHardState(rd.hardState)
    // 2. send
    for (const m of rd.messages) this.send(m)
    // 3. apply, with group commit: every entry of this Ready in one backend batch, and the
    //    proposers answered once it is stored (a crash before that re-applies from the log)
    if (rd.committedEntries.length > 0) {
      const answers: (() => void)[] = []
      this.kv.beginBatch()
      // one turn of the apply lock for the whole batch, not one per entry
      const applied = await this.applyLock.run(async () => {
        for (const e of rd.committedEntries) {
          // one turn of the microtask queue per entry even when it applied at once: watchers
          // take their responses on microtasks, and a whole Ready applied without a turn
          // fills their streams until they fall behind (become slow, catch up from history)
          await (this.applyEntry(e, answers) ?? APPLIED)
          if (this.stopped) return false
        }
        await this.kv.flush()
        return true
      })
      if (!applied || this.stopped) return
      for (const answer of answers) answer()
    }
    // 4. linearizable reads whose index is known
    for (const rs of rd.readStates) this.onReadState(rs)
  }

  private send(m: Message): void {
    const to = this.cfg.directory.nameOf(m.to)
    if (to === undefined) return
    if (m.type === 'MsgSnap') {
      void this.sendSnapshot(m, to) // asynchronous on purpose: the dump is taken under the apply lock
      return
    }
    this.cfg.network.send(this.name, to, m)
  }

  private async sendSnapshot(m: Message, to: string): Promise<void> {
    try {
      const data = await this.applyLock.run(() => this.dumpState())
      if (this.stopped || m.snapshot === undefined) return
      this.cfg.network.send(this.name, to, { ...m, snapshot: { metadata: this.mergedSnapshotMetadata(data, m.snapshot.metadata), data } })
      this.node.reportSnapshot(m.to, 'Finish')
    } catch (err) {
      if (!this.stopped) this.node.reportSnapshot(m.to, 'Failure')
      if (!(err instanceof EtcdError) && !this.stopped) throw err
    }
  }

  /** The member's state buckets (everything but its Raft log), for a follower that fell behind the log. */
  private async dumpState(): Promise<Uint8Array> {
    await this.kv.flush() // the dump reads the database: store buffered writes first
    const entries: [Uint8Array, Uint8Array][] = []
    const db = this.cfg.db
    for await (const [k, v] of db.iterator({ keyEncoding: 'view', valueEncoding: 'view' }) as AsyncIterable<[Uint8Array, Uint8Array]>) {
      if (startsWith(k, RAFT_PREFIX)) continue
      entries.push([k, v])
    }
    const dump: StateDump = { consistentIndex: this.kv.consistentIndex, entries }
    return encodeRecord(dump)
  }

  /**
   * Opens a consistent read of this member's state buckets (everything but its Raft log and
   * identity), at one applied index, for a backup image (etcd's `Maintenance.Snapshot`).
   * Taken under the apply lock after storing buffered writes; the records are read from the
   * database's implicit iterator snapshot, so applies continue meanwhile (read eagerly when
   * the database cannot snapshot). Call `close()` when done with the records.
   */
  async openStateSnapshot(): Promise<MemberStateSnapshot> {
    this.assertRunning()
    return this.applyLock.run(async () => {
      this.assertRunning()
      await this.kv.flush() // the records come from the database: store buffered writes first
      const db = this.cfg.db
      const info = { consistentIndex: this.kv.consistentIndex, revision: this.kv.rev, compactRevision: this.kv.compactRev, raftTerm: this.term }
      const it = db.iterator({ keyEncoding: 'view', valueEncoding: 'view' }) as AsyncIterable<[Uint8Array, Uint8Array]> & { close(): Promise<void> }
      const stateOnly = async function* (source: AsyncIterable<[Uint8Array, Uint8Array]>): AsyncGenerator<[Uint8Array, Uint8Array]> {
        for await (const [k, v] of source) if (!startsWith(k, RAFT_PREFIX)) yield [k, v]
      }
      if (db.supports.implicitSnapshots) return { ...info, records: stateOnly(it), close: () => it.close() }
      const eager: [Uint8Array, Uint8Array][] = []
      for await (const kv of stateOnly(it)) eager.push(kv)
      return { ...info, records: (async function* () { yield* eager })(), close: async () => undefined }
    })
  }

  private async restoreSnapshot(data: Uint8Array): Promise<void> {
    const dump = decodeRecord<StateDump>(data)
    await this.applyLock.run(async () => {
      const db = this.cfg.db
      // the old store's background compaction must not write under the restored state
      await this.kv.close()
      const stale: Uint8Array[] = []
      for await (const k of db.keys({ keyEncoding: 'view' }) as AsyncIterable<Uint8Array>) if (!startsWith(k, RAFT_PREFIX)) stale.push(k)
      await db.batch([
        ...stale.map((key) => ({ type: 'del' as const, key, keyEncoding: 'view' })),
        ...dump.entries.map(([key, value]) => ({ type: 'put' as const, key, value, keyEncoding: 'view', valueEncoding: 'view' })),
      ])
      this.kv = await KVStore.open(db)
      await this.openLessor()
    })
    this.cfg.onEvent?.({ type: 'restored', memberId: this.id })
    this.appliedIndex = Math.max(this.appliedIndex, dump.consistentIndex)
    this.notifyApplied()
  }

  private async maybeSnapshot(): Promise<void> {
    const { snapshotCount, snapshotCatchUpEntries } = this.cfg.timing
    const logBytes = this.cfg.timing.snapshotLogBytes ?? DEFAULT_SNAPSHOT_LOG_BYTES
    if (this.appliedIndex - this.snapshotIndex < snapshotCount && this.loggedBytes - this.snapshotLoggedBytes < logBytes) return
    const index = this.appliedIndex
    const snap = this.memory.createSnapshot(index, this.confState, new Uint8Array(0))
    const compactTo = Math.max(index - snapshotCatchUpEntries, this.catchUpStart(index))
    if (compactTo > this.memory.firstIndex()) this.memory.compact(compactTo)
    this.snapshotIndex = index
    this.snapshotLoggedBytes = this.loggedBytes
    await this.raftStorage.compact(snap.metadata, Math.max(0, compactTo))
  }

  /** Bytes of log (counted as the quota counts them) at the last snapshot. */
  private snapshotLoggedBytes = 0

  /**
   * The index to compact the log to so that the entries kept after `index` for slow followers
   * hold at most `snapshotCatchUpBytes` (a follower further behind gets a snapshot instead).
   */
  private catchUpStart(index: number): number {
    const budget = this.cfg.timing.snapshotCatchUpBytes ?? DEFAULT_SNAPSHOT_CATCH_UP_BYTES
    const first = this.memory.firstIndex()
    if (index < first) return 0
    const kept = this.memory.entries(first, index + 1, Number.MAX_SAFE_INTEGER)
    let bytes = 0
    for (let i = kept.length - 1; i >= 0; i--) {
      bytes += kept[i]!.data.length + QUOTA_ENTRY_OVERHEAD
      if (bytes > budget) return kept[i]!.index
    }
    return 0
  }

  /**
   * Applies one committed entry; the caller holds the apply lock. `undefined` when that is
   * done on return (a plain put, the common case, needs no await), else a promise of it.
   * Either way the entries of a Ready apply one after the other, in log order.
   */
  private applyEntry(e: Entry, answers: (() => void)[]): Promise<void> | undefined {
    if (e.index <= this.kv.consistentIndex) {
      // already in the state (restart, or a snapshot that ran ahead of this entry)
      this.appliedIndex = Math.max(this.appliedIndex, e.index)
      this.notifyApplied()
      return undefined
    }
    const pending = this.applyCommitted(e, answers)
    if (pending === undefined) {
      this.appliedIndex = e.index
      this.notifyApplied()
      return undefined
    }
    return pending.then(() => {
      this.appliedIndex = e.index
      this.notifyApplied()
    })
  }

  /**
   * The state change of one committed entry not yet in the state: a membership change, a
   * leader's empty entry or a request. `undefined` when it is done on return (see
   * {@link Applier.applyNow}), else a promise of it.
   */
  private applyCommitted(e: Entry, answers: (() => void)[]): Promise<void> | undefined {
    if (e.type === 'ConfChange' || e.data.length === 0) return this.applyControlEntry(e, answers)
    const req = decodeRecord<InternalRequest>(e.data)
    if ('alarm' in req || 'memberUpdate' in req) return this.applyRequest(req, e.index, answers)
    let r: ApplyResult<unknown> | undefined
    try {
      this.checkAlarmsOnApply(req)
      r = this.applier.applyNow(req, e.index)
    } catch (err) {
      // an etcd error from the checks: answered (and the index stored) as the full path does
      if (!(err instanceof EtcdError)) throw err
      return this.applyRequest(req, e.index, answers)
    }
    if (r === undefined) return this.applyRequest(req, e.index, answers)
    this.settleApplied(req, e.index, { ok: true, value: r.response }, r.events, answers)
    return undefined
  }

  /** A membership change, or the empty entry a new leader appends. */
  private async applyControlEntry(e: Entry, answers: (() => void)[]): Promise<void> {
    if (e.type === 'ConfChange') {
      const cc = decodeConfChange(e.data)
      if (cc.context.length > 0) return this.applyMembershipChange(e.index, cc, answers)
      this.confState = this.node.applyConfChange(cc)
      await this.kv.write().end({ consistentIndex: e.index })
      return
    }
    // the empty entry a new leader appends
    assert(e.data.length === 0, 'a control entry is a conf change or empty')
    await this.kv.write().end({ consistentIndex: e.index })
    // etcd promotes the lessor once the leader has applied every entry of the previous terms
    if (this.raftState === 'Leader') this.lessor.promote(this.cfg.clock.now(), this.electionTimeoutMs())
  }

  /** Applies a decoded request through the full (asynchronous) path. */
  private async applyRequest(req: InternalRequest, index: number, answers: (() => void)[]): Promise<void> {
    let outcome: Outcome
    let events: readonly Event[] = []
    try {
      this.checkAlarmsOnApply(req)
      const r = 'alarm' in req || 'memberUpdate' in req ? await this.applyClusterRequest(req, index) : await this.applier.apply(req, index)
      outcome = { ok: true, value: r.response }
      events = r.events
    } catch (err) {
      if (!(err instanceof EtcdError)) throw err
      // etcd's answer to this request; nothing was written, but the entry counts as applied
      await this.kv.write().end({ consistentIndex: index })
      outcome = { ok: false, error: err }
    }
    this.settleApplied(req, index, outcome, events, answers)
  }

  /** After a request is applied: reports its events and queues the answer to its proposer, if this member proposed it. */
  private settleApplied(req: InternalRequest, index: number, outcome: Outcome, events: readonly Event[], answers: (() => void)[]): void {
    if (events.length > 0) this.cfg.onEvent?.({ type: 'applied', memberId: this.id, index, events })
    this.answer(req.header, outcome, answers)
  }

  private notifyApplied(): void {
    if (this.appliedWaiters.length === 0) return
    const ready = this.appliedWaiters.filter((w) => w.index <= this.appliedIndex)
    this.appliedWaiters = this.appliedWaiters.filter((w) => w.index > this.appliedIndex)
    for (const w of ready) w.resolve()
  }

  private onSoftState(ss: SoftState): void {
    this.raftState = ss.raftState
    // etcd's updateLeadership: a member that does not lead keeps every lease forever
    if (ss.raftState !== 'Leader' && this.lessor.isPrimary) this.lessor.demote()
    if (ss.lead === this.lead) return
    const previous = this.lead
    this.lead = ss.lead
    if (ss.lead !== NONE) {
      const waiters = this.leaderWaiters
      this.leaderWaiters = []
      for (const w of waiters) {
        w.timer.cancel()
        w.resolve()
      }
      this.cfg.onEvent?.({ type: 'leader', memberId: this.id, leaderId: ss.lead, term: this.term })
    }
    if (previous !== NONE) {
      // ReadIndex rounds sent to the old leader will not be answered
      for (const [key, waiters] of this.readsInFlight) {
        this.readsInFlight.delete(key)
        for (const w of waiters) w.reject(etcdError('LeaderChanged'))
      }
    }
  }

  // --- requests ---

  /** The header etcd puts on a response served by this member. */
  header(revision: number): ResponseHeader {
    return { clusterId: this.clusterId, memberId: this.id, revision, raftTerm: this.term }
  }

  private assertRunning(): void {
    if (this.stopped) throw etcdError('Stopped')
  }

  private waitForLeader(): Promise<void> {
    if (this.lead !== NONE) return Promise.resolve()
    return new Promise((resolve, reject) => {
      const w = {
        resolve,
        reject,
        timer: this.cfg.clock.setTimer(this.cfg.timing.requestTimeoutMs, () => {
          this.leaderWaiters = this.leaderWaiters.filter((x) => x !== w)
          reject(etcdError('NoLeader'))
        }),
      }
      this.leaderWaiters.push(w)
    })
  }

  /**
   * Proposes `body` through Raft and resolves with its applied response; with
   * `memberHeader`, the response's header becomes this member's ({@link Pending}).
   * Never throws: every failure is a rejection.
   */
  private propose<T>(body: InternalRequestBody, token?: string, memberHeader = false): Promise<T> {
    try {
      this.assertRunning()
      // etcd's processInternalRaftRequestOnce: the sender's credentials ride in the entry's header
      const ai = token === undefined ? undefined : this.authStore.authInfo(token)
      const id = `${this.incarnation}.${++this.counter}`
      const req: InternalRequest = { header: { memberId: this.id, id, ...(ai ? { username: ai.username, authRevision: ai.revision } : {}) }, ...body }
      const data = encodeRecord(req, true)
      // the common case (within quota, a leader known) waits for neither, and the caller
      // gets the answer's own promise: no async wrapper, no turn of the microtask queue
      // between the call and the queued proposal
      const quota = this.checkQuota(body, data.length)
      if (quota !== undefined || this.lead === NONE) return this.proposeWhenReady<T>(id, data, quota, memberHeader)
      // the proposal reaches Raft at the next flushProposals, which runs the Ready loop itself
      return this.submit<T>(id, () => this.queueProposal(id, data), false, memberHeader)
    } catch (err) {
      return Promise.reject(err)
    }
  }

  /** The rest of {@link propose} when the write must first wait for the quota check or a leader. */
  private async proposeWhenReady<T>(id: string, data: Uint8Array, quota: Promise<void> | undefined, memberHeader: boolean): Promise<T> {
    if (quota !== undefined) await quota
    if (this.lead === NONE) await this.waitForLeader()
    this.assertRunning()
    return this.submit<T>(id, () => this.queueProposal(id, data), false, memberHeader)
  }

  /**
   * Queues a proposal for the next {@link flushProposals}, on a microtask: every request that
   * arrives meanwhile goes to Raft in one message, so the leader appends them together and
   * replicates them in one round of messages (etcd batches proposals the same way between
   * Raft ticks). Without this, 64 concurrent puts cost 64 rounds of appends and replies.
   */
  private queueProposal(id: string, data: Uint8Array): void {
    this.proposals.push({ id, data })
    if (this.proposals.length === 1) queueMicrotask(() => this.flushProposals())
  }

  /** Hands the queued proposals to Raft; when Raft refuses them (no leader, a transfer), each fails as {@link submit} would. */
  private flushProposals(): void {
    const batch = this.proposals
    if (batch.length === 0) return
    this.proposals = []
    try {
      if (this.stopped) throw etcdError('Stopped')
      this.node.proposeAll(batch.map((p) => p.data))
    } catch (err) {
      const reason = err instanceof RaftError ? etcdError(this.lead === NONE ? 'NoLeader' : 'LeaderChanged', { cause: err }) : err
      for (const { id } of batch) {
        const p = this.pending.get(id)
        if (p === undefined) continue
        this.pending.delete(id)
        p.reject(reason)
      }
      return
    }
    this.kick()
  }

  /**
   * Registers request `id` as pending (answered when its entry is applied here, or failed after
   * the request timeout), hands it to Raft with `send`, and undoes the registration when Raft
   * refuses it (no leader, a leadership transfer: etcd's Unavailable errors).
   */
  private submit<T>(id: string, send: () => void, kick = true, memberHeader = false): Promise<T> {
    const timeout = this.cfg.timing.requestTimeoutMs
    const result = new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, deadline: this.cfg.clock.now() + timeout, memberHeader })
    })
    if (this.pendingTimer === undefined) this.armPendingTimer(timeout)
    try {
      send()
    } catch (err) {
      this.pending.delete(id)
      if (err instanceof RaftError) throw etcdError(this.lead === NONE ? 'NoLeader' : 'LeaderChanged', { cause: err })
      throw err
    }
    if (kick) this.kick()
    return result
  }

  /**
   * One timer for every proposal's timeout rather than one each: all wait the same
   * request timeout, so `pending` (in submission order) is in deadline order too. The
   * timer is due at the oldest proposal's deadline; it fails the proposals whose deadline
   * has come and is armed again for the next one.
   */
  private armPendingTimer(ms: number): void {
    this.pendingTimer = this.cfg.clock.setTimer(ms, () => {
      this.pendingTimer = undefined
      const now = this.cfg.clock.now()
      for (const [id, p] of this.pending) {
        // (a sub-microsecond tolerance: `now + (deadline - now)` may round below the deadline)
        if (p.deadline - now > 1e-6) {
          this.armPendingTimer(p.deadline - now)
          return
        }
        this.pending.delete(id)
        p.reject(etcdError(this.lead === NONE ? 'TimeoutDueToLeaderFail' : 'Timeout'))
      }
    })
  }

  /** Waits until this member may serve a linearizable read: a ReadIndex round confirmed by a quorum, then applied up to its index. */
  private async linearizableRead(): Promise<void> {
    this.assertRunning()
    await this.waitForLeader()
    await new Promise<void>((resolve, reject) => {
      this.readBatch.push({ resolve, reject })
      if (!this.readBatchScheduled) {
        this.readBatchScheduled = true
        // every read that arrives before the round starts shares it (etcd batches reads the same way)
        queueMicrotask(() => this.startReadRound())
      }
    })
  }

  private startReadRound(): void {
    this.readBatchScheduled = false
    const waiters = this.readBatch
    this.readBatch = []
    if (waiters.length === 0) return
    if (this.stopped) {
      for (const w of waiters) w.reject(etcdError('Stopped'))
      return
    }
    const key = `${this.incarnation}.r${++this.readCounter}`
    const ctx = new TextEncoder().encode(key)
    const timer = this.cfg.clock.setTimer(this.cfg.timing.requestTimeoutMs, () => {
      retry.cancel()
      const ws = this.readsInFlight.get(key)
      if (ws) {
        this.readsInFlight.delete(key)
        for (const w of ws) w.reject(etcdError('Timeout'))
        return
      }
      // answered, but this member has not applied up to the read index in time
      const parked = this.appliedWaiters.filter((w) => w.key === key)
      if (parked.length === 0) return
      this.appliedWaiters = this.appliedWaiters.filter((w) => w.key !== key)
      for (const w of parked) w.reject(etcdError('Timeout'))
    })
    // The ReadIndex request or its answer can be lost (a dropped message, a cut link): ask
    // again with the same ctx until answered, as etcd does every readIndexRetryTime.
    const retry = this.cfg.clock.every(this.readIndexRetryMs(), () => {
      if (this.stopped || !this.readsInFlight.has(key)) return retry.cancel()
      this.node.readIndex(ctx)
      this.kick()
    })
    const done = (): void => {
      timer.cancel()
      retry.cancel()
    }
    this.readsInFlight.set(key, waiters.map((w) => ({ resolve: () => { done(); w.resolve() }, reject: (e) => { done(); w.reject(e) } })))
    this.node.readIndex(ctx)
    this.kick()
  }

  /** How long a ReadIndex round waits for its answer before asking again (etcd: 500 ms, half its default election timeout). */
  private readIndexRetryMs(): number {
    const t = this.cfg.timing
    return Math.max(t.tickMs, Math.floor((t.electionTicks * t.tickMs) / 2))
  }

  private onReadState(rs: ReadState): void {
    const key = new TextDecoder().decode(rs.requestCtx)
    const waiters = this.readsInFlight.get(key)
    if (!waiters) return
    this.readsInFlight.delete(key)
    const done = () => {
      for (const w of waiters) w.resolve()
    }
    if (this.appliedIndex >= rs.index) done()
    else {
      // parked until applied: the member stopping must fail these reads too (halt), or they would hang
      const fail = (err: unknown) => {
        for (const w of waiters) w.reject(err)
      }
      this.appliedWaiters.push({ index: rs.index, key, resolve: done, reject: fail })
    }
  }

  /** Serves a range (etcd `EtcdServer.Range`): linearizable unless `serializable`. */
  async range(r: RangeRequest, token?: string): Promise<RangeResponse> {
    if (!r.serializable) await this.linearizableRead()
    this.assertRunning()
    const ai = this.authStore.authInfo(token)
    checkRange(this.authStore, ai, r)
    const resp = await this.applier.range(r)
    this.checkStaleAuth(ai)
    resp.header = this.header(resp.header.revision)
    return resp
  }

  /** Serves a put through Raft. */
  put(r: PutRequest, token?: string): Promise<PutResponse> {
    return this.propose<PutResponse>({ put: r }, token, true)
  }

  /** Serves a delete through Raft. */
  deleteRange(r: DeleteRangeRequest, token?: string): Promise<DeleteRangeResponse> {
    return this.propose<DeleteRangeResponse>({ deleteRange: r }, token, true)
  }

  /** Serves a txn: read-only txns are reads (no Raft entry), others go through Raft. */
  txn(r: TxnRequest, token?: string): Promise<TxnResponse> {
    return isTxnReadonly(r) ? this.readTxn(r, token) : this.propose<TxnResponse>({ txn: r }, token, true)
  }

  /** A read-only txn, served from this member's state (after a ReadIndex round unless every read is serializable). */
  private async readTxn(r: TxnRequest, token: string | undefined): Promise<TxnResponse> {
    const serializable = r.success.concat(r.failure).every((op) => 'requestRange' in op && op.requestRange.serializable)
    if (!serializable) await this.linearizableRead()
    this.assertRunning()
    const ai = this.authStore.authInfo(token)
    checkTxn(this.authStore, ai, r)
    const resp = (await this.applyLock.run(() => this.applier.txn(r, undefined))).response
    this.checkStaleAuth(ai)
    resp.header = this.header(resp.header.revision)
    return resp
  }

  /** Serves a compaction through Raft. */
  async compact(r: CompactionRequest, token?: string): Promise<CompactionResponse> {
    const resp = await this.propose<CompactionResponse>({ compaction: r }, token)
    // etcd: with physical, the response waits until this member deleted the compacted records
    if (r.physical) await this.kv.physicallyCompacted()
    resp.header = this.header(this.kv.rev)
    return resp
  }

  // --- auth ---

  /** etcd's doSerialize: a read served while the auth store changed is refused, as its permissions may be gone. */
  private checkStaleAuth(ai: AuthInfo): void {
    if (ai.revision !== 0 && ai.revision !== this.authStore.revision) throw etcdError('AuthOldRevision')
  }

  /**
   * Proposes an auth request through Raft (etcd's `Auth*` RPCs) with the sender's token;
   * passwords in it are already hashed. Resolves with the response (header and fields).
   */
  async auth<T>(r: AuthRequest, token?: string): Promise<T & { header: ResponseHeader }> {
    const resp = await this.propose<T & { header: ResponseHeader }>({ auth: r }, token)
    resp.header = this.header(resp.header.revision)
    return resp
  }

  /**
   * Authenticates (etcd `EtcdServer.Authenticate`): checks the password here, then proposes
   * only the user name and a random token prefix; the applied token is `prefix.index`. Retries
   * when the auth store changed while the password was checked.
   */
  async authenticate(r: { name: string; password: string }): Promise<{ header: ResponseHeader; token: string }> {
    await this.linearizableRead()
    for (;;) {
      this.assertRunning()
      const checked = await this.authStore.checkPassword(r.name, r.password, verifyPassword)
      this.tokenRandom ??= this.cfg.random.fork(`auth-tokens/${this.incarnation}`)
      let prefix = ''
      for (let i = 0; i < 16; i++) prefix += TOKEN_LETTERS[this.tokenRandom.int(TOKEN_LETTERS.length)]
      const resp = await this.auth<{ token: string }>({ authenticate: { name: r.name, simpleToken: prefix } })
      if (checked === this.authStore.revision) return resp
    }
  }

  /** Throws etcd's error unless the token's user may watch [key, rangeEnd) (etcd `isWatchPermitted`: READ on the range). */
  checkWatchPermitted(token: string | undefined, key: Uint8Array, rangeEnd: Uint8Array): void {
    checkRange(this.authStore, this.authStore.authInfo(token), { key, rangeEnd })
  }

  /** The member's auth store (read-only use: tests, status). */
  get authState(): AuthStore {
    return this.authStore
  }

  // --- leases ---

  /** Grants a lease through Raft (etcd `LeaseGrant`); id `'0'` draws a positive int63 id first, as etcd does before proposing. */
  async leaseGrant(r: LeaseGrantRequest, token?: string): Promise<LeaseGrantResponse> {
    let id = r.id
    while (id === '0' || (r.id === '0' && this.lessor.exists(id))) id = (this.leaseIds.uint64() & ((1n << 63n) - 1n)).toString()
    const resp = await this.propose<LeaseGrantResponse>({ leaseGrant: { ttl: r.ttl, id } }, token)
    resp.header = this.header(resp.header.revision)
    return resp
  }

  /** Revokes a lease through Raft, deleting its keys in one revision (etcd `LeaseRevoke`). */
  async leaseRevoke(r: LeaseRevokeRequest, token?: string): Promise<LeaseRevokeResponse> {
    const resp = await this.propose<LeaseRevokeResponse>({ leaseRevoke: r }, token)
    resp.header = this.header(resp.header.revision)
    return resp
  }

  /**
   * Renews a lease on the leader (etcd `LeaseRenew`): not a Raft entry; a follower forwards
   * it to the leader. Throws `LeaseNotFound` for an unknown lease.
   */
  async leaseRenew(r: { id: string }): Promise<LeaseKeepAliveResponse> {
    await this.clearLeaseCheckpoint(r.id)
    const ttl = await this.onLeader((leader) => leader.lessor.renew(r.id, leader.cfg.clock.now()))
    return { header: this.header(this.kv.rev), id: r.id, ttl }
  }

  /** A lease's remaining TTL as the leader sees it (etcd `LeaseTimeToLive`); `LeaseNotFound` when unknown. */
  async leaseTimeToLive(r: LeaseTimeToLiveRequest): Promise<LeaseTimeToLiveResponse> {
    const resp = await this.onLeader((leader) => {
      const lease = leader.lessor.lookup(r.id)
      if (lease === undefined) throw etcdError('LeaseNotFound')
      return {
        id: r.id,
        ttl: leader.lessor.remaining(lease, leader.cfg.clock.now()),
        grantedTtl: lease.ttl,
        keys: r.keys ? leader.lessor.sortedKeys(r.id) : [],
      }
    })
    return { header: this.header(this.kv.rev), ...resp }
  }

  /** Every lease this member knows (etcd `LeaseLeases`, served locally). */
  async leaseLeases(): Promise<LeaseLeasesResponse> {
    this.assertRunning()
    return { header: this.header(this.kv.rev), leases: this.lessor.list().map((l) => ({ id: l.id })) }
  }

  /**
   * Runs `fn` on the leader's lessor: here if this member leads, else on the leader when the
   * network lets this member reach it (etcd forwards over peer HTTP). Retries every tick
   * while there is no reachable primary (a new leader not yet promoted, an expired lease
   * whose revoke is pending) until the request timeout.
   */
  private async onLeader<T>(fn: (leader: Member) => T): Promise<T> {
    this.assertRunning()
    const { clock, network, timing } = this.cfg
    const deadline = clock.now() + timing.requestTimeoutMs
    for (;;) {
      this.assertRunning()
      const leader = this.lead === NONE ? undefined : this.lead === this.id ? this : this.cfg.peer?.(this.lead)
      if (leader !== undefined && !leader.isStopped && (leader === this || (network.canReach(this.name, leader.name) && network.canReach(leader.name, this.name)))) {
        try {
          return fn(leader)
        } catch (err) {
          // not the primary yet, or an expired lease awaiting its revoke: etcd retries until the deadline
          if (!(err instanceof NotPrimaryError || err instanceof LeaseExpiredError)) throw err
        }
      }
      if (clock.now() >= deadline) throw etcdError(this.lead === NONE ? 'NoLeader' : 'Timeout')
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          this.sleepers.delete(wake)
          timer.cancel()
          resolve()
        }
        const timer = clock.setTimer(timing.tickMs, wake)
        this.sleepers.add(wake)
      })
    }
  }

  /** On the primary, proposes a revoke for every expired lease (etcd's revokeExpiredLeases and the server's revoke loop). */
  private revokeExpiredLeases(): void {
    if (this.stopped || this.raftState !== 'Leader') return
    for (const id of this.lessor.takeExpired(this.cfg.clock.now())) {
      // fire and forget, as etcd's revoke goroutines: a revoke that fails is proposed again after EXPIRED_RETRY_MS
      void this.propose({ leaseRevoke: { id } }).catch(() => undefined)
    }
    this.checkpointScheduledLeases()
  }

  /** On the primary, proposes the due lease checkpoints in batches (etcd's checkpointScheduledLeases). */
  private checkpointScheduledLeases(): void {
    for (let i = 0; i < CHECKPOINT_BATCHES_PER_ROUND; i++) {
      const checkpoints = this.lessor.takeDueCheckpoints(this.cfg.clock.now(), MAX_CHECKPOINT_BATCH)
      // fire and forget, as etcd's checkpointer: a lost one is proposed again an interval later
      if (checkpoints.length > 0) void this.propose({ leaseCheckpoint: { checkpoints } }).catch(() => undefined)
      if (checkpoints.length < MAX_CHECKPOINT_BATCH) return
    }
  }

  /**
   * On the leader, proposes the remaining TTL of every lease whose record is out of date and
   * waits until they are applied (a graceful close, so a reopen restores exact remaining
   * TTLs); `undefined` when there is nothing to propose (not the leader, records up to
   * date). Never rejects: a checkpoint that fails leaves the last periodic one in force, as
   * a crash would.
   */
  checkpointLeases(): Promise<void> | undefined {
    if (this.stopped || this.raftState !== 'Leader') return undefined
    const all = this.lessor.pendingCheckpoints(this.cfg.clock.now())
    if (all.length === 0) return undefined
    const proposals: Promise<unknown>[] = []
    for (let i = 0; i < all.length; i += MAX_CHECKPOINT_BATCH) {
      // a failed checkpoint is what a crash leaves; nothing to report to the closing caller
      proposals.push(this.propose({ leaseCheckpoint: { checkpoints: all.slice(i, i + MAX_CHECKPOINT_BATCH) } }).catch(() => undefined))
    }
    return Promise.all(proposals).then(() => undefined)
  }

  /**
   * etcd's Renew: a lease with a checkpointed remaining TTL has it cleared through Raft (and
   * the renew waits for it) so that a later promotion gives the renewed lease its full TTL.
   */
  private async clearLeaseCheckpoint(id: string): Promise<void> {
    const leader = await this.onLeader((l) => (l.lessor.renewClears(id) ? l : undefined))
    // etcd ignores the checkpointer's error too; the renew below reports the lease's state
    if (leader !== undefined) await leader.propose({ leaseCheckpoint: { checkpoints: [{ id, remainingTtl: 0 }] } }).catch(() => undefined)
  }

  /** The member's lessor (read-only use: tests, status). */
  get leases(): Lessor {
    return this.lessor
  }

  // --- cluster membership (etcd's RaftCluster and the Cluster service) ---

  /** Makes Raft's configuration match the replicated member list (after a restart or a snapshot). */
  private reconcileConfState(): void {
    if (this.cluster.size === 0) return
    const want = new Map(this.cluster.list().map((m) => [m.id, m.isLearner]))
    const have = this.node.status().config
    const apply = (type: 'AddNode' | 'AddLearnerNode' | 'RemoveNode', nodeId: string) => {
      this.confState = this.node.applyConfChange({ type, nodeId, context: new Uint8Array(0) })
    }
    for (const [id, learner] of want) {
      if (learner && !have.learners.includes(id)) apply('AddLearnerNode', id)
      if (!learner && !have.voters.includes(id)) apply('AddNode', id)
    }
    for (const id of [...have.voters, ...have.learners]) if (!want.has(id)) apply('RemoveNode', id)
    this.confState = this.node.status().config
  }

  /**
   * The metadata a snapshot is sent with (etcd's createMergedSnapshotMessage): the index the
   * dumped state was taken at and the membership in force there, so a member added after the
   * last local snapshot finds itself in it.
   */
  private mergedSnapshotMetadata(data: Uint8Array, fallback: SnapshotMetadata): SnapshotMetadata {
    const index = decodeRecord<StateDump>(data).consistentIndex
    if (index <= fallback.index) return fallback
    try {
      return { index, term: this.memory.term(index), confState: this.confState }
    } catch (err) {
      // the dumped index left the in-memory log (cannot happen while the dump holds the apply lock); send the stored metadata
      if (!(err instanceof RaftError)) throw err
      return fallback
    }
  }

  private async applyMembershipChange(index: number, cc: ConfChange, answers: (() => void)[]): Promise<void> {
    const rec = decodeRecord<{ header: RequestHeader; change: MembershipChange }>(cc.context)
    let outcome: Outcome
    try {
      // etcd validates at apply; a refused change is applied to Raft as a no-op
      this.cluster.validate(rec.change)
      this.confState = this.node.applyConfChange(cc)
      const ops = this.cluster.apply(rec.change)
      await this.kv.write().end({ consistentIndex: index, extra: ops })
      outcome = { ok: true, value: { header: this.header(this.kv.rev), members: this.cluster.list() } }
      this.cfg.onEvent?.({ type: 'membership', memberId: this.id, members: this.cluster.list() })
      if (rec.change.type === 'remove' && rec.change.id === this.id) this.scheduleRemovalStop()
    } catch (err) {
      if (!(err instanceof EtcdError || err instanceof RaftError)) throw err
      await this.kv.write().end({ consistentIndex: index })
      outcome = { ok: false, error: err instanceof EtcdError ? err : etcdError('MemberNotFound', { cause: err }) }
    }
    this.answer(rec.header, outcome, answers)
  }

  /** Queues the answer to request `header.id` when this member proposed it and still waits for it. */
  private answer(header: RequestHeader, outcome: Outcome, answers: (() => void)[]): void {
    if (header.memberId !== this.id) return
    const p = this.pending.get(header.id)
    if (!p) return
    this.pending.delete(header.id)
    if (!outcome.ok) {
      answers.push(() => p.reject(outcome.error))
      return
    }
    const value = outcome.value
    if (p.memberHeader) {
      // the header of the member that answers, made when it answers (after the batch is stored)
      answers.push(() => {
        const resp = value as { header: ResponseHeader }
        resp.header = this.header(resp.header.revision)
        p.resolve(resp)
      })
    } else answers.push(() => p.resolve(value))
  }

  private removalTimer: TimerHandle | undefined

  /** A removed member keeps running ten ticks so the commit reaches the others, then stops (etcd's stopWithDelay). */
  private scheduleRemovalStop(): void {
    if (this.removalTimer !== undefined) return
    this.removalTimer = this.cfg.clock.setTimer(10 * this.cfg.timing.tickMs, () => {
      if (!this.stopped) this.cfg.onEvent?.({ type: 'removed', memberId: this.id })
    })
  }

  /** Proposes a membership change as a Raft conf change whose context carries the change; resolves once applied here. */
  private async proposeConfChange<T>(type: ConfChange['type'], nodeId: string, change: MembershipChange): Promise<T> {
    this.assertRunning()
    await this.waitForLeader()
    this.assertRunning()
    const id = `${this.incarnation}.${++this.counter}`
    const context = encodeRecord({ header: { memberId: this.id, id }, change })
    return this.submit<T>(id, () => this.node.proposeConfChange({ type, nodeId, context }))
  }

  /** Is member `id` running and reachable both ways from here (etcd: its transport is active)? */
  private isStarted(id: string): boolean {
    if (id === this.id) return !this.stopped
    const peer = this.cfg.peer?.(id)
    if (peer === undefined || peer.isStopped) return false
    return this.cfg.network.canReach(this.name, peer.name) && this.cfg.network.canReach(peer.name, this.name)
  }

  /** The running leader this member can reach, or undefined. */
  private reachableLeader(): Member | undefined {
    if (this.lead === NONE) return undefined
    if (this.lead === this.id) return this
    return this.isStarted(this.lead) ? this.cfg.peer?.(this.lead) : undefined
  }

  /** The member list this member applied (etcd `MemberList`, served locally). */
  memberList(): { header: ResponseHeader; members: ClusterMember[] } {
    this.assertRunning()
    return { header: this.header(this.kv.rev), members: this.cluster.list() }
  }

  /** Member `id` of this member's applied list. */
  clusterMember(id: string): ClusterMember | undefined {
    return this.cluster.get(id)
  }

  /**
   * Adds `member` through a Raft conf change (etcd `AddMember`): a voter only when enough
   * voters are started to keep a quorum (etcd's strict reconfig check).
   */
  async memberAdd(member: ClusterMember): Promise<{ header: ResponseHeader; members: ClusterMember[] }> {
    this.assertRunning()
    this.cluster.validate({ type: 'add', member })
    if (!member.isLearner) {
      // etcd IsReadyToAddVotingMember: the started voters must be a quorum of the grown cluster
      const voters = this.cluster.voters()
      const started = voters.filter((v) => this.isStarted(v.id)).length
      if (started < Math.floor((voters.length + 1) / 2) + 1) throw etcdError('MemberNotEnoughStarted')
    }
    return this.proposeConfChange(member.isLearner ? 'AddLearnerNode' : 'AddNode', member.id, { type: 'add', member })
  }

  /**
   * Removes member `id` (etcd `RemoveMember` with `mayRemoveMember`): refused when the
   * voters left started would not make a quorum; a learner or a stopped member may always go.
   */
  async memberRemove(id: string): Promise<{ header: ResponseHeader; members: ClusterMember[] }> {
    this.assertRunning()
    const m = this.cluster.get(id)
    if (m === undefined) throw etcdError('MemberNotFound')
    if (!m.isLearner) {
      const voters = this.cluster.voters()
      const others = voters.filter((v) => v.id !== id)
      const started = others.filter((v) => this.isStarted(v.id)).length
      if (started < Math.floor(others.length / 2) + 1) throw etcdError('MemberNotEnoughStarted')
      if (id === this.id || this.isStarted(id)) {
        // protect the quorum when some members are down
        const active = voters.filter((v) => this.isStarted(v.id)).length
        if (active - 1 < 1 + Math.floor((voters.length - 1) / 2)) throw etcdError('MemberNotEnoughStarted')
      }
    }
    return this.proposeConfChange('RemoveNode', id, { type: 'remove', id })
  }

  /**
   * Promotes learner `id` to voter (etcd `PromoteMember`): only when the leader sees its log
   * match at 90% of the leader's own at least (etcd's isLearnerReady).
   */
  async memberPromote(id: string): Promise<{ header: ResponseHeader; members: ClusterMember[] }> {
    this.assertRunning()
    await this.waitForLeader()
    const leader = this.reachableLeader()
    if (leader === undefined) throw etcdError(this.lead === NONE ? 'NoLeader' : 'Timeout')
    const progress = leader.raftStatus().progress
    if (progress === undefined) throw etcdError('NotLeader')
    const learner = progress[id]
    if (learner !== undefined && learner.match < (progress[leader.id]?.match ?? 0) * 0.9) throw etcdError('LearnerNotReady')
    this.cluster.validate({ type: 'promote', id })
    return this.proposeConfChange('AddNode', id, { type: 'promote', id })
  }

  /** Changes member `id`'s peer URLs through Raft (etcd `UpdateMember`). */
  async memberUpdate(id: string, peerURLs: string[]): Promise<{ header: ResponseHeader; members: ClusterMember[] }> {
    this.assertRunning()
    this.cluster.validate({ type: 'update', id, peerURLs })
    return this.propose({ memberUpdate: { id, peerURLs } })
  }

  // --- maintenance (alarms, quota, status, hash, defragment, move leader) ---

  /** Applies an alarm or member-update entry, its changes in the entry's batch. */
  private async applyClusterRequest(req: InternalRequest, index: number): Promise<{ response: unknown; events: readonly Event[] }> {
    let ops: BackendOp[] = []
    let response: unknown
    if ('memberUpdate' in req) {
      const change: MembershipChange = { type: 'update', ...req.memberUpdate }
      this.cluster.validate(change)
      ops = this.cluster.apply(change)
      this.cfg.onEvent?.({ type: 'membership', memberId: this.id, members: this.cluster.list() })
      response = { members: this.cluster.list() }
    } else if ('alarm' in req) {
      const r = req.alarm
      const a: AlarmMember = { memberID: r.memberID, alarm: r.alarm }
      let alarms: AlarmMember[] = []
      if (r.action === 'GET') alarms = this.alarmStore.list(r.alarm)
      else if (r.action === 'ACTIVATE') {
        if (r.alarm !== 'NONE') {
          ops = this.alarmStore.activate(a)
          alarms = [a]
        }
      } else {
        const d = this.alarmStore.deactivate(a)
        ops = d.ops
        if (d.found) alarms = [a]
      }
      response = { alarms }
    }
    await this.kv.write().end({ consistentIndex: index, extra: ops })
    return { response: { header: this.header(this.kv.rev), ...(response as object) }, events: [] }
  }

  /** etcd's capped and corrupt appliers: with NOSPACE raised, writes that need space fail; with CORRUPT, every write fails. */
  private checkAlarmsOnApply(req: InternalRequest): void {
    if (this.alarmStore.has('CORRUPT') && ('put' in req || 'deleteRange' in req || 'txn' in req || 'compaction' in req || 'leaseGrant' in req || 'leaseRevoke' in req)) {
      throw etcdError('Corrupt')
    }
    if (this.alarmStore.has('NOSPACE') && needsSpace(req)) throw etcdError('NoSpace')
  }

  /** Bytes of entry data (plus overhead) this member logged: the quota's estimate grows with it. */
  private loggedBytes = 0
  /** The last exact database size and `loggedBytes` then (none: measure before the next write). */
  private spaceMeasure: { dbSize: number; loggedBytes: number } | undefined

  /**
   * etcd's quotaKVServer: a write that needs space and would take the backend past the quota
   * raises the NOSPACE alarm through Raft and fails with `etcdserver: mvcc: database space exceeded`.
   * `size` is the encoded request's length (encoded once, for the proposal too). `undefined`
   * when the write fits without measuring (the common case), else a promise of the check.
   */
  private checkQuota(body: InternalRequestBody, size: number): Promise<void> | undefined {
    const quota = this.cfg.quotaBackendBytes ?? 0
    if (quota <= 0 || !needsSpace(body)) return undefined
    // Measuring reads the whole database, so between measurements the size is bounded from
    // above: each logged entry is stored at most twice (Raft log, then applied records) plus
    // per-record overhead. Only a bound over the quota measures again, exactly.
    const m = this.spaceMeasure
    if (m !== undefined && m.dbSize + QUOTA_GROWTH_FACTOR * (this.loggedBytes - m.loggedBytes + size + QUOTA_ENTRY_OVERHEAD) + QUOTA_GROWTH_SLACK <= quota) return undefined
    return this.measureQuota(quota, size)
  }

  /** The slow half of {@link checkQuota}: measures the database, and raises NOSPACE when the write does not fit. */
  private async measureQuota(quota: number, size: number): Promise<void> {
    const loggedBytes = this.loggedBytes
    const { dbSize } = await this.dbSizes()
    this.spaceMeasure = { dbSize, loggedBytes }
    if (dbSize + size <= quota) return
    await this.propose<AlarmResponse>({ alarm: { action: 'ACTIVATE', memberID: this.id, alarm: 'NOSPACE' } }).catch((err: unknown) => {
      // etcd answers ErrNoSpace whether or not raising the alarm succeeded
      if (!(err instanceof EtcdError)) throw err
    })
    throw etcdError('NoSpace')
  }

  /** Raises, clears or lists alarms through Raft (etcd `Alarm`). */
  async alarm(r: AlarmRequest): Promise<AlarmResponse> {
    const resp = await this.propose<AlarmResponse>({ alarm: r })
    resp.header = this.header(this.kv.rev)
    return resp
  }

  /** The alarms this member applied. */
  alarms(): AlarmMember[] {
    return this.alarmStore.list()
  }

  /** Size of the member's database: on disk when the database can tell, and its live bytes. */
  async dbSizes(): Promise<{ dbSize: number; dbSizeInUse: number }> {
    await this.applyLock.run(() => this.kv.flush())
    let inUse = 0
    for await (const [k, v] of this.cfg.db.iterator({ keyEncoding: 'view', valueEncoding: 'view' }) as AsyncIterable<[Uint8Array, Uint8Array]>) inUse += k.length + v.length
    const onDisk = await this.kv.backend.size()
    return { dbSize: Math.max(onDisk ?? 0, inUse), dbSizeInUse: inUse }
  }

  /** etcd `Status` of this member. */
  async status(): Promise<StatusResponse> {
    this.assertRunning()
    const sizes = await this.dbSizes()
    const st = this.node.status()
    return {
      header: this.header(this.kv.rev),
      version: ETCD_VERSION,
      ...sizes,
      leader: this.lead,
      raftIndex: st.hardState.commit,
      raftTerm: this.term,
      raftAppliedIndex: this.appliedIndex,
      errors: this.alarmStore.list().map((a) => `memberID:${a.memberID} alarm:${a.alarm} `),
      isLearner: this.confState.learners.includes(this.id),
    }
  }

  /** etcd `HashKV` of this member's MVCC history up to `revision` (0: current). */
  async hashKV(revision: number): Promise<HashKVResponse> {
    this.assertRunning()
    const h = await this.kv.hashKV(revision)
    return { header: this.header(h.revision), hash: h.hash, compactRevision: h.compactRevision }
  }

  /**
   * Reclaims the backend's free space (etcd `Defragment`): the records of an in-memory
   * database packed into fresh memory, and a full-range compaction of the database when it
   * supports one (classic-level).
   */
  async defragment(): Promise<DefragmentResponse> {
    this.assertRunning()
    await this.applyLock.run(async () => {
      try {
        await this.kv.defragment()
        const db = this.cfg.db as Database & { compactRange?: (start: Uint8Array, end: Uint8Array, options: { keyEncoding: 'view' }) => Promise<void> }
        if (typeof db.compactRange === 'function') await db.compactRange(new Uint8Array([0]), new Uint8Array([0xff, 0xff, 0xff, 0xff]), { keyEncoding: 'view' })
      } catch (err) {
        if (err instanceof EtcdError) throw err
        // the database refused a write: stop, as for any failed write, rather than go on
        this.fail(err)
        throw etcdError('Stopped', { cause: err })
      }
    })
    return { header: this.header(this.kv.rev) }
  }

  /**
   * Hands leadership to `target` and waits until it leads (etcd `MoveLeader`): only the
   * leader may, only to a voting member.
   */
  async moveLeader(target: string): Promise<MoveLeaderResponse> {
    this.assertRunning()
    if (this.lead !== this.id) throw etcdError('NotLeader')
    const m = this.cluster.get(target)
    if (m === undefined || m.isLearner) throw etcdError('BadLeaderTransferee')
    const { clock, timing } = this.cfg
    const deadline = clock.now() + timing.requestTimeoutMs
    this.transferLeadership(target)
    while (this.lead !== target) {
      this.assertRunning()
      if (clock.now() >= deadline) throw etcdError('TimeoutLeaderTransfer')
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          this.sleepers.delete(wake)
          timer.cancel()
          resolve()
        }
        const timer = clock.setTimer(timing.tickMs, wake)
        this.sleepers.add(wake)
      })
    }
    return { header: this.header(this.kv.rev) }
  }

  // --- observation and lifecycle ---

  /** The leader this member currently follows (`'0'` when it knows none). */
  get leaderId(): string {
    return this.lead
  }

  /** This member's current Raft term. */
  get raftTerm(): number {
    return this.term
  }

  /** Highest log index applied to this member's state. */
  get applied(): number {
    return this.appliedIndex
  }

  /** The first index of the Raft log the member still holds (entries before it were compacted behind a snapshot). */
  get logFirstIndex(): number {
    return this.memory.firstIndex()
  }

  /** The member's MVCC store (read-only use: hashing, status). */
  get store(): KVStore {
    return this.kv
  }

  /** True once the member has stopped (crashed or closed). */
  get isStopped(): boolean {
    return this.stopped
  }

  /** True when nothing is left to process: no Ready pending and the loop idle. */
  get idle(): boolean {
    return this.stopped || (!this.processing && !this.node.hasReady())
  }

  /** Raft status of this member (progress of followers when it leads). */
  raftStatus(): ReturnType<RawNode['status']> {
    return this.node.status()
  }

  /** Asks Raft to hand leadership to `transferee` (etcd `MoveLeader`). */
  transferLeadership(transferee: string): void {
    this.node.transferLeader(transferee)
    this.kick()
  }

  private fail(err: unknown): void {
    // An invariant broke or the backend failed: stop this member rather than diverge.
    this.cfg.onEvent?.({ type: 'fatal', memberId: this.id, error: err })
    this.halt(err instanceof InvariantError ? etcdError('Corrupt', { cause: err }) : etcdError('Stopped', { cause: err }))
  }

  private halt(reason: EtcdError): void {
    if (this.stopped) return
    this.stopped = true
    this.ticker?.cancel()
    this.removalTimer?.cancel()
    this.cfg.network.unregister(this.name)
    this.pendingTimer?.cancel()
    this.pendingTimer = undefined
    for (const [, p] of this.pending) p.reject(reason)
    this.pending.clear()
    for (const w of this.leaderWaiters) {
      w.timer.cancel()
      w.reject(reason)
    }
    this.leaderWaiters = []
    for (const [, ws] of this.readsInFlight) for (const w of ws) w.reject(reason)
    this.readsInFlight.clear()
    for (const w of this.readBatch) w.reject(reason)
    this.readBatch = []
    for (const w of this.appliedWaiters) w.reject(reason)
    this.appliedWaiters = []
    for (const wake of [...this.sleepers]) wake()
  }

  /**
   * Stops the member at once, as a crash: it keeps only what already reached its database.
   * Waits for an in-flight database write to settle so the database can be reopened.
   */
  async stop(): Promise<void> {
    this.halt(etcdError('Stopped'))
    await this.loop.catch(() => undefined)
    await this.applyLock.run(async () => undefined)
    // waits for reads and a background compaction, so the database can be closed and reopened
    await this.kv.close().catch(() => undefined) // a store that already failed has nothing left to wait for
  }
}
