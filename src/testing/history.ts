/**
 * The history format the checkers read: what each client asked, when, and what it got back,
 * in the style of Jepsen and Porcupine. An operation is invoked by a `process` (one client,
 * one request at a time) at `invoke` and completes at `complete`, both in cluster time; its
 * outcome is `ok` (with the output), `fail` (it definitely did not take effect) or `info`
 * (unknown: it may or may not have taken effect, at any point after its invocation).
 *
 * @module
 */

/**
 * What became of one operation: `ok` returned `output`; `fail` definitely did not happen;
 * `info` may have happened or not (a timeout, a lost connection, a crash).
 */
export type OutcomeType = 'ok' | 'fail' | 'info'

/**
 * One client operation (a Jepsen op, a Porcupine `Operation`). `invoke <= complete`; for an
 * `info` outcome the checkers treat `complete` as +Infinity whatever it says.
 */
export interface Operation<I, O> {
  /** Position in its history, unique (assigned by {@link HistoryRecorder} or {@link history}). */
  id: number
  /** The client that issued it; a process runs one operation at a time. */
  process: string | number
  /** Cluster time at which it was invoked. */
  invoke: number
  /** Cluster time at which its response (or error) arrived. */
  complete: number
  /** The model-specific input (`{ type: 'put', key, value }`, ...). */
  op: I
  /** What became of it. */
  outcome: OutcomeType
  /** The model-specific output, for `ok` outcomes. */
  output?: O
  /** Why it failed or is unknown, for the report. */
  error?: string
  /**
   * Tie-breakers for equal times: the order in which the recorder saw the invocation and the
   * completion. When two events share a time and both carry one, the smaller happened first;
   * otherwise an invocation is taken to come before a completion (they overlap).
   */
  invokeSeq?: number
  /** See {@link Operation.invokeSeq}. */
  completeSeq?: number
}

/** A recorded history: operations in any order (checkers sort by time). */
export type History<I, O> = Operation<I, O>[]

/** An operation as written by hand in a test: `id` is assigned by {@link history}. */
export type OperationSpec<I, O> = Omit<Operation<I, O>, 'id'> & { id?: number }

/** Builds a history from hand-written operations, numbering them in order; for tests and fixtures. */
export function history<I, O>(ops: OperationSpec<I, O>[]): History<I, O> {
  return ops.map((o, i) => ({ ...o, id: o.id ?? i }))
}

/** How a settled call is recorded: `ok` with an output, or `fail`/`info` with an error text. */
export type Completion<O> = { outcome: 'ok'; output: O } | { outcome: 'fail' | 'info'; error?: string }

/** The settled result of a recorded call, handed to the classifier. */
export type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown }

/**
 * Records a history around async calls: `record` notes the invocation time, awaits the call,
 * notes the completion time and lets the caller classify the result. Times come from the
 * given clock (use `store.sim.clock`, so they are cluster time); a global sequence number
 * breaks ties between events at the same time, so the real-time order is kept exactly.
 */
export class HistoryRecorder<I, O> {
  private readonly clock: { now(): number }
  private readonly ops: Operation<I, O>[] = []
  private seq = 0
  private nextId = 0

  /** `clock` gives cluster time (`store.sim.clock`); any object with `now()` will do. */
  constructor(clock: { now(): number }) {
    this.clock = clock
  }

  /**
   * Invokes `call` as `process` doing `op`, records its outcome as `classify` decides, and
   * returns the completion (never throws for the call's error: the classifier sees it).
   * A classifier that throws is a test bug: its error propagates and nothing is recorded.
   */
  async record<T>(process: string | number, op: I, call: () => Promise<T>, classify: (result: Settled<T>) => Completion<O>): Promise<Completion<O>> {
    const id = this.nextId++
    const invoke = this.clock.now()
    const invokeSeq = ++this.seq
    let settled: Settled<T>
    try {
      settled = { ok: true, value: await call() }
    } catch (error) {
      settled = { ok: false, error }
    }
    const complete = this.clock.now()
    const completeSeq = ++this.seq
    const c = classify(settled)
    const entry: Operation<I, O> = { id, process, invoke, complete, op, outcome: c.outcome, invokeSeq, completeSeq }
    if (c.outcome === 'ok') entry.output = c.output
    else if (c.error !== undefined) entry.error = c.error
    this.ops.push(entry)
    return c
  }

  /** Adds an operation recorded elsewhere (a lock hold, an op built by hand); returns it with its id. */
  add(op: OperationSpec<I, O>): Operation<I, O> {
    const entry = { ...op, id: this.nextId++ }
    this.ops.push(entry)
    return entry
  }

  /** The operations recorded so far, sorted by id (invocation order). */
  history(): History<I, O> {
    return [...this.ops].sort((a, b) => a.id - b.id)
  }
}

/** Formats a number of cluster time for reports (`∞` for Infinity). */
export function formatTime(t: number): string {
  return t === Infinity ? '∞' : String(t)
}

/** One line per operation, for failure reports: `p1 [10, 20] put k=1 -> ok`. */
export function formatOperation<I, O>(o: Operation<I, O>, show: (value: unknown) => string = defaultShow): string {
  const result = o.outcome === 'ok' ? `ok ${show(o.output)}` : o.outcome === 'info' ? `info (unknown${o.error ? `: ${o.error}` : ''})` : `fail${o.error ? ` (${o.error})` : ''}`
  return `#${o.id} process ${String(o.process)} [${formatTime(o.invoke)}, ${o.outcome === 'info' ? '∞' : formatTime(o.complete)}] ${show(o.op)} -> ${result}`
}

function defaultShow(value: unknown): string {
  return value === undefined ? '' : JSON.stringify(value)
}
