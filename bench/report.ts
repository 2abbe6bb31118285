/**
 * Turns measurements into the printed table, the summary of the ratios the project
 * tracks, and the JSON written to `bench/results/`. Every ratio is between two numbers
 * measured in the same run.
 *
 * @module
 */
import type { Measurement } from './harness.js'
import type { FanOutResult } from './watch.js'
import { BASELINE_IDS, type TargetId } from './targets.js'

/** One cell of the grid: a workload on a target at a data-set size. */
export interface Row {
  /** `grid` (W1–W5 at the preload size) or `scale` (W7). */
  section: 'grid' | 'scale'
  /** Workload row label (`W3-ser`, ...). */
  workload: string
  /** Target id. */
  target: TargetId
  /** Keys preloaded before the workload ran. */
  size: number
  /** The measurement, when it ran. */
  m?: Measurement
  /** Why it did not run, when it did not. */
  skipped?: string
  /**
   * With several rounds ({@link combineRounds}): ops/s of each round that measured this
   * cell, in round order, `null` for a round that did not measure it (`m` is the median
   * one). Absent for a single round.
   */
  rounds?: (number | null)[]
}

/** A summary line: `num / den` of ops/s. */
export interface SummaryLine {
  /** What the ratio means. */
  label: string
  /** `num` ops/s divided by `den` ops/s, or `undefined` when either is missing. */
  ratio: number | undefined
  /** The two numbers, as text. */
  detail: string
}

function findRow(rows: readonly Row[], section: Row['section'], workload: string, target: TargetId, size?: number): Row | undefined {
  return rows.find((x) => x.section === section && x.workload === workload && x.target === target && (size === undefined || x.size === size))
}

function find(rows: readonly Row[], section: Row['section'], workload: string, target: TargetId, size?: number): Measurement | undefined {
  const r = findRow(rows, section, workload, target, size)
  return r?.m && r.m.errors === 0 ? r.m : undefined
}

/**
 * `num / den` round by round, as printed in a goal's detail (`; per round 0.41x 0.45x -`),
 * or `''` when the rows have no rounds. Each round pairs measurements taken minutes apart
 * at most, so the spread shows how much the machine moved the ratio in this run.
 */
function perRound(num: readonly (number | null)[] | undefined, den: readonly (number | null)[] | undefined): string {
  if (num === undefined || den === undefined) return ''
  const n = Math.min(num.length, den.length)
  const out: string[] = []
  for (let i = 0; i < n; i++) {
    const a = num[i]
    const b = den[i]
    out.push(a == null || b == null || b === 0 ? '-' : fmtRatio(a / b))
  }
  return `; per round ${out.join(' ')}`
}

/** ops/s as `62.6k`, for the per-round columns. */
function fmtShort(n: number | null): string {
  if (n === null) return '-'
  return n >= 1000 ? `${(n / 1000).toFixed(1)}k` : n >= 100 ? n.toFixed(0) : n.toFixed(1)
}

/**
 * The median of `items` by `value`: the middle one, and for an even count the worse of the
 * two middle ones (`higherIsBetter` says which way is worse), so the median is always one
 * real measurement, never an average of two.
 */
export function medianBy<T>(items: readonly T[], value: (item: T) => number, higherIsBetter: boolean): T {
  if (items.length === 0) throw new Error('median of nothing')
  const sorted = [...items].sort((a, b) => (higherIsBetter ? value(a) - value(b) : value(b) - value(a)))
  return sorted[Math.floor((sorted.length - 1) / 2)]!
}

function groupBy<T>(rounds: readonly (readonly T[])[], key: (item: T) => string): { first: T; perRound: (T | undefined)[] }[] {
  const groups = new Map<string, { first: T; perRound: (T | undefined)[] }>()
  rounds.forEach((items, round) => {
    for (const item of items) {
      const k = key(item)
      let g = groups.get(k)
      if (g === undefined) {
        g = { first: item, perRound: new Array<T | undefined>(rounds.length).fill(undefined) }
        groups.set(k, g)
      }
      g.perRound[round] ??= item
    }
  })
  return [...groups.values()]
}

/**
 * Merges the rows of several rounds of the same plan into one row per cell (section,
 * workload, target, size): the round with the median ops/s, and every round's ops/s in
 * `rounds`. A cell that failed in any round (an operation threw) is that failed row, so
 * the failure is reported; a cell skipped in every round is skipped. One round: the rows
 * as they are.
 */
export function combineRounds(rounds: readonly (readonly Row[])[]): Row[] {
  if (rounds.length === 1) return [...rounds[0]!]
  return groupBy(rounds, (r) => `${r.section}|${r.workload}|${r.target}|${r.size}`).map(({ first, perRound }) => {
    const measured = perRound.map((r) => (r?.m !== undefined && r.m.errors === 0 ? r.m : undefined))
    const ops = measured.map((m) => (m === undefined ? null : m.opsPerSec))
    const failed = perRound.find((r) => r?.m !== undefined && r.m.errors > 0)
    if (failed !== undefined) return { ...failed, rounds: ops }
    const ok = measured.filter((m): m is Measurement => m !== undefined)
    if (ok.length === 0) return { ...first }
    const { skipped: _skipped, ...base } = first
    return { ...base, m: medianBy(ok, (m) => m.opsPerSec, true), rounds: ops }
  })
}

/**
 * Merges the W6 results of several rounds: per target and watcher count, the round with the
 * median CPU per put, and every round's CPU per put in `rounds`; a round whose writer failed
 * or whose events were not all delivered is reported instead of the median.
 */
export function combineFanOut(rounds: readonly (readonly FanOutRow[])[]): FanOutRow[] {
  if (rounds.length === 1) return [...rounds[0]!]
  return groupBy(rounds, (f) => `${f.target}|${f.watchers}`).map(({ perRound }) => {
    const present = perRound.filter((f): f is FanOutRow => f !== undefined)
    const cpu = perRound.map((f) => (f === undefined ? null : f.writer.cpuUsPerOp))
    const bad = present.find((f) => f.writer.errors > 0 || !f.complete)
    return { ...(bad ?? medianBy(present, (f) => f.writer.cpuUsPerOp, false)), rounds: cpu }
  })
}

/** Merges the memory rows of several rounds: per target and size, the median live bytes. */
export function combineMemory(rounds: readonly (readonly MemoryRow[])[]): MemoryRow[] {
  if (rounds.length === 1) return [...rounds[0]!]
  return groupBy(rounds, (m) => `${m.target}|${m.size}`).map(({ perRound }) =>
    medianBy(perRound.filter((m): m is MemoryRow => m !== undefined), (m) => m.bytes, false),
  )
}

function fmtRate(n: number): string {
  return n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(1)
}

function fmtMs(n: number): string {
  if (!Number.isFinite(n)) return '-'
  return n >= 100 ? n.toFixed(0) : n >= 1 ? n.toFixed(2) : n.toFixed(3)
}

/** A ratio as printed: `0.42x`, or `-` when a side is missing. */
export function fmtRatio(r: number | undefined): string {
  if (r === undefined || !Number.isFinite(r)) return '-'
  return r >= 10 ? `${r.toFixed(0)}x` : r >= 1 ? `${r.toFixed(2)}x` : `${r.toFixed(3)}x`
}

function table(header: string[], body: string[][]): string {
  const widths = header.map((h, c) => Math.max(h.length, ...body.map((r) => (r[c] ?? '').length)))
  const line = (cells: string[]): string => cells.map((cell, c) => (c < 2 ? cell.padEnd(widths[c] ?? 0) : cell.padStart(widths[c] ?? 0))).join('  ')
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n')
}

/** The table of one section: ops/s, p50, p99 and the ratio against each baseline at the same workload and size. */
export function formatSection(rows: readonly Row[], section: Row['section']): string {
  const mine = rows.filter((r) => r.section === section)
  if (mine.length === 0) return ''
  const baselines = BASELINE_IDS.filter((b) => mine.some((r) => r.target === b && r.m !== undefined))
  const withRounds = mine.some((r) => r.rounds !== undefined)
  const header = [
    'workload',
    'target',
    ...(section === 'scale' ? ['keys'] : []),
    'ops/s',
    ...(withRounds ? ['ops/s per round'] : []),
    'p50 ms',
    'p99 ms',
    'cpu µs/op',
    ...baselines.map((b) => `vs ${b}`),
    'notes',
  ]
  const body = mine.map((r) => {
    const cells = [r.workload, r.target]
    if (section === 'scale') cells.push(r.size.toLocaleString('en-US'))
    const rounds = withRounds ? [(r.rounds ?? []).map(fmtShort).join(' ')] : []
    if (r.m === undefined) return [...cells, '-', ...rounds, '-', '-', '-', ...baselines.map(() => '-'), `skipped: ${r.skipped ?? ''}`]
    const m = r.m
    const notes: string[] = []
    if (m.failures > 0) notes.push(`${m.failures} failed ops`)
    if (m.errors > 0) notes.push(`ERROR: ${m.firstError ?? ''}`)
    const ratios = baselines.map((b) => {
      if (b === r.target) return '='
      const base = find(rows, section, r.workload, b, r.size)
      return base === undefined || m.errors > 0 ? '-' : fmtRatio(m.opsPerSec / base.opsPerSec)
    })
    return [...cells, fmtRate(m.opsPerSec), ...rounds, fmtMs(m.p50Ms), fmtMs(m.p99Ms), Number.isFinite(m.cpuUsPerOp) ? m.cpuUsPerOp.toFixed(1) : '-', ...ratios, notes.join('; ')]
  })
  return table(header, body)
}

function ratioLine(label: string, num: Measurement | undefined, den: Measurement | undefined, numName: string, denName: string): SummaryLine {
  if (num === undefined || den === undefined) return { label, ratio: undefined, detail: 'not measured in this run' }
  return { label, ratio: num.opsPerSec / den.opsPerSec, detail: `${fmtRate(num.opsPerSec)} ${numName} / ${fmtRate(den.opsPerSec)} ${denName} ops/s` }
}

/** The ratios that matter for the project's goals (see DESIGN.md), from the grid section. */
export function summarize(rows: readonly Row[]): SummaryLine[] {
  const g = (w: string, t: TargetId): Measurement | undefined => find(rows, 'grid', w, t)
  const out: SummaryLine[] = [
    ratioLine('W2 1-member Store vs raw memory-level awaited puts', g('W2', 'mem-1'), g('W2', 'level'), 'mem-1', 'level'),
    ratioLine('W2 3-member vs 1-member Store (replication overhead)', g('W2', 'mem-3'), g('W2', 'mem-1'), 'mem-3', 'mem-1'),
    ratioLine('W3-ser 1-member Store vs raw memory-level gets', g('W3-ser', 'mem-1'), g('W3-ser', 'level'), 'mem-1', 'level'),
    ratioLine('W3-ser 3-member Store vs raw memory-level gets', g('W3-ser', 'mem-3'), g('W3-ser', 'level'), 'mem-3', 'level'),
  ]
  for (const w of ['W1', 'W2', 'W3-lin', 'W3-ser', 'W4', 'W5']) {
    out.push(ratioLine(`${w} 3-member Store vs 3-member etcd 3.4 (etcd3 gRPC client)`, g(w, 'mem-3'), g(w, 'etcd-3'), 'mem-3', 'etcd-3'))
  }
  for (const w of ['W1', 'W2', 'W3-lin', 'W3-ser', 'W4', 'W5']) {
    out.push(ratioLine(`${w} 1-member Store vs 1-member etcd 3.4 (etcd3 gRPC client)`, g(w, 'mem-1'), g(w, 'etcd'), 'mem-1', 'etcd'))
  }
  out.push(ratioLine('W2 3-member classic-level vs memory-level Store', g('W2', 'classic-3'), g('W2', 'mem-3'), 'classic-3', 'mem-3'))
  return out
}

/** The summary, printed. */
export function formatSummary(lines: readonly SummaryLine[]): string {
  const w = Math.max(...lines.map((l) => l.label.length))
  return lines.map((l) => `${l.label.padEnd(w)}  ${fmtRatio(l.ratio).padStart(7)}   (${l.detail})`).join('\n')
}

/** Memory added by loading a target with N keys (W7). */
export interface MemoryRow {
  target: TargetId
  /** Keys loaded. */
  size: number
  /** Live bytes added (V8 heap used + ArrayBuffers, after full GCs). */
  bytes: number
}

/** The memory table. */
export function formatMemory(rows: readonly MemoryRow[]): string {
  if (rows.length === 0) return '(no W7 target ran)'
  return table(
    ['target', 'keys', 'live MiB', 'B/key'],
    rows.map((r) => [r.target, r.size.toLocaleString('en-US'), (r.bytes / 2 ** 20).toFixed(1), Math.round(r.bytes / r.size).toLocaleString('en-US')]),
  )
}

/**
 * One W6 result, with its target; with several rounds ({@link combineFanOut}), every
 * round's CPU µs per put, `null` where a round did not measure it.
 */
export type FanOutRow = FanOutResult & { target: TargetId; rounds?: (number | null)[] }

/** The W6 table: per target and watcher count, the writer's rate and CPU, deliveries and latency, and the cost ratio against one watcher. */
export function formatFanOut(rows: readonly FanOutRow[]): string {
  if (rows.length === 0) return '(no Store target ran)'
  const withRounds = rows.some((r) => r.rounds !== undefined)
  return table(
    [
      'target',
      'watchers',
      'puts/s',
      'cpu µs/put',
      ...(withRounds ? ['cpu µs/put per round'] : []),
      'events/s delivered',
      'put→last watcher p50 ms',
      'p99 ms',
      'cost vs 1 watcher',
      'notes',
    ],
    rows.map((r) => {
      const one = rows.find((x) => x.target === r.target && x.watchers === 1)
      const cost = one === undefined ? undefined : r.writer.cpuUsPerOp / one.writer.cpuUsPerOp
      const notes: string[] = []
      if (!r.complete) notes.push('not every event delivered within 60 s')
      if (r.writer.errors > 0) notes.push(`ERROR: ${r.writer.firstError ?? ''}`)
      return [
        r.target,
        String(r.watchers),
        fmtRate(r.writer.opsPerSec),
        r.writer.cpuUsPerOp.toFixed(1),
        ...(withRounds ? [(r.rounds ?? []).map((c) => (c === null ? '-' : c.toFixed(1))).join(' ')] : []),
        fmtRate(r.writer.elapsedMs > 0 ? (r.delivered * 1000) / r.writer.elapsedMs : 0),
        fmtMs(r.p50Ms),
        fmtMs(r.p99Ms),
        fmtRatio(cost),
        notes.join('; '),
      ]
    }),
  )
}

/** One goal of issue 7 and whether this run met it. */
export interface GoalLine {
  /** The goal as stated. */
  goal: string
  /** The measured value (a ratio, or bytes for the memory goal), `undefined` when not measured. */
  measured: number | undefined
  /** The measured value as printed, with what it was computed from. */
  detail: string
  /** MET, NOT MET, or NOT MEASURED. */
  status: 'MET' | 'NOT MET' | 'NOT MEASURED'
}

const GIB = 2 ** 30

/** Evaluates the project's performance goals from this run's rows, W6 results and memory rows. */
export function goals(rows: readonly Row[], fan: readonly FanOutRow[], memory: readonly MemoryRow[]): GoalLine[] {
  const out: GoalLine[] = []
  const ratioGoal = (goal: string, min: number, workload: string, numName: TargetId, denName: TargetId): void => {
    const num = find(rows, 'grid', workload, numName)
    const den = find(rows, 'grid', workload, denName)
    if (num === undefined || den === undefined) {
      out.push({ goal, measured: undefined, detail: 'not measured in this run', status: 'NOT MEASURED' })
      return
    }
    const r = num.opsPerSec / den.opsPerSec
    const rounds = perRound(findRow(rows, 'grid', workload, numName)?.rounds, findRow(rows, 'grid', workload, denName)?.rounds)
    out.push({ goal, measured: r, detail: `${fmtRatio(r)} (${fmtRate(num.opsPerSec)} ${numName} / ${fmtRate(den.opsPerSec)} ${denName} ops/s${rounds})`, status: r >= min ? 'MET' : 'NOT MET' })
  }
  // against a 3-member real etcd (issue 7): NOT MEASURED when etcd is missing or the etcd-3 target did not run
  ratioGoal('3-member W2 >= 20x 3-member etcd', 20, 'W2', 'mem-3', 'etcd-3')
  ratioGoal('3-member W3-lin >= 30x 3-member etcd', 30, 'W3-lin', 'mem-3', 'etcd-3')
  ratioGoal('3-member W4 >= 10x 3-member etcd', 10, 'W4', 'mem-3', 'etcd-3')
  ratioGoal('3-member W5 >= 10x 3-member etcd', 10, 'W5', 'mem-3', 'etcd-3')
  ratioGoal('1-member W2 >= 0.5x raw memory-level awaited puts', 0.5, 'W2', 'mem-1', 'level')
  ratioGoal('1-member serializable W3 >= 0.5x raw memory-level gets', 0.5, 'W3-ser', 'mem-1', 'level')
  ratioGoal('3-member W2 >= 0.5x 1-member W2', 0.5, 'W2', 'mem-3', 'mem-1')
  // per-op cost at 1M within 2x of 10k: ops/s at 10k / ops/s at 1M <= 2 (1-member Store)
  for (const w of ['W2', 'W3-lin', 'W3-ser']) {
    const small = find(rows, 'scale', w, 'mem-1', 10_000)
    const big = find(rows, 'scale', w, 'mem-1', 1_000_000)
    const goal = `1-member ${w} per-op cost at 1M keys <= 2x at 10k`
    if (small === undefined || big === undefined) out.push({ goal, measured: undefined, detail: 'needs W7 at 10k and 1M (full run)', status: 'NOT MEASURED' })
    else {
      const r = small.opsPerSec / big.opsPerSec
      const rounds = perRound(findRow(rows, 'scale', w, 'mem-1', 10_000)?.rounds, findRow(rows, 'scale', w, 'mem-1', 1_000_000)?.rounds)
      out.push({ goal, measured: r, detail: `${fmtRatio(r)} (${fmtRate(small.opsPerSec)} ops/s at 10k / ${fmtRate(big.opsPerSec)} at 1M${rounds})`, status: r <= 2 ? 'MET' : 'NOT MET' })
    }
  }
  {
    const goal = '1M keys in a 1-member Store fit in 1 GiB'
    const exact = memory.find((m) => m.target === 'mem-1' && m.size === 1_000_000)
    const largest = [...memory].filter((m) => m.target === 'mem-1').sort((a, b) => b.size - a.size)[0]
    if (exact !== undefined) out.push({ goal, measured: exact.bytes, detail: `${(exact.bytes / 2 ** 20).toFixed(0)} MiB live (${Math.round(exact.bytes / 1e6)} B/key)`, status: exact.bytes <= GIB ? 'MET' : 'NOT MET' })
    else if (largest !== undefined) {
      const est = (largest.bytes / largest.size) * 1e6
      out.push({ goal, measured: est, detail: `~${(est / 2 ** 20).toFixed(0)} MiB extrapolated from ${largest.size.toLocaleString('en-US')} keys (${Math.round(largest.bytes / largest.size)} B/key); run the full bench to measure`, status: est <= GIB ? 'MET' : 'NOT MET' })
    } else out.push({ goal, measured: undefined, detail: 'needs W7 with a GC (memory not measured)', status: 'NOT MEASURED' })
  }
  {
    const goal = 'W6: delivering to 1,000 watchers costs <= 20x one watcher (CPU per put)'
    const one = fan.find((f) => f.target === 'mem-1' && f.watchers === 1)
    const many = fan.find((f) => f.target === 'mem-1' && f.watchers === 1000)
    if (one === undefined || many === undefined) out.push({ goal, measured: undefined, detail: 'needs W6 on mem-1', status: 'NOT MEASURED' })
    else {
      const r = many.writer.cpuUsPerOp / one.writer.cpuUsPerOp
      out.push({
        goal,
        measured: r,
        detail: `${fmtRatio(r)} (${many.writer.cpuUsPerOp.toFixed(1)} / ${one.writer.cpuUsPerOp.toFixed(1)} cpu µs per put; puts/s ${fmtRate(many.writer.opsPerSec)} vs ${fmtRate(one.writer.opsPerSec)}${perRound(many.rounds, one.rounds)})${many.complete ? '' : ', not every event delivered'}`,
        status: r <= 20 && many.complete ? 'MET' : 'NOT MET',
      })
    }
  }
  return out
}

/** The goals table. */
export function formatGoals(lines: readonly GoalLine[]): string {
  const sw = Math.max(...lines.map((l) => l.status.length))
  const gw = Math.max(...lines.map((l) => l.goal.length))
  return lines.map((l) => `${l.status.padEnd(sw)}  ${l.goal.padEnd(gw)}  ${l.detail}`).join('\n')
}
