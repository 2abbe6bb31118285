/**
 * The in-memory network between the members of one Store: a message bus with faults
 * (partitions, one-way cuts, crashed members, loss, duplication, delay, reordering) that a
 * test controls at run time. Deterministic: with a {@link ManualClock} and a seeded
 * {@link Random}, the same program delivers the same messages in the same order.
 *
 * @module
 */

import type { Clock, TimerHandle } from './clock.js'
import { invalidArgument } from './invalid-argument.js'
import type { Random } from './random.js'

/** Why a message was not delivered. */

const host = globalThis as { setImmediate?: (fn: () => void) => unknown }

/**
 * Runs `fn` on the next turn of the event loop (`setImmediate` where the host has it), not
 * on a microtask: members' database callbacks and timers (Raft ticks) then interleave fairly
 * with message delivery, instead of a busy member pair starving everything else.
 */
function nextTurn(fn: () => void): void {
  if (typeof host.setImmediate === 'function') host.setImmediate(fn)
  else globalThis.setTimeout(fn, 0)
}

export type DropReason =
  /** The network was closed before delivery. */
  | 'closed'
  /** Sender or recipient was not registered (at send or at delivery). */
  | 'unregistered'
  /** Sender or recipient unregistered and registered again while the message was in flight. */
  | 'restarted'
  /** Sender or recipient is marked down. */
  | 'down'
  /** Sender and recipient are on different sides of a partition, or one is isolated. */
  | 'partitioned'
  /** The link from sender to recipient is cut one way. */
  | 'cut'
  /** Lost at random, at the configured `drop` rate. */
  | 'random'

/** Fields every {@link NetworkEvent} carries. */
export interface NetworkEventBase<M> {
  /** Per-network send number; a duplicate carries its original's. */
  readonly seq: number
  readonly from: string
  readonly to: string
  readonly msg: M
  /** `clock.now()` when the event happened. */
  readonly time: number
}

/** One step in a message's life, passed to the `trace` hook; two runs compare by their traces. */
export type NetworkEvent<M> =
  | (NetworkEventBase<M> & { readonly type: 'send' | 'deliver' | 'duplicate' })
  | (NetworkEventBase<M> & { readonly type: 'drop'; readonly reason: DropReason })

/** Faults applied to every message; see {@link Network.configure}. */
export interface NetworkFaults {
  /** Probability in [0, 1] that a message is lost. */
  drop: number
  /** Probability in [0, 1] that a delivered message arrives twice. */
  duplicate: number
  /** Per-message delay drawn uniformly from the integers in [min, max] ms. */
  delayMs: readonly [number, number]
  /**
   * When false (the default), messages on one link (from → to) arrive in the order sent, as
   * over etcd's TCP streams. When true, they may overtake each other.
   */
  reorder: boolean
}

/** Counters since the network was created, for nemesis summaries. */
export interface NetworkStats {
  /** `send` calls. */
  sent: number
  delivered: number
  dropped: number
  /** Extra copies created by the `duplicate` fault. */
  duplicated: number
  /** Messages accepted and not yet delivered or dropped; `sent + duplicated = delivered + dropped + inFlight`. */
  inFlight: number
  /** `dropped`, broken down by reason. */
  droppedBy: Record<DropReason, number>
}

/** Options for {@link Network}. */
export interface NetworkOptions<M> {
  /** Schedules delayed deliveries; with a ManualClock they arrive only as time advances. */
  clock: Clock
  /** Decides drops, duplicates, delays and reordering (through forks 'drop', 'duplicate', 'delay', 'reorder'). */
  random: Random
  /** Called for every send, delivery, duplicate and drop, synchronously. */
  trace?: (event: NetworkEvent<M>) => void
  /** Initial faults; default none. */
  faults?: Partial<NetworkFaults>
}

/** Receives a message for a registered endpoint. It should not throw; a throw propagates. */
export type DeliverFn<M> = (from: string, msg: M) => void

interface Endpoint<M> {
  readonly deliver: DeliverFn<M>
  readonly epoch: number
}

interface Envelope<M> {
  readonly seq: number
  readonly from: string
  readonly to: string
  readonly msg: M
  readonly fromEpoch: number
  readonly toEpoch: number
  timer?: TimerHandle
}

const NO_GROUP = -1

function linkKey(from: string, to: string): string {
  return `${from}\u0000${to}`
}

/**
 * An in-memory message bus between named endpoints (member names such as 'm1'), generic in
 * the message type. Delivery is always asynchronous: with no delay a message is queued and
 * delivered on a microtask, in FIFO order; with a delay it is scheduled on the clock.
 *
 * Topology faults (down, partition, isolate, cut) are checked both when a message is sent
 * and when it is delivered, so they take effect at once even for messages in flight.
 * Messages are passed by reference, never copied: senders must not mutate them after `send`.
 */
export class Network<M> {
  readonly #clock: Clock
  readonly #dropRng: Random
  readonly #dupRng: Random
  readonly #delayRng: Random
  readonly #reorderRng: Random
  readonly #trace: ((event: NetworkEvent<M>) => void) | undefined

  readonly #endpoints = new Map<string, Endpoint<M>>()
  #epoch = 0
  #seq = 0
  #closed = false

  #faults: NetworkFaults = { drop: 0, duplicate: 0, delayMs: [0, 0], reorder: false }
  #groups = new Map<string, number>()
  readonly #isolated = new Set<string>()
  readonly #cuts = new Set<string>()
  readonly #down = new Set<string>()

  /** Zero-delay messages waiting for the next drain. */
  #queue: Envelope<M>[] = []
  #drainScheduled = false
  /** Delayed messages waiting on the clock. */
  readonly #timed = new Set<Envelope<M>>()
  /** Per link: when its last message is due, and how many of its messages wait on the clock. */
  readonly #links = new Map<string, { lastAt: number; timed: number }>()

  readonly #stats: NetworkStats = {
    sent: 0,
    delivered: 0,
    dropped: 0,
    duplicated: 0,
    inFlight: 0,
    droppedBy: { closed: 0, unregistered: 0, restarted: 0, down: 0, partitioned: 0, cut: 0, random: 0 },
  }

  constructor(options: NetworkOptions<M>) {
    this.#clock = options.clock
    this.#dropRng = options.random.fork('drop')
    this.#dupRng = options.random.fork('duplicate')
    this.#delayRng = options.random.fork('delay')
    this.#reorderRng = options.random.fork('reorder')
    this.#trace = options.trace
    if (options.faults) this.configure(options.faults)
  }

  /**
   * Attaches endpoint `id`; messages for it go to `deliver`. Registering again after
   * `unregister` is a restart: messages still in flight from or to the old registration are
   * dropped ('restarted'), as a restarted etcd member's peer connections are new. Throws
   * `InvalidArgumentError` if `id` is registered already.
   */
  register(id: string, deliver: DeliverFn<M>): void {
    if (this.#endpoints.has(id)) throw invalidArgument(`endpoint ${id} is already registered`)
    this.#endpoints.set(id, { deliver, epoch: ++this.#epoch })
  }

  /** Detaches endpoint `id` (a no-op if absent); its in-flight messages will be dropped. */
  unregister(id: string): void {
    this.#endpoints.delete(id)
  }

  /** True when `id` is registered. */
  isRegistered(id: string): boolean {
    return this.#endpoints.has(id)
  }

  /** Sends `msg` from `from` to `to`; never delivers synchronously, never throws for faults. */
  send(from: string, to: string, msg: M): void {
    const seq = ++this.#seq
    this.#stats.sent++
    const fromEp = this.#endpoints.get(from)
    const toEp = this.#endpoints.get(to)
    const env: Envelope<M> = { seq, from, to, msg, fromEpoch: fromEp?.epoch ?? 0, toEpoch: toEp?.epoch ?? 0 }
    this.#emit('send', env)
    this.#stats.inFlight++
    const blocked = this.#closed ? 'closed' : fromEp === undefined || toEp === undefined ? 'unregistered' : this.#topology(from, to)
    if (blocked !== undefined) return this.#drop(env, blocked)
    if (this.#faults.drop > 0 && this.#dropRng.chance(this.#faults.drop)) return this.#drop(env, 'random')
    this.#schedule(env)
    if (this.#faults.duplicate > 0 && this.#dupRng.chance(this.#faults.duplicate)) {
      const copy: Envelope<M> = { ...env }
      delete copy.timer
      this.#stats.duplicated++
      this.#stats.inFlight++
      this.#emit('duplicate', copy)
      this.#schedule(copy)
    }
  }

  /**
   * Splits the endpoints into groups that cannot talk to each other. Each argument is one
   * group; every endpoint not listed in any group (including ones registered later) belongs
   * to one more group, together. Replaces any previous partition; cuts, isolation and down
   * state are kept. `partition()` with no groups removes the partition only.
   */
  partition(...groups: readonly (readonly string[])[]): void {
    const next = new Map<string, number>()
    groups.forEach((group, i) => {
      for (const id of group) {
        if (next.has(id)) throw invalidArgument(`partition lists ${id} more than once`)
        next.set(id, i)
      }
    })
    this.#groups = next
  }

  /** Cuts `id` off from every other endpoint in both directions, on top of any partition. */
  isolate(id: string): void {
    this.#isolated.add(id)
  }

  /** Drops every message from `from` to `to` (one way; cut both ways for a full link cut). */
  cut(from: string, to: string): void {
    this.#cuts.add(linkKey(from, to))
  }

  /** Removes partitions, isolation and cuts. Down endpoints and configured faults stay. */
  heal(): void {
    this.#groups = new Map()
    this.#isolated.clear()
    this.#cuts.clear()
  }

  /** Marks `id` crashed: messages from or to it are dropped until {@link Network.up}. */
  down(id: string): void {
    this.#down.add(id)
  }

  /** Marks `id` running again. */
  up(id: string): void {
    this.#down.delete(id)
  }

  /** True when `id` is marked down. */
  isDown(id: string): boolean {
    return this.#down.has(id)
  }

  /** True when down state, partitions, isolation and cuts let `from` reach `to` now. */
  canReach(from: string, to: string): boolean {
    return this.#topology(from, to) === undefined
  }

  /**
   * Changes the random faults; fields left out keep their current value. Applies to messages
   * sent from now on. `configure({ drop: 0, duplicate: 0, delayMs: [0, 0], reorder: false })`
   * turns them all off.
   */
  configure(faults: Partial<NetworkFaults>): void {
    const next = { ...this.#faults, ...faults }
    for (const name of ['drop', 'duplicate'] as const) {
      const p = next[name]
      if (!(p >= 0 && p <= 1)) throw invalidArgument(`${name} must be a probability in [0, 1], got ${p}`)
    }
    const [min, max] = next.delayMs
    if (!Number.isSafeInteger(min) || !Number.isSafeInteger(max) || min < 0 || max < min) {
      throw invalidArgument(`delayMs must be integers [min, max] with 0 <= min <= max, got [${min}, ${max}]`)
    }
    this.#faults = { ...next, delayMs: [min, max] }
  }

  /** The random faults in force. */
  get faults(): Readonly<NetworkFaults> {
    return { ...this.#faults }
  }

  /** A snapshot of the counters. */
  stats(): NetworkStats {
    return { ...this.#stats, droppedBy: { ...this.#stats.droppedBy } }
  }

  /**
   * Delivers every zero-delay message queued now and any queued while doing so, synchronously,
   * instead of waiting for the microtask. Delayed messages still wait for the clock. Returns
   * how many were taken off the queue (delivered or dropped).
   */
  flush(): number {
    let n = 0
    while (this.#queue.length > 0) n += this.#drainQueued(this.#queue.length)
    return n
  }

  /** Drops every message in flight and stops delivering; later sends are dropped ('closed'). */
  close(): void {
    this.#closed = true
    const pending = [...this.#queue, ...this.#timed]
    this.#queue = []
    this.#timed.clear()
    this.#links.clear()
    for (const env of pending) {
      env.timer?.cancel()
      this.#drop(env, 'closed')
    }
    this.#endpoints.clear()
  }

  #topology(from: string, to: string): DropReason | undefined {
    if (this.#down.has(from) || this.#down.has(to)) return 'down'
    if (from === to) return undefined
    if (this.#isolated.has(from) || this.#isolated.has(to)) return 'partitioned'
    if ((this.#groups.get(from) ?? NO_GROUP) !== (this.#groups.get(to) ?? NO_GROUP)) return 'partitioned'
    if (this.#cuts.has(linkKey(from, to))) return 'cut'
    return undefined
  }

  #schedule(env: Envelope<M>): void {
    const [min, max] = this.#faults.delayMs
    const now = this.#clock.now()
    let at = now + (max > min ? this.#delayRng.range(min, max + 1) : min)
    let link: { lastAt: number; timed: number } | undefined
    if (!this.#faults.reorder) {
      const key = linkKey(env.from, env.to)
      link = this.#links.get(key)
      if (link === undefined) {
        link = { lastAt: at, timed: 0 }
        this.#links.set(key, link)
      }
      at = Math.max(at, link.lastAt)
      link.lastAt = at
    }
    // A zero-delay message must still wait behind a delayed one on its link (FIFO), so it
    // goes on the clock too; timers due at the same time fire in creation order.
    if (at <= now && (link === undefined || link.timed === 0)) {
      this.#queue.push(env)
      this.#ensureDrain()
      return
    }
    if (link) link.timed++
    this.#timed.add(env)
    env.timer = this.#clock.setTimer(at - now, () => {
      this.#timed.delete(env)
      if (link) link.timed--
      // Zero-delay messages queued before this timer fired were sent no later than this one
      // was due: deliver them first so delivery order follows due time. The finally keeps
      // this message from being lost if one of their handlers throws (the error propagates).
      try {
        this.#drainQueued(this.#queue.length)
      } finally {
        this.#deliver(env)
      }
    })
  }

  /** Schedules a microtask drain if messages are queued and none is scheduled. */
  #ensureDrain(): void {
    if (this.#queue.length === 0 || this.#drainScheduled) return
    this.#drainScheduled = true
    nextTurn(() => {
      this.#drainScheduled = false
      // Only what is queued now: messages sent by handlers wait for the next microtask, so a
      // ping-pong between endpoints cannot starve other work. The finally in #drainQueued
      // schedules the next round.
      this.#drainQueued(this.#queue.length)
    })
  }

  /** Delivers up to `count` queued messages: FIFO, or random picks when reordering. */
  #drainQueued(count: number): number {
    let n = 0
    try {
      for (; n < count && this.#queue.length > 0; ) {
        const i = this.#faults.reorder ? this.#reorderRng.int(this.#queue.length) : 0
        const env = this.#queue.splice(i, 1)[0] as Envelope<M>
        n++
        this.#deliver(env)
      }
    } finally {
      // A throwing handler must not strand the rest of the queue.
      this.#ensureDrain()
    }
    return n
  }

  #deliver(env: Envelope<M>): void {
    if (this.#closed) return this.#drop(env, 'closed')
    const fromEp = this.#endpoints.get(env.from)
    const toEp = this.#endpoints.get(env.to)
    if (fromEp === undefined || toEp === undefined) return this.#drop(env, 'unregistered')
    if (fromEp.epoch !== env.fromEpoch || toEp.epoch !== env.toEpoch) return this.#drop(env, 'restarted')
    const blocked = this.#topology(env.from, env.to)
    if (blocked !== undefined) return this.#drop(env, blocked)
    this.#stats.inFlight--
    this.#stats.delivered++
    this.#emit('deliver', env)
    toEp.deliver(env.from, env.msg)
  }

  #drop(env: Envelope<M>, reason: DropReason): void {
    this.#stats.inFlight--
    this.#stats.dropped++
    this.#stats.droppedBy[reason]++
    if (this.#trace) {
      this.#trace({ type: 'drop', reason, seq: env.seq, from: env.from, to: env.to, msg: env.msg, time: this.#clock.now() })
    }
  }

  #emit(type: 'send' | 'deliver' | 'duplicate', env: Envelope<M>): void {
    if (this.#trace) this.#trace({ type, seq: env.seq, from: env.from, to: env.to, msg: env.msg, time: this.#clock.now() })
  }
}
