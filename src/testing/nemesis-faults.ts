/**
 * Fault injectors below the network for the nemesis: a member database whose writes can fail
 * (or tear: only a prefix of a Raft log append reaches it) and a member clock that can run
 * fast or stop. Both are plain wrappers a Store is opened with, so the library itself keeps
 * no fault code on its hot paths.
 *
 * @module
 */
import { MemoryLevel } from 'memory-level'
import { decodeLogRecord, encodeChunk } from '../member/raft-storage.js'
import type { Clock, TimerHandle } from '../sim/clock.js'

/** How the next batch written to a {@link NemesisLevel} fails. */
export type WriteFault =
  /** The batch is refused whole (a full disk, an I/O error): nothing of it is stored. */
  | 'fail'
  /**
   * The process dies while writing: when the batch is a pure Raft log append, only a prefix
   * of its entries is stored (etcd's WAL can lose a torn tail, which it truncates on
   * replay); any other batch is atomic (a bbolt transaction, a LevelDB batch) and is lost
   * whole. Either way the write fails.
   */
  | 'torn'

interface BatchOp {
  type: 'put' | 'del'
  key: unknown
  value?: unknown
}

type BatchFn = (ops: BatchOp[], options: object) => Promise<void>

/** The error an injected write failure throws (the member sees a backend failure). */
export class InjectedWriteError extends Error {
  constructor(fault: WriteFault) {
    super(`nemesis: injected ${fault === 'torn' ? 'torn write (crash mid-batch)' : 'write failure'}`)
    this.name = 'InjectedWriteError'
  }
}

const LOG_BUCKET = new TextEncoder().encode('!raft-log!')

function isLogKey(key: unknown): boolean {
  if (!(key instanceof Uint8Array) || key.length < LOG_BUCKET.length) return false
  for (let i = 0; i < LOG_BUCKET.length; i++) if (key[i] !== LOG_BUCKET[i]) return false
  return true
}

/**
 * What a torn write stores of a batch: a prefix of the entries of a pure Raft log append (one
 * record per save, so a prefix of that record's entries, `keep` modulo their count), or
 * `undefined` for any other batch (atomic: nothing of it is stored).
 */
function tornAppend(ops: BatchOp[], keep: number): BatchOp[] | undefined {
  const op = ops[0]
  if (ops.length !== 1 || op === undefined || op.type !== 'put' || !isLogKey(op.key) || !(op.value instanceof Uint8Array)) return undefined
  const entries = decodeLogRecord(0, op.value)
  if (entries.length < 2) return undefined
  const n = keep % entries.length
  return n === 0 ? [] : [{ ...op, value: encodeChunk(entries.slice(0, n)) }]
}

/**
 * A memory-level database whose next batch can be made to fail ({@link NemesisLevel.inject}).
 * A member writes each Raft Ready and each group of applied entries as one batch, so a
 * failed batch is a failed fsync: the member must stop, not continue with state it did not
 * store.
 */
export class NemesisLevel extends MemoryLevel<Uint8Array, Uint8Array> {
  private armed: { fault: WriteFault; keep: number } | undefined
  /** Injected failures that fired, by kind. */
  readonly fired: Record<WriteFault, number> = { fail: 0, torn: 0 }
  /** Called after an injected failure fired (the nemesis then checks the member stopped). */
  onFired: ((fault: WriteFault) => void) | undefined

  constructor() {
    super({ keyEncoding: 'view', valueEncoding: 'view' })
    const self = this as unknown as { _batch: BatchFn }
    const original: BatchFn = self._batch.bind(this)
    self._batch = async (ops, options) => {
      const armed = this.armed
      if (armed === undefined) return original(ops, options)
      this.armed = undefined
      const torn = armed.fault === 'torn' ? tornAppend(ops, armed.keep) : undefined
      if (torn !== undefined) await original(torn, options)
      this.fired[armed.fault]++
      this.onFired?.(armed.fault)
      throw new InjectedWriteError(armed.fault)
    }
  }

  /** Makes the next batch fail as `fault`; for `torn`, `keep` picks how many operations of it are stored. */
  inject(fault: WriteFault, keep = 1): void {
    this.armed = { fault, keep }
  }

  /** Disarms a failure that has not fired yet. */
  disarm(): void {
    this.armed = undefined
  }

  /** True while an injected failure waits for the next batch. */
  get isArmed(): boolean {
    return this.armed !== undefined
  }
}

interface SkewTimer {
  /** When it is due, in ms of this clock. */
  due: number
  fn: () => void
  handle: TimerHandle | undefined
  done: boolean
}

/**
 * A member's own clock over the cluster clock, running at `rate` times its speed: 2 runs
 * fast (its timers fire early, its leases expire early), 0 stands still (no ticks, no
 * timeouts: a paused process). Changing the rate re-arms pending timers, so a stopped
 * clock that starts again fires what it owes.
 */
export class SkewedClock implements Clock {
  private readonly base: Clock
  private rate = 1
  private anchorBase: number
  private anchorOwn: number
  private readonly timers = new Set<SkewTimer>()

  constructor(base: Clock, rate = 1) {
    this.base = base
    this.anchorBase = base.now()
    this.anchorOwn = this.anchorBase
    this.setRate(rate)
  }

  /** The current rate (1: the cluster's speed). */
  get speed(): number {
    return this.rate
  }

  /** Milliseconds of this clock. */
  now(): number {
    return this.anchorOwn + (this.base.now() - this.anchorBase) * this.rate
  }

  /** Changes the speed from now on (0: stopped); pending timers keep their due time on this clock. */
  setRate(rate: number): void {
    if (!(rate >= 0) || !Number.isFinite(rate)) throw new RangeError(`clock rate must be finite and >= 0, got ${rate}`)
    const own = this.now()
    this.anchorBase = this.base.now()
    this.anchorOwn = own
    this.rate = rate
    for (const t of this.timers) this.arm(t)
  }

  private arm(t: SkewTimer): void {
    t.handle?.cancel()
    t.handle = undefined
    if (this.rate === 0) return
    const remaining = Math.max(0, t.due - this.now())
    t.handle = this.base.setTimer(Math.ceil(remaining / this.rate), () => {
      if (t.done) return
      t.done = true
      this.timers.delete(t)
      t.fn()
    })
  }

  /** Runs `fn` after `ms` of this clock. */
  setTimer(ms: number, fn: () => void): TimerHandle {
    const t: SkewTimer = { due: this.now() + Math.max(0, ms), fn, handle: undefined, done: false }
    this.timers.add(t)
    this.arm(t)
    return {
      cancel: () => {
        t.done = true
        t.handle?.cancel()
        this.timers.delete(t)
      },
    }
  }

  /** Runs `fn` every `ms` of this clock. */
  every(ms: number, fn: () => void): TimerHandle {
    let current: TimerHandle | undefined
    let stopped = false
    const tick = (): void => {
      if (stopped) return
      current = this.setTimer(ms, tick)
      fn()
    }
    current = this.setTimer(ms, tick)
    return {
      cancel: () => {
        stopped = true
        current?.cancel()
      },
    }
  }

  /** Delegates to the cluster clock. */
  hold(): () => void {
    return this.base.hold?.() ?? (() => undefined)
  }
}
