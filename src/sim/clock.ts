/**
 * Time for pocket-etcd. Every timer in the library (Raft ticks, lease expiry, request
 * timeouts, delayed network messages) comes from a {@link Clock}, so a test that owns a
 * {@link ManualClock} decides exactly when anything time-driven happens. This file is the only
 * place in the core that reads real time ({@link RealClock}).
 *
 * `now()` is a monotonic millisecond counter with an arbitrary origin, not wall-clock time.
 *
 * @module
 */

import { assert } from '../errors.js'
import { invalidArgument } from './invalid-argument.js'
import { TimerQueue, type QueuedTimer } from './timer-queue.js'

/** A scheduled callback that can be cancelled; cancelling twice or after it fired is a no-op. */
export interface TimerHandle {
  /** Stops the callback from running (again, for {@link Clock.every}). */
  cancel(): void
}

/**
 * A source of time and timers. Components take a `Clock` instead of calling `setTimeout` or
 * `Date.now`, so the same code runs on real time or under a test's {@link ManualClock}.
 */
export interface Clock {
  /** Milliseconds on a monotonic counter with an arbitrary origin. */
  now(): number
  /** Runs `fn` once, `ms` milliseconds from now (negative is treated as 0). */
  setTimer(ms: number, fn: () => void): TimerHandle
  /**
   * Runs `fn` every `ms` milliseconds (ms > 0) at a fixed rate, like Go's `time.Ticker`:
   * when the host falls behind by whole periods, the missed ticks are dropped, not bunched.
   */
  every(ms: number, fn: () => void): TimerHandle
  /**
   * Keeps the host process alive until the returned release function is called (real
   * clocks; a no-op on a manual clock). Callers hold while a request waits on time, so an
   * idle Store never pins the process but a pending request is never abandoned by it.
   */
  hold?(): () => void
}

/**
 * Runs `run` while `hold` (a clock's {@link Clock.hold}) keeps the host alive, and releases
 * it once `run` settles: how the services keep the process alive for a request in flight.
 */
export function whileHeld<T>(hold: () => () => void, run: () => Promise<T>): Promise<T> {
  const release = hold()
  let p: Promise<T>
  try {
    p = run()
  } catch (err) {
    release()
    return Promise.reject(err)
  }
  // the caller gets `run`'s own promise: no async wrapper to resolve; the release reaction
  // is registered first, so it runs before the caller's continuation
  p.then(release, release)
  return p
}

const INERT: TimerHandle = Object.freeze({ cancel(): void {} })

function checkDelay(ms: number): number {
  if (Number.isNaN(ms) || ms === Infinity) throw invalidArgument(`timer delay must be a finite number, got ${ms}`)
  return ms < 0 ? 0 : ms
}

/**
 * Implements {@link Clock.every} on top of `setTimer` for any clock: fixed-rate from the
 * first call, re-armed before `fn` runs so a throwing `fn` does not stop the ticker.
 */
function repeat(clock: Clock, ms: number, fn: () => void): TimerHandle {
  if (!(ms > 0) || ms === Infinity) throw invalidArgument(`every() period must be a positive finite number, got ${ms}`)
  let next = clock.now() + ms
  let current: TimerHandle | undefined
  let stopped = false
  const tick = (): void => {
    const now = clock.now()
    next += ms
    // Drop ticks the host missed (a slow event loop) instead of firing a burst of them.
    if (next <= now) next += (Math.floor((now - next) / ms) + 1) * ms
    current = clock.setTimer(next - now, tick)
    fn()
  }
  current = clock.setTimer(ms, tick)
  return {
    cancel(): void {
      if (stopped) return
      stopped = true
      current?.cancel()
    },
  }
}

/** Yields to the host event loop once: pending microtasks, I/O callbacks and promises run. */
function yieldToHost(): Promise<void> {
  const host = globalThis as unknown as {
    setImmediate?: (fn: () => void) => unknown
    setTimeout: (fn: () => void, ms: number) => unknown
  }
  return new Promise((resolve) => {
    if (host.setImmediate) host.setImmediate(resolve)
    else host.setTimeout(resolve, 0)
  })
}

/** Options for {@link ManualClock}. */
export interface ManualClockOptions {
  /** The initial value of `now()`; default 0. */
  start?: number
}

/**
 * A clock whose time moves only when told to ({@link ManualClock.advance}). Timers fire in
 * (due time, creation order); timers created while advancing that fall due inside the window
 * fire in the same call. Nothing here reads real time, so runs are reproducible.
 */
export class ManualClock implements Clock {
  #now: number
  #timers = new TimerQueue()
  #advancing = false
  #closed = false

  constructor(options: ManualClockOptions = {}) {
    const start = options.start ?? 0
    if (!Number.isFinite(start)) throw invalidArgument(`start must be finite, got ${start}`)
    this.#now = start
  }

  /** The current simulated time in milliseconds. */
  now(): number {
    return this.#now
  }

  /**
   * Schedules `fn` at `now() + ms`. A 0 ms timer does not fire by itself: it fires on the next
   * `advance` (even `advance(0)`). After {@link ManualClock.close} the returned handle is inert.
   */
  setTimer(ms: number, fn: () => void): TimerHandle {
    const delay = checkDelay(ms)
    if (this.#closed) return INERT
    const timers = this.#timers
    const t: QueuedTimer = timers.push(this.#now + delay, fn)
    return { cancel: () => timers.cancel(t) }
  }

  /** See {@link Clock.every}; under a manual clock ticks land exactly on `start + k * ms`. */
  every(ms: number, fn: () => void): TimerHandle {
    return repeat(this, ms, fn)
  }

  /**
   * Moves time forward by `ms`, firing every timer due up to and including the new time, in
   * order, with `now()` equal to each timer's due time while it runs. Returns how many fired.
   * If a callback throws, the error propagates and `now()` stays at that timer's due time;
   * the remaining timers stay scheduled.
   */
  advance(ms: number): number {
    if (!(ms >= 0) || ms === Infinity) throw invalidArgument(`advance() needs a finite ms >= 0, got ${ms}`)
    return this.advanceTo(this.#now + ms)
  }

  /** Moves time forward to `t` (>= now), firing due timers as {@link ManualClock.advance} does. */
  advanceTo(t: number): number {
    if (!Number.isFinite(t) || t < this.#now) {
      throw invalidArgument(`advanceTo(${t}) must be finite and not before now (${this.#now})`)
    }
    assert(!this.#advancing, 'ManualClock.advance called from inside a timer callback')
    this.#advancing = true
    let fired = 0
    try {
      for (;;) {
        const next = this.#timers.peek()
        if (next === undefined || next.at > t) break
        this.#timers.pop()
        this.#now = next.at
        fired++
        next.fn()
      }
      this.#now = t
    } finally {
      this.#advancing = false
    }
    return fired
  }

  /**
   * Jumps to the next due time and fires every timer due then (and 0 ms timers they create).
   * Returns how many fired; 0 when no timer is pending (time does not move).
   */
  step(): number {
    const at = this.nextTimerAt()
    return at === undefined ? 0 : this.advanceTo(at)
  }

  /**
   * Advances by `ms` one due time at a time, awaiting `settle()` after each, so asynchronous
   * work started by a timer (persisting, applying, replying) finishes before time moves on.
   * `settle` defaults to one turn of the host event loop. Returns how many timers fired.
   */
  async advanceAsync(ms: number, settle: () => Promise<void> = yieldToHost): Promise<number> {
    if (!(ms >= 0) || ms === Infinity) throw invalidArgument(`advanceAsync() needs a finite ms >= 0, got ${ms}`)
    const target = this.#now + ms
    let fired = 0
    await settle()
    for (;;) {
      if (this.#closed) return fired
      const at = this.nextTimerAt()
      if (at === undefined || at > target) break
      fired += this.advanceTo(Math.max(at, this.#now))
      await settle()
    }
    if (this.#now < target) this.advanceTo(target)
    return fired
  }

  /** How many timers are scheduled and not cancelled. */
  pendingTimers(): number {
    return this.#timers.size
  }

  /** The due time of the earliest pending timer, for "run until quiet" loops. */
  nextTimerAt(): number | undefined {
    return this.#timers.peek()?.at
  }

  /** True once {@link ManualClock.close} has run. */
  get closed(): boolean {
    return this.#closed
  }

  /** Cancels every pending timer; later `setTimer`/`every` calls return inert handles. */
  close(): void {
    this.#closed = true
    this.#timers.clear()
  }
}

/** Options for {@link RealClock}. */
export interface RealClockOptions {
  /**
   * Unreference host timers where the host supports it (Node), so pending timers alone never
   * keep the process alive; default true.
   */
  unref?: boolean
}

type HostHandle = unknown
interface HostTimers {
  setTimeout(fn: () => void, ms: number): HostHandle
  clearTimeout(handle: HostHandle): void
  setInterval(fn: () => void, ms: number): HostHandle
  clearInterval(handle: HostHandle): void
}

/** The longest delay hosts accept (2^31 - 1 ms); longer timers are chained. */
const MAX_HOST_DELAY = 2_147_483_647

/**
 * A clock on the host's real time: `performance.now()` (or `Date.now()` where absent) and
 * `setTimeout`. Timers are unreferenced by default so an idle Store does not keep Node
 * running, and {@link RealClock.close} cancels every timer still outstanding.
 */
export class RealClock implements Clock {
  readonly #host = globalThis as unknown as HostTimers
  readonly #unref: boolean
  readonly #outstanding = new Set<{ handle: HostHandle }>()
  #closed = false

  constructor(options: RealClockOptions = {}) {
    this.#unref = options.unref ?? true
  }

  /** Milliseconds since an arbitrary origin, monotonic where the host offers `performance`. */
  now(): number {
    const perf = (globalThis as { performance?: { now(): number } }).performance
    return perf ? perf.now() : Date.now()
  }

  /** Schedules `fn` on the host's `setTimeout`; delays beyond 2^31-1 ms are chained. */
  setTimer(ms: number, fn: () => void): TimerHandle {
    const delay = checkDelay(ms)
    if (this.#closed) return INERT
    const entry: { handle: HostHandle } = { handle: undefined }
    const due = this.now() + delay
    const arm = (wait: number): void => {
      entry.handle = this.#host.setTimeout(() => {
        const left = due - this.now()
        if (wait === MAX_HOST_DELAY && left > 0) {
          arm(Math.min(left, MAX_HOST_DELAY))
          return
        }
        this.#outstanding.delete(entry)
        fn()
      }, wait)
      if (this.#unref) (entry.handle as { unref?: () => void } | null)?.unref?.()
    }
    arm(Math.min(delay, MAX_HOST_DELAY))
    this.#outstanding.add(entry)
    return {
      cancel: () => {
        if (this.#outstanding.delete(entry)) this.#host.clearTimeout(entry.handle)
      },
    }
  }

  /** See {@link Clock.every}. */
  every(ms: number, fn: () => void): TimerHandle {
    return repeat(this, ms, fn)
  }

  /** How many timers are scheduled and have neither fired nor been cancelled. */
  pendingTimers(): number {
    return this.#outstanding.size
  }

  #holds = 0
  #keepAlive: HostHandle = undefined

  /** See {@link Clock.hold}: a referenced host interval runs while any hold is taken. */
  hold(): () => void {
    if (this.#closed) return () => undefined
    if (this.#holds++ === 0) this.#keepAlive = this.#host.setInterval(() => undefined, 1 << 30)
    let released = false
    return () => {
      if (released) return
      released = true
      if (--this.#holds === 0 && this.#keepAlive !== undefined) {
        this.#host.clearInterval(this.#keepAlive)
        this.#keepAlive = undefined
      }
    }
  }

  /** True once {@link RealClock.close} has run. */
  get closed(): boolean {
    return this.#closed
  }

  /** Cancels every outstanding timer and hold; later `setTimer`/`every` calls return inert handles. */
  close(): void {
    this.#closed = true
    for (const entry of this.#outstanding) this.#host.clearTimeout(entry.handle)
    this.#outstanding.clear()
    if (this.#keepAlive !== undefined) this.#host.clearInterval(this.#keepAlive)
    this.#keepAlive = undefined
    this.#holds = 0
  }
}
