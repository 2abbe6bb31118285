/**
 * A linearizability checker in the style of Wing & Gong, with Lowe's memoisation, as
 * Porcupine implements it: a depth-first search over the history's call and return entries
 * kept in a doubly linked list, lifting an operation out when it is linearized and putting it
 * back when the search backtracks, and remembering every (linearized set, model state) pair
 * already explored. Histories are split by key first (P-compositionality) when the model says
 * which keys an operation touches.
 *
 * Outcomes: `fail` operations are left out (they did not happen); `info` operations may be
 * linearized at any point after their invocation, or never. The search has a step and time
 * budget; when it runs out the verdict is `unknown`, never a hang. On a violation the checker
 * shrinks the failing group to a small sub-history that still fails, using only steps that
 * keep it a proof (a shorter prefix, dropping reads, turning outputs into unknowns), and
 * reports it one operation per line with the longest partial linearization it reached.
 *
 * @module
 */
import type { History, Operation } from './history.js'
import { formatTime } from './history.js'
import type { Model } from './model.js'

/** Budgets and switches for {@link checkLinearizability}. */
export interface LinearizabilityOptions {
  /** Search steps allowed over the whole check (default 5,000,000). */
  maxSteps?: number
  /** Milliseconds of real time allowed for the search (default 20,000). */
  timeoutMs?: number
  /** Shrink a failing group to a small failing sub-history (default true). */
  shrink?: boolean
  /** Milliseconds of real time allowed for shrinking (default 3,000). */
  shrinkTimeoutMs?: number
  /** Source of real time for the budgets (default `performance.now`). */
  now?: () => number
}

/** `ok`: linearizable; `illegal`: not; `unknown`: the budget ran out before an answer. */
export type Verdict = 'ok' | 'illegal' | 'unknown'

/** What a violation looks like: a failing sub-history and how far the search got in it. */
export interface LinearizabilityFailure<S, I, O> {
  /** The keys of the group that failed (empty when the model does not partition). */
  keys: string[]
  /** The number of operations in the failing group before shrinking. */
  groupSize: number
  /** A small sub-history that is still not linearizable; if it fails, so does the history. */
  history: History<I, O>
  /** The longest sequence of its operations the search could linearize, in order. */
  linearized: Operation<I, O>[]
  /** The model state after that partial linearization. */
  state: S
}

/** The answer of {@link checkLinearizability}. */
export interface LinearizabilityResult<S, I, O> {
  verdict: Verdict
  /** Number of independent groups checked. */
  groups: number
  /** Search steps taken (shrinking excluded). */
  steps: number
  /** Set when the verdict is `illegal`. */
  failure?: LinearizabilityFailure<S, I, O>
  /** A readable account: the verdict and, for a violation, the failing sub-history. */
  report: string
}

interface Entry {
  op: number
  call: boolean
  time: number
  seq: number | undefined
  match: Entry | undefined
  prev: Entry | undefined
  next: Entry | undefined
}

interface SearchResult<S> {
  verdict: Verdict
  steps: number
  /** Indices (into the ops given) of the longest partial linearization. */
  longest: number[]
  state: S
}

class Budget {
  steps = 0
  constructor(
    readonly maxSteps: number,
    readonly deadline: number,
    readonly now: () => number,
  ) {}
  /** False once the budget is spent; checks the clock every 1,000 steps. */
  tick(): boolean {
    this.steps++
    if (this.steps > this.maxSteps) return false
    return (this.steps & 1023) !== 0 || this.now() < this.deadline
  }
}

function defaultNow(): number {
  return globalThis.performance.now()
}

/** Sorts call and return entries: by time; ties by recorded sequence when both have one, else calls first. */
function buildEntries<I, O>(ops: Operation<I, O>[]): Entry | undefined {
  const entries: Entry[] = []
  ops.forEach((o, i) => {
    const call: Entry = { op: i, call: true, time: o.invoke, seq: o.invokeSeq, match: undefined, prev: undefined, next: undefined }
    const unknown = o.outcome === 'info'
    const ret: Entry = { op: i, call: false, time: unknown ? Infinity : o.complete, seq: unknown ? undefined : o.completeSeq, match: undefined, prev: undefined, next: undefined }
    call.match = ret
    entries.push(call, ret)
  })
  entries.sort((a, b) => {
    if (a.time !== b.time) return a.time - b.time
    if (a.seq !== undefined && b.seq !== undefined) return a.seq - b.seq
    if (a.call !== b.call) return a.call ? -1 : 1
    return a.op - b.op
  })
  const head: Entry = { op: -1, call: false, time: -Infinity, seq: undefined, match: undefined, prev: undefined, next: undefined }
  let prev = head
  for (const e of entries) {
    prev.next = e
    e.prev = prev
    prev = e
  }
  return head
}

function lift(e: Entry): void {
  e.prev!.next = e.next
  if (e.next) e.next.prev = e.prev
  const m = e.match!
  m.prev!.next = m.next
  if (m.next) m.next.prev = m.prev
}

function unlift(e: Entry): void {
  const m = e.match!
  m.prev!.next = m
  if (m.next) m.next.prev = m
  e.prev!.next = e
  if (e.next) e.next.prev = e
}

/** The Wing–Gong–Lowe search over one group of operations (no `fail` outcomes in it). */
function search<S, I, O>(ops: Operation<I, O>[], model: Model<S, I, O>, budget: Budget): SearchResult<S> {
  const start = budget.steps
  const head = buildEntries(ops)!
  const words = new Uint32Array(Math.ceil(ops.length / 32) + 1)
  const cache = new Set<string>()
  const calls: { entry: Entry; state: S }[] = []
  let state = model.init()
  let required = ops.filter((o) => o.outcome === 'ok').length
  let longest: number[] = []
  let longestState = state
  let entry = head.next
  const done = (verdict: Verdict): SearchResult<S> => ({ verdict, steps: budget.steps - start, longest, state: longestState })
  for (;;) {
    if (required === 0) {
      longest = calls.map((c) => c.entry.op)
      longestState = state
      return done('ok')
    }
    if (!budget.tick()) return done('unknown')
    if (entry === undefined) return done('illegal')
    if (entry.call) {
      const o = ops[entry.op]!
      const unknown = o.outcome === 'info'
      const next = model.step(state, o.op, unknown ? undefined : o.output, unknown)
      if (next !== undefined) {
        const w = entry.op >>> 5
        const bit = 1 << (entry.op & 31)
        words[w]! |= bit
        const k = `${words.join(',')}|${model.key(next)}`
        if (!cache.has(k)) {
          cache.add(k)
          calls.push({ entry, state })
          state = next
          if (!unknown) required--
          lift(entry)
          if (calls.length > longest.length) {
            longest = calls.map((c) => c.entry.op)
            longestState = state
          }
          entry = head.next
          continue
        }
        words[w]! &= ~bit
      }
      entry = entry.next
    } else {
      // a return: its operation cannot be put off any longer, so undo the last choice
      const top = calls.pop()
      if (top === undefined) return done('illegal')
      state = top.state
      const o = ops[top.entry.op]!
      if (o.outcome !== 'info') required++
      words[top.entry.op >>> 5]! &= ~(1 << (top.entry.op & 31))
      unlift(top.entry)
      entry = top.entry.next
    }
  }
}

/** Splits operations into groups connected by shared keys (union-find); one group when the model has no `keys`. */
function partition<S, I, O>(ops: Operation<I, O>[], model: Model<S, I, O>): { keys: string[]; ops: Operation<I, O>[] }[] {
  if (model.keys === undefined) return [{ keys: [], ops }]
  const parent = new Map<string, string>()
  const find = (k: string): string => {
    let r = k
    while (parent.get(r) !== r) r = parent.get(r)!
    let c = k
    while (c !== r) {
      const n = parent.get(c)!
      parent.set(c, r)
      c = n
    }
    return r
  }
  const opKeys = ops.map((o) => model.keys!(o.op))
  for (const ks of opKeys) {
    for (const k of ks) if (!parent.has(k)) parent.set(k, k)
    for (let i = 1; i < ks.length; i++) {
      const a = find(ks[0]!)
      const b = find(ks[i]!)
      if (a !== b) parent.set(a, b)
    }
  }
  const groups = new Map<string, { keys: Set<string>; ops: Operation<I, O>[] }>()
  ops.forEach((o, i) => {
    const ks = opKeys[i]!
    const root = ks.length === 0 ? '' : find(ks[0]!)
    let g = groups.get(root)
    if (g === undefined) groups.set(root, (g = { keys: new Set(), ops: [] }))
    for (const k of ks) g.keys.add(k)
    g.ops.push(o)
  })
  return [...groups.values()].map((g) => ({ keys: [...g.keys].sort(), ops: g.ops }))
}

/** Drops what cannot matter: `fail` outcomes (never happened) and reads with unknown outcomes. */
function relevant<S, I, O>(h: History<I, O>, model: Model<S, I, O>): Operation<I, O>[] {
  return h.filter((o) => o.outcome !== 'fail' && !(o.outcome === 'info' && model.readOnly?.(o.op) === true))
}

/**
 * Shrinks a failing group with steps that keep it a proof of the violation: the shortest
 * failing prefix in time (operations still running at the cut become unknown), then dropping
 * reads and weakening other outputs to unknown, one at a time, while it still fails.
 */
function shrink<S, I, O>(ops: Operation<I, O>[], model: Model<S, I, O>, deadline: number, now: () => number): Operation<I, O>[] {
  const fails = (candidate: Operation<I, O>[]): boolean => {
    if (now() >= deadline) return false
    const b = new Budget(200_000, deadline, now)
    return search(candidate, model, b).verdict === 'illegal'
  }
  // 1. the shortest failing prefix of the call/return sequence (linearizability is prefix-closed)
  const events: { op: number; call: boolean; time: number; seq: number | undefined }[] = []
  ops.forEach((o, i) => {
    events.push({ op: i, call: true, time: o.invoke, seq: o.invokeSeq })
    if (o.outcome === 'ok') events.push({ op: i, call: false, time: o.complete, seq: o.completeSeq })
  })
  events.sort((a, b) => a.time - b.time || (a.seq !== undefined && b.seq !== undefined ? a.seq - b.seq : a.call !== b.call ? (a.call ? -1 : 1) : a.op - b.op))
  const prefix = (m: number): Operation<I, O>[] => {
    const returned = new Set<number>()
    const called: number[] = []
    for (const e of events.slice(0, m)) {
      if (e.call) called.push(e.op)
      else returned.add(e.op)
    }
    return called.map((i) => {
      const o = ops[i]!
      return o.outcome === 'ok' && !returned.has(i) ? weaken(o, 'still running at the cut') : o
    }).filter((o) => !(o.outcome === 'info' && model.readOnly?.(o.op) === true))
  }
  let lo = 1
  let hi = events.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (fails(prefix(mid))) hi = mid
    else lo = mid + 1
  }
  let current = fails(prefix(hi)) ? prefix(hi) : ops
  // 2. drop reads, weaken writes to unknown outcomes, latest first, until nothing more goes
  for (let changed = true; changed && now() < deadline; ) {
    changed = false
    for (let i = current.length - 1; i >= 0 && now() < deadline; i--) {
      const o = current[i]!
      let candidate: Operation<I, O>[] | undefined
      if (model.readOnly?.(o.op) === true) candidate = current.filter((_, j) => j !== i)
      else if (o.outcome === 'ok') candidate = current.map((x, j) => (j === i ? weaken(x, 'output ignored by the shrinker') : x))
      if (candidate !== undefined && fails(candidate)) {
        current = candidate
        changed = true
      }
    }
  }
  return current
}

function weaken<I, O>(o: Operation<I, O>, why: string): Operation<I, O> {
  const out: Operation<I, O> = { ...o, outcome: 'info', error: o.outcome === 'ok' && o.output !== undefined ? `${why}; was ok ${JSON.stringify(o.output)}` : why }
  delete out.output
  delete out.completeSeq
  return out
}

/** One line per operation, with the model's readable forms. */
export function formatHistory<S, I, O>(ops: Operation<I, O>[], model: Model<S, I, O>): string {
  return [...ops].sort((a, b) => a.invoke - b.invoke || a.id - b.id).map((o) => `  ${formatOp(o, model)}`).join('\n')
}

function formatOp<S, I, O>(o: Operation<I, O>, model: Model<S, I, O>): string {
  const input = model.showInput ? model.showInput(o.op) : JSON.stringify(o.op)
  const output = o.outcome === 'ok' ? `ok ${model.showOutput ? model.showOutput(o.output as O) : JSON.stringify(o.output)}` : o.outcome === 'info' ? `unknown${o.error ? ` (${o.error})` : ''}` : `fail${o.error ? ` (${o.error})` : ''}`
  const end = o.outcome === 'info' ? '∞' : formatTime(o.complete)
  return `#${o.id} process ${String(o.process)} [${formatTime(o.invoke)}, ${end}] ${input} -> ${output}`
}

/**
 * Checks that a history is linearizable with respect to `model`. Never throws for a bad
 * history and never hangs: the verdict says `ok`, `illegal` (with a shrunk failing
 * sub-history and the partial linearization reached) or `unknown` (budget exceeded).
 */
export function checkLinearizability<S, I, O>(h: History<I, O>, model: Model<S, I, O>, options: LinearizabilityOptions = {}): LinearizabilityResult<S, I, O> {
  const now = options.now ?? defaultNow
  const budget = new Budget(options.maxSteps ?? 5_000_000, now() + (options.timeoutMs ?? 20_000), now)
  const groups = partition(relevant(h, model), model)
  let unknownGroups = 0
  for (const g of groups) {
    // first the completion in which unobserved operations of unknown outcome never happened:
    // if that one is linearizable so is the history (they may take effect "or never")
    const omit = model.unobserved === undefined ? [] : g.ops.filter((o) => o.outcome === 'info' && model.unobserved!(o.op, g.ops))
    if (omit.length > 0) {
      const left = new Set(omit)
      const reduced = search(g.ops.filter((o) => !left.has(o)), model, budget)
      if (reduced.verdict === 'ok') continue
    }
    const r = search(g.ops, model, budget)
    if (r.verdict === 'unknown') {
      unknownGroups++
      if (budget.steps > budget.maxSteps || now() >= budget.deadline) break
      continue
    }
    if (r.verdict === 'ok') continue
    let failing = g.ops
    if (options.shrink ?? true) failing = shrink(g.ops, model, now() + (options.shrinkTimeoutMs ?? 3_000), now)
    const again = search(failing, model, new Budget(1_000_000, now() + 5_000, now))
    const last = again.verdict === 'illegal' ? again : r
    const lastOps = again.verdict === 'illegal' ? failing : g.ops
    const failure: LinearizabilityFailure<S, I, O> = {
      keys: g.keys,
      groupSize: g.ops.length,
      history: [...lastOps].sort((a, b) => a.invoke - b.invoke || a.id - b.id),
      linearized: last.longest.map((i) => lastOps[i]!),
      state: last.state,
    }
    const showState = model.showState ? model.showState(failure.state) : model.key(failure.state)
    const linearizedIds = new Set(failure.linearized.map((o) => o.id))
    const report = [
      `not linearizable (${model.name} model${g.keys.length > 0 ? `, keys ${g.keys.join(', ')}` : ''}; ${groups.length} group(s), ${budget.steps} steps)`,
      `failing sub-history: ${failure.history.length} of the group's ${g.ops.length} operations (times in cluster time; "unknown" may take effect any time after its invocation, or never):`,
      formatHistory(failure.history, model),
      `longest partial linearization (${failure.linearized.length} operations): ${failure.linearized.map((o) => `#${o.id}`).join(' -> ') || '(none)'}`,
      `  state after it: ${showState}`,
      `  none of the rest can come next: ${failure.history.filter((o) => !linearizedIds.has(o.id) && o.outcome === 'ok').map((o) => `#${o.id}`).join(', ')}`,
    ].join('\n')
    return { verdict: 'illegal', groups: groups.length, steps: budget.steps, failure, report }
  }
  if (unknownGroups > 0) {
    return { verdict: 'unknown', groups: groups.length, steps: budget.steps, report: `unknown (budget exceeded: ${budget.steps} steps; ${unknownGroups} group(s) undecided, of ${groups.length})` }
  }
  return { verdict: 'ok', groups: groups.length, steps: budget.steps, report: `linearizable (${model.name} model; ${groups.length} group(s), ${budget.steps} steps)` }
}

/** Throws an `Error` carrying the report unless the history is linearizable (`unknown` throws too). */
export function assertLinearizable<S, I, O>(h: History<I, O>, model: Model<S, I, O>, options?: LinearizabilityOptions): LinearizabilityResult<S, I, O> {
  const r = checkLinearizability(h, model, options)
  if (r.verdict !== 'ok') throw new Error(r.report)
  return r
}
