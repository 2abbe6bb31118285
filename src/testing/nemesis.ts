/**
 * The nemesis: a seeded source of faults for a running Store (Jepsen's nemesis, TigerBeetle's
 * VOPR faults). Each {@link Nemesis.step} injects one fault drawn from the enabled kinds:
 * network partitions (halves, a bridge, the leader isolated, one-way cuts), member crashes
 * and restarts, failed and torn database writes, message drop, duplication, reordering and
 * delay, a member clock that runs fast or stops, leader transfers, and membership changes
 * (a learner added, caught up and promoted; a follower removed). {@link Nemesis.heal}
 * undoes the others (membership changes stay). Everything it draws comes from the given `Random`, so a seed replays it.
 *
 * @module
 */
import type { Store } from '../store.js'
import type { Random } from '../sim/random.js'
import { NemesisLevel, SkewedClock } from './nemesis-faults.js'
import type { WriteFault } from './nemesis-faults.js'

/** The kinds of fault a {@link Nemesis} can inject. */
export type FaultKind =
  /** The members split in two groups at random. */
  | 'partition'
  /** Two groups that reach each other only through one member in both (Jepsen's bridge). */
  | 'bridge'
  /** The current leader cut off from everyone. */
  | 'isolate'
  /** Links cut in one direction only. */
  | 'one-way'
  /** A member crashes (restarted later by the nemesis). */
  | 'crash'
  /** A member dies while writing a batch: only a prefix of a Raft log append is stored. */
  | 'torn'
  /** A member's database refuses a write: the member must stop rather than diverge. */
  | 'write-failure'
  /** Messages are lost at random. */
  | 'drop'
  /** Messages arrive twice. */
  | 'duplicate'
  /** Messages overtake each other. */
  | 'reorder'
  /** Messages are delayed at random. */
  | 'delay'
  /** A member's clock runs fast (2-4x) or stops. */
  | 'clock'
  /** Leadership moves to another member (etcd MoveLeader). */
  | 'leader-transfer'
  /**
   * A membership change through `store.cluster`: a learner is added, catches up (by snapshot)
   * and is promoted, or a member other than the leader is removed (never below what a
   * quorum needs). It runs in the background while the load goes on; counted per change
   * that took effect (an add, a promotion, a removal).
   */
  | 'membership'

/** Every fault kind, in a stable order (the default set of a campaign). */
export const FAULT_KINDS: readonly FaultKind[] = [
  'partition', 'bridge', 'isolate', 'one-way', 'crash', 'torn', 'write-failure', 'drop', 'duplicate', 'reorder', 'delay', 'clock', 'leader-transfer', 'membership',
]

/** Options of a {@link Nemesis}. */
export interface NemesisOptions {
  /** The kinds it may inject (default: all of {@link FAULT_KINDS}). */
  faults?: readonly FaultKind[]
  /** Where its choices come from (fork one off the run's seed). */
  random: Random
  /** Each member's database, when the Store was opened on {@link NemesisLevel}s (needed for `torn` and `write-failure`). */
  backends?: ReadonlyMap<string, NemesisLevel>
  /** The fastest a member clock may run (default 4). */
  maxClockRate?: number
}

/**
 * Injects seeded faults into a Store and undoes them. Never stops more members than a
 * quorum can spare at once, so the cluster is live again as soon as it heals.
 */
export class Nemesis {
  /** Faults injected so far, by kind. */
  readonly counts: Record<FaultKind, number>
  /** Restarts of crashed or stopped members. */
  restarts = 0
  /**
   * Every change of a member's clock rate, in cluster time (rate 0: stopped). Lease time is
   * kept on the leader's clock, so while it is stopped a lease cannot expire: checkers use
   * this to know when a lease's remaining time was frozen.
   */
  readonly clockEvents: { at: number; member: string; rate: number }[] = []
  /** Broken guarantees the nemesis saw itself (a member that kept running after a failed write). */
  readonly violations: string[] = []
  private readonly store: Store
  private readonly random: Random
  private readonly kinds: readonly FaultKind[]
  private readonly backends: ReadonlyMap<string, NemesisLevel> | undefined
  private readonly maxRate: number
  private readonly clocks = new Map<string, SkewedClock>()
  /** Members whose injected write failure fired and that must be stopped at the next step. */
  private readonly failedWrites = new Set<string>()
  /** Learners this nemesis added and has not promoted (or removed) yet. */
  private readonly learnerNames = new Set<string>()
  /** The membership change running in the background, if any. */
  private reconfig: Promise<void> | undefined
  /** Set by {@link Nemesis.stopReconfiguring}: no new membership change starts. */
  private reconfigStopped = false
  /** Peer URLs of members this nemesis removed (a re-add may reuse one). */
  private readonly removedUrls: string[] = []
  private urlSeq = 0
  /** True while a memberAdd is in flight: the new member may be starting, so no crash or restart touches members meanwhile. */
  private adding = false
  /** The members before the add in flight (the one joining is not among them). */
  private beforeAdd: ReadonlySet<string> = new Set()
  /** Members chosen for removal (clients stop sending to them at once). */
  private readonly leaving = new Set<string>()
  /** The member count the cluster started with (membership changes stay within one of it). */
  private readonly initialSize: number
  /** Membership changes that were refused or failed (unavailable, not in sync, not enough started members). */
  membershipFailures = 0

  constructor(store: Store, options: NemesisOptions) {
    this.store = store
    this.random = options.random
    this.kinds = options.faults ?? FAULT_KINDS
    this.backends = options.backends
    this.maxRate = options.maxClockRate ?? 4
    this.counts = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>
    this.initialSize = store.memberNames.length
    this.watchBackends()
  }

  /** Hooks each member database (members added later too) so a fired write failure is checked. */
  private watchBackends(): void {
    for (const [name, db] of this.backends ?? []) if (db.onFired === undefined) db.onFired = () => this.failedWrites.add(name)
  }

  /** Learners added by the nemesis that are not promoted yet (clients should not count on them). */
  get learners(): ReadonlySet<string> {
    return this.learnerNames
  }

  /** The members clients may send requests to: neither a learner nor a member still joining. */
  clientMembers(): string[] {
    return this.members.filter((m) => !this.learnerNames.has(m) && !this.leaving.has(m) && (!this.adding || this.beforeAdd.has(m)))
  }

  /** True while a membership change runs in the background. */
  get reconfiguring(): boolean {
    return this.reconfig !== undefined
  }

  /** Starts no further membership change; the running one (if any) finishes (see {@link Nemesis.reconfiguring}). */
  stopReconfiguring(): void {
    this.reconfigStopped = true
  }

  private get members(): string[] {
    return this.store.memberNames
  }

  /** Members not running now (crashed, or stopped on a failure). */
  down(): string[] {
    return this.members.filter((n) => this.store.runningMember(n) === undefined)
  }

  /** How many members may be down at once: what the voters' quorum can spare (learners do not vote). */
  private maxDown(): number {
    const voters = this.members.filter((m) => !this.learnerNames.has(m)).length
    return Math.max(0, Math.floor((voters - 1) / 2))
  }

  /** A failed write must stop its member: checks the ones that fired since the last look. */
  checkStopped(): void {
    for (const name of this.failedWrites) {
      if (this.store.runningMember(name) !== undefined) {
        this.violations.push(`member ${name} kept running after its database refused a write (it must stop rather than diverge)`)
      }
    }
    this.failedWrites.clear()
  }

  /** Injects one fault drawn from the enabled kinds (or restarts a stopped member now and then). */
  async step(): Promise<FaultKind | 'restart' | undefined> {
    this.watchBackends()
    this.checkStopped()
    const down = this.adding ? [] : this.down()
    if (down.length > 0 && this.random.chance(0.35)) {
      await this.restart(this.random.pick(down))
      return 'restart'
    }
    if (this.kinds.length === 0) return undefined
    const kind = this.random.pick([...this.kinds])
    const done = await this.inject(kind)
    // a membership change counts when it takes effect (it runs in the background)
    if (done && kind !== 'membership') this.counts[kind]++
    return done ? kind : undefined
  }

  private async restart(name: string): Promise<void> {
    await this.store.sim.restart(name)
    this.restarts++
  }

  /** Injects `kind` now; false when it does not apply (too many members down, one member only, ...). */
  async inject(kind: FaultKind): Promise<boolean> {
    const sim = this.store.sim
    const net = sim.network
    const r = this.random
    const n = this.members.length
    switch (kind) {
      case 'partition': {
        if (n < 2) return false
        const s = r.shuffle([...this.members])
        const cut = r.range(1, Math.floor(n / 2) + 1)
        sim.partition(s.slice(0, cut), s.slice(cut))
        return true
      }
      case 'bridge': {
        if (n < 3) return false
        const s = r.shuffle([...this.members])
        const bridge = s[0]!
        const rest = s.slice(1)
        const half = Math.floor(rest.length / 2)
        for (const a of rest.slice(0, half)) {
          for (const b of rest.slice(half)) {
            net.cut(a, b)
            net.cut(b, a)
          }
        }
        void bridge // the bridge is the one member left connected to both sides
        return true
      }
      case 'isolate': {
        const leader = sim.leader()
        if (leader === undefined || n < 2) return false
        sim.isolate(leader)
        return true
      }
      case 'one-way': {
        if (n < 2) return false
        for (let i = r.range(1, 4); i > 0; i--) {
          const [a, b] = r.shuffle([...this.members])
          net.cut(a!, b!)
        }
        return true
      }
      case 'crash': {
        if (this.adding) return false
        if (this.down().length >= this.maxDown() && n > 1) return false
        const running = this.members.filter((m) => this.store.runningMember(m) !== undefined)
        if (running.length === 0) return false
        const victim = r.chance(0.4) ? sim.leader() ?? r.pick(running) : r.pick(running)
        await sim.crash(victim)
        return true
      }
      case 'torn':
      case 'write-failure': {
        if (this.backends === undefined || this.adding) return false
        if (this.down().length >= this.maxDown() && n > 1) return false
        const running = this.members.filter((m) => this.store.runningMember(m) !== undefined && !this.backends!.get(m)?.isArmed)
        if (running.length === 0) return false
        const victim = r.chance(0.4) ? sim.leader() ?? r.pick(running) : r.pick(running)
        const fault: WriteFault = kind === 'torn' ? 'torn' : 'fail'
        this.backends.get(victim)?.inject(fault, r.range(1, 64))
        return true
      }
      case 'drop':
        net.configure({ drop: r.range(1, 16) / 100 })
        return true
      case 'duplicate':
        net.configure({ duplicate: r.range(1, 11) / 100 })
        return true
      case 'reorder':
        net.configure({ reorder: true })
        return true
      case 'delay':
        net.configure({ delayMs: [0, r.range(1, 41)] })
        return true
      case 'clock': {
        if (this.adding) return false
        if (this.down().length >= this.maxDown() && n > 1) return false
        const running = this.members.filter((m) => this.store.runningMember(m) !== undefined)
        if (running.length === 0) return false
        const victim = r.pick(running)
        const rate = r.chance(0.4) ? 0 : r.range(2, this.maxRate + 1)
        this.clockEvents.push({ at: sim.clock.now(), member: victim, rate })
        let clock = this.clocks.get(victim)
        if (clock === undefined) {
          // a member takes its own clock when it starts: restart it on one (a process restarted with a bad clock)
          clock = new SkewedClock(sim.clock, rate)
          this.clocks.set(victim, clock)
          sim.setMemberClock(victim, clock)
          await sim.crash(victim)
          await this.restart(victim)
        } else {
          clock.setRate(rate)
        }
        return true
      }
      case 'leader-transfer': {
        const leader = sim.leader()
        if (leader === undefined || n < 2) return false
        const target = r.pick(this.members.filter((m) => m !== leader && this.store.runningMember(m) !== undefined))
        if (target === undefined) return false
        const maintenance = (this.store as unknown as { maintenance?: { moveLeader?: (r: { targetID: string }) => Promise<unknown> } }).maintenance
        if (typeof maintenance?.moveLeader === 'function') {
          // fire and forget: the transfer may time out under other faults, which is fine for a nemesis
          void maintenance.moveLeader({ targetID: this.store.member(target).id }).catch(() => undefined)
        } else {
          this.store.runningMember(leader)?.transferLeadership(this.store.member(target).id)
        }
        return true
      }
      case 'membership': {
        if (this.reconfig !== undefined || this.reconfigStopped) return false
        const run = this.reconfigure().catch((err: unknown) => {
          this.violations.push(`membership change threw: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`)
        })
        this.reconfig = run.finally(() => {
          this.reconfig = undefined
        })
        return true
      }
    }
  }

  /** Undoes every fault: heals the network, turns message faults off, restores clocks, disarms writes, restarts stopped members. */
  async heal(): Promise<void> {
    const sim = this.store.sim
    sim.heal()
    sim.network.configure({ drop: 0, duplicate: 0, delayMs: [0, 0], reorder: false })
    for (const [member, c] of this.clocks) {
      c.setRate(1)
      this.clockEvents.push({ at: this.store.sim.clock.now(), member, rate: 1 })
    }
    for (const db of this.backends?.values() ?? []) db.disarm()
    this.checkStopped()
    if (!this.adding) for (const name of this.down()) await this.restart(name)
  }

  /** Sleeps `ms` of cluster time (the campaign advances the manual clock meanwhile). */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.store.sim.clock.setTimer(ms, resolve))
  }

  /** Runs one membership call; false when it was refused or failed (a fault may be in the way). */
  private async attempt(fn: () => Promise<unknown>): Promise<boolean> {
    try {
      await fn()
      return true
    } catch {
      this.membershipFailures++
      return false
    }
  }

  /**
   * One membership change: promotes a learner left over, else adds a learner (the cluster at
   * or below its initial size), waits until it caught up and promotes it; or removes a member
   * other than the leader (above the initial size, or at it by chance), only when the members
   * left would still have a quorum running and no more down than the nemesis allows.
   */
  private async reconfigure(): Promise<void> {
    const r = this.random
    const cluster = this.store.cluster
    const list = await this.list()
    if (list === undefined) return
    // a learner left over (its promotion gave up, or an add whose answer was lost) is promoted first
    for (const m of list) if (m.isLearner) this.learnerNames.add(m.name)
    const pending = list.find((m) => m.isLearner)?.name
    if (pending !== undefined) {
      await this.promote(pending)
      return
    }
    const n = this.members.length
    const grow = n < this.initialSize || (n === this.initialSize && (n === 1 || r.chance(0.5)))
    if (grow) {
      const url = this.removedUrls.length > 0 && r.chance(0.5) ? this.removedUrls.splice(r.int(this.removedUrls.length), 1)[0]! : `http://10.0.9.${++this.urlSeq}:2380`
      let name: string | undefined
      this.adding = true
      this.beforeAdd = new Set(this.members)
      const added = await this.attempt(async () => {
        const resp = await cluster.memberAdd({ peerURLs: [url], isLearner: true })
        name = resp.member.name
        this.learnerNames.add(name)
      }).finally(() => {
        this.adding = false
      })
      if (!added || name === undefined) return
      this.counts.membership++
      await this.promote(name)
      return
    }
    const leader = this.store.sim.leader()
    if (leader === undefined || n < 2) return
    // a running member that is not the leader (a member removed while down would not learn it was removed when restarted)
    const candidates = this.members.filter((m) => m !== leader && this.store.runningMember(m) !== undefined)
    if (candidates.length === 0) return
    const victim = r.pick(candidates)
    const votersAfter = this.members.filter((m) => m !== victim && !this.learnerNames.has(m)).length
    const downAfter = this.down().filter((m) => m !== victim).length
    if (downAfter > Math.max(0, Math.floor((votersAfter - 1) / 2))) return
    const url = list.find((m) => m.name === victim)?.peerURLs[0]
    this.leaving.add(victim)
    const removed = await this.attempt(() => cluster.memberRemove({ id: this.store.member(victim).id }))
    if (!removed) {
      this.leaving.delete(victim)
      return
    }
    this.learnerNames.delete(victim)
    if (url !== undefined) this.removedUrls.push(url)
    this.counts.membership++
  }

  /** The member list (undefined when it is unavailable now). */
  private async list(): Promise<{ name: string; isLearner: boolean; peerURLs: string[] }[] | undefined> {
    try {
      return (await this.store.cluster.memberList()).members
    } catch {
      return undefined
    }
  }

  /** Promotes learner `name` once it caught up: retries while it is not in sync (up to ~20 s of cluster time). */
  private async promote(name: string): Promise<void> {
    for (let i = 0; i < 40; i++) {
      await this.sleep(500)
      const list = await this.list()
      const m = list?.find((x) => x.name === name)
      if (!this.members.includes(name) || (list !== undefined && m?.isLearner !== true)) {
        // removed, or promoted by an earlier attempt whose answer was lost
        this.learnerNames.delete(name)
        return
      }
      if (await this.attempt(() => this.store.cluster.memberPromote({ id: this.store.member(name).id }))) {
        this.learnerNames.delete(name)
        this.counts.membership++
        return
      }
    }
  }

  /** The clock rate bound: leases on a member whose clock runs `rate` times fast expire that much early. */
  get maxClockRate(): number {
    return this.kinds.includes('clock') ? this.maxRate : 1
  }
}
