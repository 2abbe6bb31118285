/**
 * The nemesis: a seeded source of faults for a running Store (Jepsen's nemesis, TigerBeetle's
 * VOPR faults). Each {@link Nemesis.step} injects one fault drawn from the enabled kinds:
 * network partitions (halves, a bridge, the leader isolated, one-way cuts), member crashes
 * and restarts, failed and torn database writes, message drop, duplication, reordering and
 * delay, a member clock that runs fast or stops, and leader transfers. {@link Nemesis.heal}
 * undoes them all. Everything it draws comes from the given `Random`, so a seed replays it.
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

/** Every fault kind, in a stable order (the default set of a campaign). */
export const FAULT_KINDS: readonly FaultKind[] = [
  'partition', 'bridge', 'isolate', 'one-way', 'crash', 'torn', 'write-failure', 'drop', 'duplicate', 'reorder', 'delay', 'clock', 'leader-transfer',
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

  constructor(store: Store, options: NemesisOptions) {
    this.store = store
    this.random = options.random
    this.kinds = options.faults ?? FAULT_KINDS
    this.backends = options.backends
    this.maxRate = options.maxClockRate ?? 4
    this.counts = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>
    for (const [name, db] of this.backends ?? []) db.onFired = () => this.failedWrites.add(name)
  }

  private get members(): string[] {
    return this.store.memberNames
  }

  /** Members not running now (crashed, or stopped on a failure). */
  down(): string[] {
    return this.members.filter((n) => this.store.runningMember(n) === undefined)
  }

  private maxDown(): number {
    return Math.floor((this.members.length - 1) / 2)
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
    this.checkStopped()
    const down = this.down()
    if (down.length > 0 && this.random.chance(0.35)) {
      await this.restart(this.random.pick(down))
      return 'restart'
    }
    if (this.kinds.length === 0) return undefined
    const kind = this.random.pick([...this.kinds])
    const done = await this.inject(kind)
    if (done) this.counts[kind]++
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
        if (this.down().length >= this.maxDown() && n > 1) return false
        const running = this.members.filter((m) => this.store.runningMember(m) !== undefined)
        if (running.length === 0) return false
        const victim = r.chance(0.4) ? sim.leader() ?? r.pick(running) : r.pick(running)
        await sim.crash(victim)
        return true
      }
      case 'torn':
      case 'write-failure': {
        if (this.backends === undefined) return false
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
        if (this.down().length >= this.maxDown() && n > 1) return false
        const running = this.members.filter((m) => this.store.runningMember(m) !== undefined)
        if (running.length === 0) return false
        const victim = r.pick(running)
        const rate = r.chance(0.4) ? 0 : r.range(2, this.maxRate + 1)
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
        const maintenance = (this.store as unknown as { maintenance?: { moveLeader?: (r: { targetId: string }) => Promise<unknown> } }).maintenance
        if (typeof maintenance?.moveLeader === 'function') {
          // fire and forget: the transfer may time out under other faults, which is fine for a nemesis
          void maintenance.moveLeader({ targetId: this.store.member(target).id }).catch(() => undefined)
        } else {
          this.store.runningMember(leader)?.transferLeadership(this.store.member(target).id)
        }
        return true
      }
    }
  }

  /** Undoes every fault: heals the network, turns message faults off, restores clocks, disarms writes, restarts stopped members. */
  async heal(): Promise<void> {
    const sim = this.store.sim
    sim.heal()
    sim.network.configure({ drop: 0, duplicate: 0, delayMs: [0, 0], reorder: false })
    for (const c of this.clocks.values()) c.setRate(1)
    for (const db of this.backends?.values() ?? []) db.disarm()
    this.checkStopped()
    for (const name of this.down()) await this.restart(name)
  }

  /** The clock rate bound: leases on a member whose clock runs `rate` times fast expire that much early. */
  get maxClockRate(): number {
    return this.kinds.includes('clock') ? this.maxRate : 1
  }
}
