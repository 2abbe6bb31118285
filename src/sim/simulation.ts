/**
 * The fault and time control surface of a Store (`store.sim`): the clock, the network, and
 * member crash and restart. A seed and a manual clock make a whole run reproducible.
 *
 * @module
 */
import type { Clock } from './clock.js'
import { ManualClock } from './clock.js'
import type { Network, NetworkEvent } from './network.js'
import type { Random } from './random.js'
import { InvalidArgumentError } from '../errors.js'

/** What the simulation needs from the cluster it controls (the Store implements it). */
export interface SimulationHost {
  /** Member names, in order. */
  memberNames(): string[]
  /** Stops a member as a crash: it keeps only what it persisted. */
  crashMember(name: string): Promise<void>
  /** Restarts a crashed member from its database. */
  restartMember(name: string): Promise<void>
  /** The name of the member that currently leads with the highest term, if any. */
  leaderName(): string | undefined
  /** True when no member has work pending that needs no time to pass. */
  quiet(): boolean
  /**
   * Work of the Store's that runs in real time off the event loop (password hashing), as a
   * promise that settles when it is done; `undefined` when there is none. Settling waits
   * for it, so a manual clock never moves while such work is under way.
   */
  realTimeWork?(): Promise<void> | undefined
}

/** Yields to the event loop once (a macrotask), so queued I/O and microtasks run. */
export function yieldToEventLoop(): Promise<void> {
  const g = globalThis as { setImmediate?: (fn: () => void) => unknown }
  return new Promise((resolve) => {
    if (typeof g.setImmediate === 'function') g.setImmediate(resolve)
    else globalThis.setTimeout(resolve, 0)
  })
}

/** Controls time, faults and member lifecycle of one Store (`store.sim`). */
export class Simulation<M = unknown> {
  /** The cluster's clock: a {@link ManualClock} when the Store was opened with `clock: 'manual'`. */
  readonly clock: Clock
  /** The simulated network between members: partitions, cuts, drop, duplication, delay. */
  readonly network: Network<M>
  /** The seeded source all of the cluster's randomness forks from. */
  readonly random: Random
  private readonly host: SimulationHost
  private readonly tracers = new Set<(event: NetworkEvent<M>) => void>()
  private readonly memberClocks = new Map<string, Clock>()

  constructor(host: SimulationHost, clock: Clock, network: Network<M>, random: Random) {
    this.host = host
    this.clock = clock
    this.network = network
    this.random = random
  }

  /**
   * Calls `fn` for every send, delivery, duplicate and drop on the network, synchronously;
   * returns the function that unsubscribes. Two runs of one seed produce the same events,
   * so comparing traces checks that a run replays exactly.
   */
  onNetworkEvent(fn: (event: NetworkEvent<M>) => void): () => void {
    this.tracers.add(fn)
    return () => {
      this.tracers.delete(fn)
    }
  }

  /** Passes one network event to the subscribers (the network's `trace` hook calls it). */
  traceNetworkEvent(event: NetworkEvent<M>): void {
    for (const fn of this.tracers) fn(event)
  }

  /**
   * Gives member `name` its own clock from its next start or restart (one that runs fast or
   * stops, for clock-skew faults); `undefined` gives it the cluster clock again.
   */
  setMemberClock(name: string, clock: Clock | undefined): void {
    this.check(name)
    if (clock === undefined) this.memberClocks.delete(name)
    else this.memberClocks.set(name, clock)
  }

  /** The clock member `name` starts with: its own if one was set, else the cluster clock. */
  clockOf(name: string): Clock {
    return this.memberClocks.get(name) ?? this.clock
  }

  /** The seed that replays this run. */
  get seed(): number {
    return this.random.seed
  }

  /** Member names (`m1`, `m2`, ...). */
  members(): string[] {
    return this.host.memberNames()
  }

  /** The name of the current leader (the one with the highest term that believes it leads), if any. */
  leader(): string | undefined {
    return this.host.leaderName()
  }

  /** Crashes member `name`: it stops at once and keeps only what reached its database. */
  crash(name: string): Promise<void> {
    this.check(name)
    return this.host.crashMember(name)
  }

  /** Restarts a crashed member from its database; it rejoins and catches up. */
  restart(name: string): Promise<void> {
    this.check(name)
    return this.host.restartMember(name)
  }

  /** Cuts member `name` off from every other member (both directions). */
  isolate(name: string): void {
    this.check(name)
    this.network.isolate(name)
  }

  /** Splits members into groups that cannot reach each other. */
  partition(...groups: string[][]): void {
    this.network.partition(...groups)
  }

  /** Removes every partition, isolation and cut. */
  heal(): void {
    this.network.heal()
  }

  /**
   * Lets the cluster run until it is quiet: no message that can be delivered without time
   * passing (delayed messages wait on the clock) and no member with work that needs no
   * time to pass. Time does not advance. Gives up after `maxTurns` turns of the event loop
   * (a cluster under constant load may never be quiet).
   */
  async settle(maxTurns = 10_000): Promise<boolean> {
    // Zero-delay messages are delivered on microtasks, so after a turn of the event loop
    // only clock-delayed ones remain in flight: quiet means nothing was delivered or dropped
    // during a whole turn while every member was idle (or nothing is in flight at all).
    let prev = -1
    for (let i = 0; i < maxTurns; i++) {
      const work = this.host.realTimeWork?.()
      if (work !== undefined) await work
      await yieldToEventLoop()
      const moved = this.moved()
      if (this.host.quiet() && (this.network.stats().inFlight === 0 || moved === prev)) {
        await yieldToEventLoop()
        if (this.host.quiet() && (this.network.stats().inFlight === 0 || this.moved() === moved)) return true
      }
      prev = moved
    }
    return false
  }

  /** Messages delivered or dropped so far: it stays put while the network only waits on the clock. */
  private moved(): number {
    const s = this.network.stats()
    return s.delivered + s.dropped
  }

  /**
   * Advances a manual clock by `ms`, one due timer at a time, letting the cluster react
   * between timers (elections, heartbeats, lease expiry, timeouts). With a real clock it
   * simply waits `ms`.
   */
  async advance(ms: number): Promise<void> {
    const release = this.clock.hold?.()
    try {
      await this.advanceHeld(ms)
    } finally {
      release?.()
    }
  }

  private async advanceHeld(ms: number): Promise<void> {
    if (!(ms >= 0)) throw new InvalidArgumentError(`pocket-etcd: sim: cannot advance by ${ms} ms`, 'InvalidArgument', 'ErrInvalidArgument')
    const clock = this.clock
    if (clock instanceof ManualClock) {
      await clock.advanceAsync(ms, () => this.settle(1_000).then(() => undefined))
      await this.settle(1_000)
    } else {
      await new Promise<void>((resolve) => clock.setTimer(ms, resolve))
    }
  }

  /**
   * Runs until `cond()` holds, advancing a manual clock `stepMs` at a time (or waiting
   * `stepMs` of real time), for at most `timeoutMs` of cluster time. Returns whether it held.
   */
  async until(cond: () => boolean, timeoutMs = 10_000, stepMs = 10): Promise<boolean> {
    const release = this.clock.hold?.()
    try {
      const start = this.clock.now()
      await this.settle(200)
      while (!cond()) {
        if (this.clock.now() - start >= timeoutMs) return false
        await this.advance(stepMs)
      }
      return true
    } finally {
      release?.()
    }
  }

  private check(name: string): void {
    if (!this.host.memberNames().includes(name)) {
      throw new InvalidArgumentError(`pocket-etcd: sim: no member named ${JSON.stringify(name)}`, 'InvalidArgument', 'ErrInvalidArgument')
    }
  }
}
