/**
 * `Store`: a whole replicated etcd cluster inside the caller's process. It opens N members
 * (each with its own Raft node, MVCC store and database), wires them over a simulated
 * network, and serves etcd's v3 API (`store.kv`) plus the etcd3-style typed layer.
 *
 * @module
 */
import type { AbstractLevel } from 'abstract-level'
import { MemoryLevel } from 'memory-level'
import { EventEmitter } from 'eventemitter3'
import { z } from 'zod'
import { ERRORS, EtcdError, InvalidArgumentError, etcdError } from './errors.js'
import { passwordsDerived } from './auth/password.js'
import type { Clock } from './sim/clock.js'
import { ManualClock, RealClock } from './sim/clock.js'
import { Random } from './sim/random.js'
import { Network } from './sim/network.js'
import { Simulation } from './sim/simulation.js'
import type { SimulationHost } from './sim/simulation.js'
import type { Message } from './raft/index.js'
import { Member } from './member/member.js'
import type { MemberEvent, MemberTiming, PeerInfo } from './member/member.js'
import type { LeaseServer } from './services/lease.js'
import { KVService, DEFAULT_KV_LIMITS } from './services/kv.js'
import type { KVLimits, KVServer } from './services/kv.js'
import type { KVApi } from './services/kv-api.js'
import { Namespace } from './client/namespace.js'
import { LeaseService } from './services/lease.js'
import type { LeaseApi } from './services/lease-api.js'
import { Lease, leaseFacade } from './client/lease.js'
import type { LeaseFacade, LeaseOptions } from './client/lease.js'
import type { Event } from './mvcc/index.js'
import { WatchableStore } from './watch/watchable-store.js'
import { WatchService, DEFAULT_WATCH_BUFFER } from './services/watch.js'
import type { WatchApi } from './services/watch-api.js'
import { WatchBuilder, watchFacade } from './client/watch-builder.js'
import type { WatchFacade } from './client/watch-builder.js'
import type { ConcurrencyClient } from './concurrency/client.js'
import type { STM, STMOptions } from './concurrency/stm.js'
import { LockService } from './services/lock.js'
import { ElectionService } from './services/election.js'
import { lockFacade } from './client/lock.js'
import type { LockFacade } from './client/lock.js'
import { electionFacade } from './client/election.js'
import type { ElectionFacade } from './client/election.js'
import { runStm } from './client/stm.js'
import type { SnapshotImageSource } from './snapshot/snapshot.js'
import { restoreStore } from './snapshot/restore.js'
import { AuthService } from './services/auth.js'
import type { AuthApi } from './services/auth-api.js'
import { NO_TOKEN, PasswordCredentials, fixedToken } from './auth/credentials.js'
import type { TokenSource } from './auth/credentials.js'
import { AuthView } from './services/auth-view.js'
import { ClusterService } from './services/cluster.js'
import type { ClusterApi, ClusterServer } from './services/cluster.js'
import { MaintenanceService } from './services/maintenance.js'
import type { MaintenanceApi } from './services/maintenance.js'
import type { ClusterMember } from './cluster/membership.js'
import { Mutex } from './member/mutex.js'

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- any abstract-level database, whatever its default encodings
/** Any abstract-level database, whatever its default encodings (each member's storage). */
export type Database = AbstractLevel<any, any, any>

/** Options of {@link Store.open}. Every field is optional. */
export interface StoreOptions {
  /** Number of members (voters): 1, 3, 5 or 7. Default 3. */
  members?: 1 | 3 | 5 | 7
  /** Creates each member's database (called with the member's name). Default: a new memory-level per member. */
  backend?: (memberName: string) => Database
  /** Keeps each member in a classic-level directory `<dataDir>/<member name>` (requires the `classic-level` package). */
  dataDir?: string
  /** `'real'` (default) for timers, `'manual'` for a clock that moves only when the caller advances it, or a Clock. */
  clock?: 'real' | 'manual' | Clock
  /** Seed of every random choice (member ids, election timeouts, network faults). Default 1. */
  seed?: number
  /** Milliseconds per Raft tick. Default 10 (etcd: 100). */
  tickMs?: number
  /** Ticks before a follower without a leader campaigns. Default 10. */
  electionTicks?: number
  /** Ticks between heartbeats. Default 1. */
  heartbeatTicks?: number
  /** How long a request may wait for a leader, a commit or a read. Default 5000 ms plus two election timeouts. */
  requestTimeoutMs?: number
  /** Applied entries between Raft snapshots. Default 10000. */
  snapshotCount?: number
  /** Request limits (etcd's `--max-request-bytes`, `--max-txn-ops`). */
  limits?: Partial<KVLimits>
  /** Period of watch progress notifications (`progressNotify` watches), in ms of the store's clock. Default 600000 (etcd: 10 minutes). */
  watchProgressNotifyMs?: number
  /** Event responses a watch stream buffers before its watcher is slow and catches up from history later (etcd's 128). */
  watchBufferSize?: number
  /** Backend bytes per member above which writes raise the NOSPACE alarm (etcd `--quota-backend-bytes`). Default 0: no quota. */
  quotaBackendBytes?: number
  /** With `password`: the default views (`store.kv`, `store.get(...)`, ...) authenticate as this user (etcd client `--user`). */
  user?: string
  /** The password of `user`. */
  password?: string
  /**
   * How long an auth token stays valid while unused, in ms of the store's clock (etcd's
   * `--auth-token-ttl`, 300 s by default); each request made with it starts the time again.
   * Views opened with `user` and `password` authenticate again when theirs expires.
   */
  authTokenTtlMs?: number
  /**
   * How often the leader checkpoints each lease's remaining TTL through Raft, in ms of the
   * store's clock (etcd's `--experimental-lease-checkpoint-interval`). Default 300000 (5
   * minutes). A new leader, or a reopen after a crash, resumes a lease from its last
   * checkpoint; a graceful `close()` checkpoints every lease first.
   */
  leaseCheckpointIntervalMs?: number
}

const optionsSchema = z.strictObject({
  members: z.union([z.literal(1), z.literal(3), z.literal(5), z.literal(7)]).optional(),
  backend: z.function().optional(),
  dataDir: z.string().min(1).optional(),
  clock: z.union([z.literal('real'), z.literal('manual'), z.custom<Clock>((v) => typeof v === 'object' && v !== null && 'setTimer' in v && 'now' in v)]).optional(),
  seed: z.number().int().refine(Number.isSafeInteger).optional(),
  tickMs: z.number().positive().optional(),
  electionTicks: z.number().int().min(2).optional(),
  heartbeatTicks: z.number().int().min(1).optional(),
  requestTimeoutMs: z.number().positive().optional(),
  snapshotCount: z.number().int().min(1).optional(),
  watchProgressNotifyMs: z.number().positive().optional(),
  watchBufferSize: z.number().int().positive().optional(),
  user: z.string().optional(),
  password: z.string().optional(),
  quotaBackendBytes: z.number().int().min(0).optional(),
  authTokenTtlMs: z.number().positive().optional(),
  leaseCheckpointIntervalMs: z.number().positive().optional(),
  limits: z
    .strictObject({ maxRequestBytes: z.number().int().positive().optional(), maxTxnOps: z.number().int().positive().optional() })
    .optional(),
})

/** Cluster events a Store emits (`store.on('leader', ...)`). */
export interface StoreEvents {
  /** A member learned of a new leader. */
  leader: (e: { memberId: string; member: string; leaderId: string; leader: string | undefined; term: number }) => void
  /** A member stopped on a broken invariant or a backend failure. */
  fatal: (e: { memberId: string; member: string; error: unknown }) => void
  /** A member crashed (`store.sim.crash`). */
  down: (e: { member: string }) => void
  /** A member restarted (`store.sim.restart`). */
  up: (e: { member: string }) => void
  /** A member applied a revision's changes (internal: the watch layer listens to it). */
  applied: (e: { member: string; index: number; events: readonly Event[] }) => void
}

/** One member as a client sees it: its endpoint (`kv`) and identity. */
export interface MemberHandle {
  /** The member's name (`m1`, ...), as the simulation addresses it. */
  readonly name: string
  /** The member's 64-bit id, a decimal string (etcd's member ID). */
  readonly id: string
  /** etcd's KV service served by this member alone, as a client connected to this endpoint. */
  readonly kv: KVApi
  /** etcd's Lease service served by this member (renewals forwarded to the leader, as etcd does). */
  readonly lease: LeaseApi
  /** etcd's Watch service served by this member alone. */
  readonly watch: WatchApi
  /** etcd's Cluster service asked through this member. */
  readonly cluster: ClusterApi
  /** etcd's Maintenance service of this member (its status, hash, alarms). */
  readonly maintenance: MaintenanceApi
}

interface Slot {
  name: string
  id: string
  db: Database
  ownsDb: boolean
  member: Member | undefined
  /** Added to a running cluster: starts empty and catches up from a snapshot. */
  join?: boolean
  /** The member is being opened: a restart or crash meanwhile waits for it (one member per slot). */
  starting?: Promise<void>
  /** Removed from the cluster: stopped for good. */
  removed?: boolean
}

const DEFAULT_SEED = 1

/** The ids a member database was created with (etcd's member and cluster ids in its data dir). */
interface ClusterIdentity {
  clusterId: string
  members: { name: string; id: string }[]
  /** Raft index of the membership change that produced this list (absent: the bootstrap list). */
  version?: number
}

const IDENTITY_KEY = 'identity'

/**
 * Where a member database keeps its {@link ClusterIdentity}. The name starts with `raft` so
 * that snapshots, which carry every bucket but the member's own Raft state, never copy one
 * member's identity onto another.
 */
function identityBucket(db: Database) {
  return db.sublevel<string, string>('raft-identity', { keyEncoding: 'utf8', valueEncoding: 'utf8' })
}

function invalidOption(why: string): InvalidArgumentError {
  return new InvalidArgumentError(`pocket-etcd: invalid Store options: ${why}`, 'InvalidArgument', 'ErrInvalidRequest')
}

/**
 * A replicated etcd cluster in the caller's process, with etcd's v3 API (`store.kv`), the
 * etcd3-style typed layer (`store.get(...)`, `store.put(...)`, ...) and fault control
 * (`store.sim`). Open one with {@link Store.open}; `close()` releases everything.
 */
export class Store extends Namespace {
  /** Time, network and crash control (see {@link Simulation}). */
  readonly sim: Simulation<Message>
  /** The cluster's id, a decimal string. */
  readonly clusterId: string
  private readonly slots: Slot[]
  private readonly emitter = new EventEmitter<StoreEvents>()
  private readonly clockOwned: boolean
  private readonly limits: KVLimits
  private readonly timing: MemberTiming
  private readonly random: Random
  private readonly network: Network<Message>
  private readonly clockRef: Clock
  private closed = false
  /** Typed leases still kept alive; released on close. */
  private readonly liveLeases = new Set<Lease>()
  /**
   * etcd's Lease service (`store.lease.grant({ ttl })`, `revoke`, `keepAliveOnce`,
   * `timeToLive`, `leases`), and the factory of typed, kept-alive leases: `store.lease(10)`.
   */
  readonly lease: LeaseFacade
  /**
   * etcd's Watch service (`store.watch.watch({ key, rangeEnd, startRevision, ... })`, a stream
   * of WatchResponses) and etcd3's builder: `store.watch().prefix('user/').create()` gives a
   * {@link Watcher} that resumes on another member if its member stops.
   */
  readonly watch: WatchFacade
  /**
   * etcd's Lock service (`store.lock.lock({ name, lease })`, `unlock({ key })`) and a lock
   * builder on etcd's mutex: `await store.lock('jobs/nightly').do(async () => ...)`.
   */
  readonly lock: LockFacade
  /**
   * etcd's Election service (`store.election.campaign({ name, lease, value })`, `proclaim`,
   * `leader`, `observe`, `resign`) and a candidate handle: `store.election('db').campaign('me')`.
   */
  readonly election: ElectionFacade
  /** The watch side of each running member, by member name (created on the first watch it serves). */
  private readonly watchables = new Map<string, WatchableStore>()
  private watchOptions = { progressNotifyMs: 600_000, bufferSize: DEFAULT_WATCH_BUFFER }
  /** The credentials of the default views (none unless `Store.open({ user, password })`). */
  private defaultTokens: TokenSource = NO_TOKEN
  /** Delegates to {@link defaultTokens}, so services built before the credentials exist use them. */
  private readonly tokenSource: TokenSource = { run: (send) => this.defaultTokens.run(send) }
  /** etcd's Auth service (`authEnable`, `authenticate`, `userAdd`, `roleGrantPermission`, ...), with the default views' credentials. */
  readonly auth: AuthApi = new AuthService(() => this.endpoint() as Member, () => this.clockRef.hold?.() ?? (() => undefined), this.tokenSource)
  /** etcd's Cluster service (`memberList`, `memberAdd`, `memberRemove`, `memberUpdate`, `memberPromote`), asked through the leader. */
  readonly cluster: ClusterApi = new ClusterService(() => this.clusterServer(() => this.endpoint() as Member), () => this.clockRef.hold?.() ?? (() => undefined))
  /** etcd's Maintenance service (`status`, `hashKV`, `defragment`, `moveLeader`, `alarm`), served by the leader. */
  readonly maintenance: MaintenanceApi = new MaintenanceService(() => this.endpoint() as Member, () => this.clockRef.hold?.() ?? (() => undefined))
  private storeOptions: StoreOptions = {}
  private readonly membershipLock = new Mutex()
  private identityWrites: Promise<void> = Promise.resolve()

  private constructor(init: {
    kv: KVApi
    sim: Simulation<Message>
    clusterId: string
    slots: Slot[]
    clockOwned: boolean
    limits: KVLimits
    timing: MemberTiming
    random: Random
    network: Network<Message>
    clock: Clock
  }) {
    // the root namespace's `kv` is etcd's KV service, served by the leader when there is one (as a client balancer would pick)
    super(init.kv)
    this.sim = init.sim
    this.clusterId = init.clusterId
    this.slots = init.slots
    this.clockOwned = init.clockOwned
    this.limits = init.limits
    this.timing = init.timing
    this.random = init.random
    this.network = init.network
    this.clockRef = init.clock
    const leaseApi = new LeaseService(() => this.endpoint(), () => this.clockRef.hold?.() ?? (() => undefined), this.tokenSource)
    this.lease = leaseFacade(leaseApi, (ttl: number, options?: LeaseOptions) => {
      const l = new Lease(leaseApi, this.kv, this.keyPrefix, this.clockRef, ttl, options, (done) => this.liveLeases.delete(done))
      this.liveLeases.add(l)
      return l
    })
    const watchApi = this.watchService(() => this.watchEndpoint(), this.tokenSource)
    this.watch = watchFacade(
      watchApi,
      () =>
        new WatchBuilder(
          { open: (r) => watchApi.watch(r), delay: (ms) => new Promise((resolve) => this.clockRef.setTimer(ms, resolve)) },
          this.keyPrefix,
        ),
    )
    const client: ConcurrencyClient = { kv: this.kv, lease: this.lease, watch: this.watch, clock: this.clockRef }
    this.lock = lockFacade(new LockService(() => client), client)
    this.election = electionFacade(new ElectionService(() => client), client)
  }

  /**
   * Runs `fn` as a software transaction (etcd's STM): reads through `tx`, buffered writes
   * committed atomically if what it read is unchanged, re-run on conflict. Resolves with
   * what `fn` returned on the attempt that committed.
   */
  stm<T>(fn: (tx: STM) => T | Promise<T>, options: STMOptions = {}): Promise<T> {
    return runStm(this.kv, fn, options)
  }

  /**
   * Opens a cluster: creates or reopens each member's database, bootstraps a new cluster,
   * elects a leader and returns once the cluster serves requests.
   */
  static async open(options: StoreOptions = {}): Promise<Store> {
    const parsed = optionsSchema.safeParse(options)
    if (!parsed.success) {
      const issue = parsed.error.issues[0]
      throw new InvalidArgumentError(`pocket-etcd: invalid Store options: ${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'malformed'}`, 'InvalidArgument', 'ErrInvalidRequest')
    }
    const count = options.members ?? 3
    const seed = options.seed ?? DEFAULT_SEED
    const random = new Random(seed)
    let clock: Clock
    let clockOwned = true
    if (options.clock === 'manual') clock = new ManualClock()
    else if (options.clock === undefined || options.clock === 'real') clock = new RealClock()
    else {
      clock = options.clock
      clockOwned = false
    }
    const tickMs = options.tickMs ?? 10
    const electionTicks = options.electionTicks ?? 10
    const timing: MemberTiming = {
      tickMs,
      electionTicks,
      heartbeatTicks: options.heartbeatTicks ?? 1,
      requestTimeoutMs: options.requestTimeoutMs ?? 5000 + 2 * electionTicks * tickMs,
      snapshotCount: options.snapshotCount ?? 10_000,
      snapshotCatchUpEntries: Math.max(1, Math.min(5000, Math.floor((options.snapshotCount ?? 10_000) / 2))),
      authTokenTtlMs: options.authTokenTtlMs,
      leaseCheckpointIntervalMs: options.leaseCheckpointIntervalMs,
    }
    const limits: KVLimits = { ...DEFAULT_KV_LIMITS, ...(options.limits ?? {}) }
    let sim: Simulation<Message> | undefined
    const network = new Network<Message>({ clock, random: random.fork('network'), trace: (e) => sim?.traceNetworkEvent(e) })
    const ids = random.fork('ids')
    let clusterId = ids.uint64().toString()
    const slots: Slot[] = []
    for (let i = 1; i <= count; i++) {
      const name = `m${i}`
      const { db, owns } = await Store.makeDb(options, name)
      slots.push({ name, id: ids.uint64().toString(), db, ownsDb: owns, member: undefined })
    }
    try {
      clusterId = await Store.loadIdentity(slots, clusterId, options)
    } catch (err) {
      // a database still opening (abstract-level opens on construction) is closed too, or its lock stays held
      for (const slot of slots) if (slot.ownsDb && slot.db.status !== 'closed') await slot.db.close().catch(() => undefined)
      throw err
    }
    let store: Store | undefined
    const host: SimulationHost = {
      memberNames: () => slots.filter((s) => s.removed !== true).map((s) => s.name),
      crashMember: (name) => store!.crash(name),
      restartMember: (name) => store!.restart(name),
      leaderName: () => store!.leaderName(),
      quiet: () => slots.every((s) => s.member === undefined || s.member.idle),
      realTimeWork: passwordsDerived,
    }
    sim = new Simulation<Message>(host, clock, network, random)
    const kv = new KVService(() => store!.endpoint(), limits, () => clock.hold?.() ?? (() => undefined), { run: (send) => store!.defaultTokens.run(send) })
    store = new Store({ kv, sim, clusterId, slots, clockOwned, limits, timing, random, network, clock })
    store.storeOptions = options
    store.watchOptions = { progressNotifyMs: options.watchProgressNotifyMs ?? 600_000, bufferSize: options.watchBufferSize ?? DEFAULT_WATCH_BUFFER }
    try {
      for (const slot of slots) await store.startMember(slot)
      await store.electFirstLeader()
      if (options.user !== undefined) {
        const creds = store.passwordSource(options.user, options.password ?? '')
        store.defaultTokens = creds
        await creds.current() // a wrong password fails open(), as etcd's client fails to dial
      }
    } catch (err) {
      await store.close()
      throw err
    }
    return store
  }

  /**
   * Starts a NEW cluster from a snapshot image (etcdctl `snapshot restore`, then starting the
   * members): data, revision, compaction and leases are the image's; the cluster id and member
   * ids are new (drawn from `options.seed` and the image), membership is the new members, and
   * the Raft log starts fresh. The image is checked completely first: a damaged or truncated
   * one is refused with `ErrSnapshotCorrupt` and nothing is created. With `dataDir`, member
   * directories that exist and are not empty are refused (`data-dir ... not empty`), and a
   * failed restore removes the directories it created.
   */
  static async restore(image: SnapshotImageSource, options: StoreOptions = {}): Promise<Store> {
    return restoreStore(image, options, {
      open: (o: StoreOptions) => Store.open(o),
      writeIdentity: (db, identity) => identityBucket(db).put(IDENTITY_KEY, JSON.stringify(identity)),
    })
  }

  private static async makeDb(options: StoreOptions, name: string): Promise<{ db: Database; owns: boolean }> {
    if (options.backend) return { db: options.backend(name), owns: true }
    if (options.dataDir) {
      let mod: { ClassicLevel: new (location: string, opts: object) => Database }
      try {
        mod = (await import('classic-level')) as unknown as typeof mod
      } catch (err) {
        throw new InvalidArgumentError('pocket-etcd: dataDir needs the classic-level package: npm install classic-level', 'InvalidArgument', 'ErrInvalidRequest', { cause: err })
      }
      return { db: new mod.ClassicLevel(`${options.dataDir}/${name}`, { keyEncoding: 'view', valueEncoding: 'view' }), owns: true }
    }
    return { db: new MemoryLevel({ storeEncoding: 'view', keyEncoding: 'view', valueEncoding: 'view' }), owns: true }
  }

  /**
   * A member directory the database library cannot open (LevelDB's `Corruption: ...` for a
   * garbled CURRENT or truncated MANIFEST) becomes `ErrDataDirCorrupt` naming the directory
   * and the member, with the library's error as `cause`; other failures pass unchanged.
   */
  private static openFailure(options: StoreOptions, name: string, err: unknown): unknown {
    if (options.dataDir === undefined || options.backend !== undefined || err instanceof EtcdError) return err
    const d = ERRORS.DataDirCorrupt
    const inner = err instanceof Error ? err.cause : undefined
    const why = inner instanceof Error ? inner.message : err instanceof Error ? err.message : String(err)
    return new d.cls(`pocket-etcd: data directory "${options.dataDir}/${name}" of member ${name} cannot be opened: ${why}`, d.grpcCode, d.code, { cause: err })
  }

  /**
   * A reopened database keeps the identity it was created with (etcd keeps its member and
   * cluster ids in the data dir): ids come from the databases when they hold one, whatever
   * the seed; a new cluster writes the seed's ids to every database before it starts.
   * Returns the cluster id in force and updates the slots' member ids.
   */
  private static async loadIdentity(slots: Slot[], newClusterId: string, options: StoreOptions = {}): Promise<string> {
    const found: ClusterIdentity[] = []
    for (const slot of slots) {
      if (slot.db.status !== 'open') await slot.db.open().catch((err: unknown) => { throw Store.openFailure(options, slot.name, err) })
      const raw = (await identityBucket(slot.db).get(IDENTITY_KEY)) as string | undefined
      if (raw !== undefined) found.push(JSON.parse(raw) as ClusterIdentity)
    }
    const names = slots.map((s) => s.name)
    const newest = found.reduce<ClusterIdentity | undefined>((a, b) => (a === undefined || (b.version ?? 0) > (a.version ?? 0) ? b : a), undefined)
    if (newest !== undefined && (newest.version ?? 0) > 0) return Store.followIdentity(slots, newest, found, options)
    const first = found[0]
    if (first === undefined) {
      const identity: ClusterIdentity = { clusterId: newClusterId, members: slots.map((s) => ({ name: s.name, id: s.id })) }
      for (const slot of slots) await identityBucket(slot.db).put(IDENTITY_KEY, JSON.stringify(identity))
      return newClusterId
    }
    for (const other of found) {
      if (JSON.stringify(other) !== JSON.stringify(first)) throw invalidOption('the member databases belong to different clusters')
    }
    if (JSON.stringify(first.members.map((m) => m.name)) !== JSON.stringify(names)) {
      throw invalidOption(`the data holds a ${first.members.length}-member cluster, not ${slots.length} members`)
    }
    for (const slot of slots) {
      slot.id = first.members.find((m) => m.name === slot.name)!.id
      // a database created but not yet written when the cluster was first opened gets its identity now
      await identityBucket(slot.db).put(IDENTITY_KEY, JSON.stringify(first))
    }
    return first.clusterId
  }

  /**
   * A cluster whose membership changed since it was created: the slots are the members of
   * the newest membership any database recorded (added members' databases are opened,
   * removed members' closed), whatever `members` says.
   */
  private static async followIdentity(slots: Slot[], newest: ClusterIdentity, found: ClusterIdentity[], options: StoreOptions): Promise<string> {
    if (found.some((f) => f.clusterId !== newest.clusterId)) throw invalidOption('the member databases belong to different clusters')
    const keep = new Set(newest.members.map((m) => m.name))
    for (const slot of slots.filter((s) => !keep.has(s.name))) if (slot.ownsDb && slot.db.status === 'open') await slot.db.close()
    const kept = slots.filter((s) => keep.has(s.name))
    // the slots change only once every database opened: on a failure the caller closes them all
    const next: Slot[] = []
    const added: Slot[] = []
    try {
      for (const m of newest.members) {
        let slot = kept.find((s) => s.name === m.name)
        if (slot === undefined) {
          const { db, owns } = await Store.makeDb(options, m.name)
          slot = { name: m.name, id: m.id, db, ownsDb: owns, member: undefined, join: true }
          added.push(slot)
          if (db.status !== 'open') await db.open().catch((err: unknown) => { throw Store.openFailure(options, m.name, err) })
        }
        next.push(slot)
      }
    } catch (err) {
      for (const s of added) if (s.ownsDb && s.db.status !== 'closed') await s.db.close().catch(() => undefined)
      throw err
    }
    for (const slot of next) slot.id = newest.members.find((m) => m.name === slot.name)!.id
    slots.length = 0
    slots.push(...next)
    return newest.clusterId
  }

  /** Records the membership a member applied in its own database, so a reopened Store finds every member. */
  private recordMembership(slot: Slot, members: ClusterMember[]): void {
    const identity: ClusterIdentity = { clusterId: this.clusterId, members: members.map((m) => ({ name: m.name, id: m.id })), version: slot.member?.applied ?? 0 }
    const db = slot.db
    this.identityWrites = this.identityWrites.then(async () => {
      if (db.status === 'open') await identityBucket(db).put(IDENTITY_KEY, JSON.stringify(identity))
    }).catch(() => undefined) // best effort: the database closed under it (crash); the membership bucket stays authoritative
  }

  /**
   * A member removed while it was down never applies its own removal, so it would come back on
   * restart as if it still belonged: once the cluster's list no longer has it, it stays removed
   * (etcd: its peers reject it and it stops, "the member has been permanently removed").
   */
  private markRemovedWhileDown(members: ClusterMember[]): void {
    const ids = new Set(members.map((m) => m.id))
    for (const s of this.slots) {
      // listed before (so not a member still joining) and no longer listed
      if (!this.everListed.has(s.id) && s.join !== true) this.everListed.add(s.id) // an initial member
      const down = s.member === undefined || s.member.isStopped
      if (down && s.removed !== true && this.everListed.has(s.id) && !ids.has(s.id)) s.removed = true
    }
    for (const id of ids) this.everListed.add(id)
  }

  /** Ids that appeared in a membership list in force (initial members included). */
  private readonly everListed = new Set<string>()

  /** The Cluster service's server through `member`: adds create the new member's storage and start it. */
  private clusterServer(member: () => Member): ClusterServer {
    return {
      memberList: async () => member().memberList(),
      memberRemove: (id) => this.membershipLock.run(() => member().memberRemove(id)),
      memberUpdate: (id, peerURLs) => this.membershipLock.run(() => member().memberUpdate(id, peerURLs)),
      memberPromote: (id) => this.membershipLock.run(() => member().memberPromote(id)),
      memberAdd: (r) => this.membershipLock.run(() => this.addMember(member(), r)),
    }
  }

  /** etcd `MemberAdd` in-process: a new slot (`m<N+1>`, its own database), a conf change, then the new member starts empty. */
  private async addMember(via: Member, r: { peerURLs: string[]; isLearner: boolean }): Promise<{ header: ReturnType<Member['header']>; member: ClusterMember; members: ClusterMember[] }> {
    let n = 0
    for (const s of this.slots) n = Math.max(n, Number(s.name.slice(1)) || 0)
    const name = `m${n + 1}`
    const ids = this.random.fork(`ids/${name}/${this.slots.length}`)
    let id = ids.uint64().toString()
    while (this.slots.some((s) => s.id === id) || id === '0') id = ids.uint64().toString()
    const member: ClusterMember = { id, name, peerURLs: r.peerURLs, clientURLs: [`http://${name}.pocket-etcd:2379`], isLearner: r.isLearner }
    const { db, owns } = await Store.makeDb(this.storeOptions, name)
    if (db.status !== 'open') await db.open()
    await db.clear() // a joining member starts with empty storage (a reused name's old directory included)
    await identityBucket(db).put(IDENTITY_KEY, JSON.stringify({ clusterId: this.clusterId, members: [], version: 0 } satisfies ClusterIdentity))
    const slot: Slot = { name, id, db, ownsDb: owns, member: undefined, join: true }
    // until the new member runs, a restart of it is this start and a crash waits for it
    let added!: () => void
    slot.starting = new Promise<void>((resolve) => (added = resolve))
    this.slots.push(slot)
    let resp: { header: ReturnType<Member['header']>; members: ClusterMember[] }
    try {
      resp = await via.memberAdd(member)
    } catch (err) {
      this.slots.splice(this.slots.indexOf(slot), 1)
      slot.starting = undefined
      added()
      if (owns) await db.close()
      throw err
    }
    this.network.up(name)
    try {
      await this.openMember(slot)
    } finally {
      slot.starting = undefined
      added()
    }
    return { header: resp.header, member, members: resp.members }
  }

  /** A member applied its own removal: it stops for good. */
  private async removeSlot(slot: Slot): Promise<void> {
    slot.removed = true
    await this.crash(slot.name)
  }

  private peers(): PeerInfo[] {
    return this.slots.map((s) => ({ id: s.id, name: s.name }))
  }

  private readonly directory = {
    nameOf: (id: string) => this.slots.find((s) => s.id === id)?.name,
    idOf: (name: string) => this.slots.find((s) => s.name === name)?.id,
  }

  private startMember(slot: Slot): Promise<void> {
    slot.starting ??= this.openMember(slot).finally(() => {
      slot.starting = undefined
    })
    return slot.starting
  }

  private async openMember(slot: Slot): Promise<void> {
    if (slot.db.status !== 'open') await slot.db.open()
    slot.member = await Member.open({
      name: slot.name,
      id: slot.id,
      clusterId: this.clusterId,
      db: slot.db,
      initialPeers: this.peers(),
      directory: this.directory,
      clock: this.sim.clockOf(slot.name),
      random: this.random.fork(`member/${slot.name}`),
      network: this.network,
      timing: this.timing,
      peer: (id) => this.running().find((m) => m.id === id),
      onEvent: (e) => this.onMemberEvent(slot, e),
      ...(slot.join === true ? { join: true } : {}),
      quotaBackendBytes: this.storeOptions.quotaBackendBytes ?? 0,
    })
  }

  private onMemberEvent(slot: Slot, e: MemberEvent): void {
    switch (e.type) {
      case 'leader':
        this.emitter.emit('leader', { memberId: e.memberId, member: slot.name, leaderId: e.leaderId, leader: this.directory.nameOf(e.leaderId), term: e.term })
        break
      case 'applied':
        this.emitter.emit('applied', { member: slot.name, index: e.index, events: e.events })
        if (this.watchables.get(slot.name)?.host === slot.member) this.watchables.get(slot.name)?.notify(e.events)
        break
      case 'restored':
        // a snapshot replaced the member's MVCC store: its watchers resync from the new history
        this.watchables.get(slot.name)?.restore()
        break
      case 'membership':
        this.recordMembership(slot, e.members)
        this.markRemovedWhileDown(e.members)
        break
      case 'removed':
        void this.removeSlot(slot).catch((err: unknown) => this.emitter.emit('fatal', { memberId: e.memberId, member: slot.name, error: err }))
        break
      case 'peer-removed': {
        // the sender was removed while cut off from the cluster: it stops for good, as etcd's does
        const peer = this.slots.find((s) => s.id === e.peerId)
        if (peer !== undefined && peer.removed !== true && peer.member !== undefined) {
          void this.removeSlot(peer).catch((err: unknown) => this.emitter.emit('fatal', { memberId: e.peerId, member: peer.name, error: err }))
        }
        break
      }
      case 'fatal':
        this.emitter.emit('fatal', { memberId: e.memberId, member: slot.name, error: e.error })
        this.closeWatchable(slot.name)
        break
    }
  }

  /** A new cluster elects its first member at once; a reopened one waits for a normal election. */
  private async electFirstLeader(): Promise<void> {
    const first = this.slots[0]?.member
    if (first && first.raftTerm <= 1) first.campaign()
    const ok = await this.sim.until(() => this.leaderName() !== undefined && this.running().every((m) => m.leaderId !== '0'), 60_000, this.timing.tickMs)
    if (!ok) throw etcdError('NoLeader')
  }

  private running(): Member[] {
    return this.slots.flatMap((s) => (s.member && !s.member.isStopped ? [s.member] : []))
  }

  private leaderMember(): Member | undefined {
    // on every request's path: no intermediate arrays
    let best: Member | undefined
    for (const s of this.slots) {
      const m = s.member
      if (m === undefined || m.isStopped) continue
      if (m.leaderId === m.id && (best === undefined || m.raftTerm > best.raftTerm)) best = m
    }
    return best
  }

  private firstRunning(): Member | undefined {
    for (const s of this.slots) if (s.member !== undefined && !s.member.isStopped) return s.member
    return undefined
  }

  private leaderName(): string | undefined {
    const m = this.leaderMember()
    return m === undefined ? undefined : m.name
  }

  /** The member a client would talk to: the leader if known, else the first running member. */
  private endpoint(): KVServer & LeaseServer {
    if (this.closed) throw etcdError('StoreClosed')
    const m = this.leaderMember() ?? this.firstRunning()
    if (m === undefined) throw etcdError('Stopped')
    return m
  }

  /** Member `name` (`'m1'`...) as a client endpoint: requests go to that member only. */
  member(name: string): MemberHandle {
    const slot = this.slots.find((s) => s.name === name)
    if (slot === undefined) throw new InvalidArgumentError(`pocket-etcd: no member named ${JSON.stringify(name)}`, 'InvalidArgument', 'ErrInvalidRequest')
    const kv = new KVService(() => {
      if (this.closed) throw etcdError('StoreClosed')
      const m = slot.member
      if (m === undefined || m.isStopped) throw etcdError('Stopped')
      return m
    }, this.limits, () => this.clockRef.hold?.() ?? (() => undefined))
    const lease = new LeaseService(() => {
      if (this.closed) throw etcdError('StoreClosed')
      const m = slot.member
      if (m === undefined || m.isStopped) throw etcdError('Stopped')
      return m
    }, () => this.clockRef.hold?.() ?? (() => undefined))
    const watch = this.watchService(() => {
      if (this.closed) throw etcdError('StoreClosed')
      return this.watchableOf(slot)
    })
    const server = () => {
      if (this.closed) throw etcdError('StoreClosed')
      const m = slot.member
      if (m === undefined || m.isStopped) throw etcdError('Stopped')
      return m
    }
    const cluster = new ClusterService(() => this.clusterServer(server), () => this.clockRef.hold?.() ?? (() => undefined))
    const maintenance = new MaintenanceService(server, () => this.clockRef.hold?.() ?? (() => undefined))
    return { name: slot.name, id: slot.id, kv, lease, watch, cluster, maintenance }
  }

  private watchService(server: () => WatchableStore, tokens: TokenSource = NO_TOKEN): WatchService {
    return new WatchService(server, { bufferSize: this.watchOptions.bufferSize, tokens, maxRequestBytes: this.limits.maxRequestBytes })
  }

  /**
   * A view of the cluster whose every request carries `token` (from `auth.authenticate`):
   * etcd's KV, Lease, Watch and Auth services and the typed layer, as that user.
   */
  as(token: string): AuthView {
    return this.authView(fixedToken(token))
  }

  /** A view that authenticates as `user` (lazily, and again when its token is refused). */
  withCredentials(user: string, password: string): AuthView {
    return this.authView(this.passwordSource(user, password))
  }

  private passwordSource(user: string, password: string): PasswordCredentials {
    return new PasswordCredentials(async () => (await this.auth.authenticate({ name: user, password })).token)
  }

  private authView(tokens: TokenSource): AuthView {
    const hold = () => this.clockRef.hold?.() ?? (() => undefined)
    return new AuthView({
      kv: new KVService(() => this.endpoint(), this.limits, hold, tokens),
      lease: new LeaseService(() => this.endpoint(), hold, tokens),
      watch: this.watchService(() => this.watchEndpoint(), tokens),
      auth: new AuthService(() => this.endpoint() as Member, hold, tokens),
    })
  }


  /** The watch side of the leader (else of any running member), as `store.watch` serves it. */
  private watchEndpoint(): WatchableStore {
    const m = this.endpoint()
    return this.watchableOf(this.slots.find((s) => s.member === m)!)
  }

  /** The running member's watchable store, created on first use. */
  private watchableOf(slot: Slot): WatchableStore {
    const m = slot.member
    if (m === undefined || m.isStopped) throw etcdError('Stopped')
    let ws = this.watchables.get(slot.name)
    if (ws === undefined || ws.closed || ws.host !== m) {
      ws?.close(ERRORS.Stopped.message)
      ws = new WatchableStore(m, {
        clock: this.clockRef,
        progressNotifyMs: this.watchOptions.progressNotifyMs,
        onError: (error) => {
          // a broken catch-up (invariant or backend failure): report it as the member's, and end its watches
          this.emitter.emit('fatal', { memberId: m.id, member: slot.name, error })
          this.closeWatchable(slot.name)
        },
      })
      this.watchables.set(slot.name, ws)
    }
    return ws
  }

  /** Ends the watches a member serves (it stopped): each stream ends with a canceled response, reason `etcdserver: server stopped`. */
  private closeWatchable(name: string): void {
    this.watchables.get(name)?.close(ERRORS.Stopped.message)
    this.watchables.delete(name)
  }

  /** Names of the members, in order. */
  get memberNames(): string[] {
    return this.slots.filter((s) => s.removed !== true).map((s) => s.name)
  }

  /**
   * Internal access to a running member (for tests and the maintenance layer).
   * @internal
   */
  runningMember(name: string): Member | undefined {
    const m = this.slots.find((s) => s.name === name)?.member
    return m && !m.isStopped ? m : undefined
  }

  private async crash(name: string): Promise<void> {
    const slot = this.slots.find((s) => s.name === name)!
    // a member still starting (memberAdd, a restart) is crashed once it runs
    if (slot.starting !== undefined) await slot.starting.catch(() => undefined)
    const m = slot.member
    if (m === undefined || m.isStopped) return
    this.network.down(name)
    this.closeWatchable(name)
    await m.stop()
    if (slot.db.supports?.permanence) {
      // a durable database is closed as a process exit would, and reopened on restart
      await slot.db.close()
    }
    this.emitter.emit('down', { member: name })
  }

  private async restart(name: string): Promise<void> {
    const slot = this.slots.find((s) => s.name === name)!
    // already starting (memberAdd, a concurrent restart): that start is this restart
    if (slot.starting !== undefined) return slot.starting
    if (slot.member !== undefined && !slot.member.isStopped) return
    if (slot.removed === true) return // a removed member never comes back
    this.network.up(name)
    await this.startMember(slot)
    this.emitter.emit('up', { member: name })
  }

  /** Subscribes to a cluster event. */
  on<E extends keyof StoreEvents>(event: E, fn: StoreEvents[E]): this {
    this.emitter.on(event, fn as never)
    return this
  }

  /** Subscribes to one occurrence of a cluster event. */
  once<E extends keyof StoreEvents>(event: E, fn: StoreEvents[E]): this {
    this.emitter.once(event, fn as never)
    return this
  }

  /** Unsubscribes from a cluster event. */
  off<E extends keyof StoreEvents>(event: E, fn: StoreEvents[E]): this {
    this.emitter.off(event, fn as never)
    return this
  }

  /**
   * Has the leader checkpoint every lease's remaining TTL and waits for it (while the
   * cluster makes progress), so a reopen of the same data restores the remaining TTLs
   * exactly. A cluster that cannot commit (no quorum, a partition) is not waited for: the
   * last periodic checkpoints stay in force, as after a crash.
   */
  private async checkpointLeasesBeforeClose(): Promise<void> {
    const proposed = this.leaderMember()?.checkpointLeases()
    if (proposed === undefined) return
    let done = false
    // never rejects; left pending only when the cluster is stuck, and then the members' stop() ends it
    const checkpointed = proposed.finally(() => {
      done = true
    })
    // a busy cluster (a slow disk) is making progress: only a cluster found quiet twice with the proposal unanswered is stuck
    let quiet = 0
    for (let round = 0; round < 100 && quiet < 2 && !done; round++) if (await this.sim.settle(1_000)) quiet++
    if (done) await checkpointed
  }

  /** True once {@link Store.close} was called. */
  get isClosed(): boolean {
    return this.closed
  }

  /** Stops every member, the network and the clock (if the Store made it), and closes the databases it opened. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    for (const l of [...this.liveLeases]) l.release()
    for (const name of [...this.watchables.keys()]) this.closeWatchable(name)
    await this.checkpointLeasesBeforeClose()
    for (const slot of this.slots) await slot.member?.stop().catch(() => undefined)
    await this.identityWrites
    this.network.close()
    for (const slot of this.slots) {
      if (slot.ownsDb && slot.db.status === 'open') {
        await slot.db.close().catch((err: unknown) => {
          // closing is best effort: a database that fails to close has nothing left to lose
          if (!(err instanceof Error)) throw err
        })
      }
    }
    if (this.clockOwned) (this.clockRef as ManualClock | RealClock).close()
    this.emitter.removeAllListeners()
  }
}

export { EtcdError }
