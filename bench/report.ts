/**
 * Turns measurements into the printed table, the summary of the ratios the project
 * tracks, and the JSON written to `bench/results/`. Every ratio is between two numbers
 * measured in the same run.
 *
 * @module
 */
import type { Measurement } from './harness.js'
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

function find(rows: readonly Row[], section: Row['section'], workload: string, target: TargetId, size?: number): Measurement | undefined {
  const r = rows.find((x) => x.section === section && x.workload === workload && x.target === target && (size === undefined || x.size === size))
  return r?.m && r.m.errors === 0 ? r.m : undefined
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
  const header = ['workload', 'target', ...(section === 'scale' ? ['keys'] : []), 'ops/s', 'p50 ms', 'p99 ms', 'cpu µs/op', ...baselines.map((b) => `vs ${b}`), 'notes']
  const body = mine.map((r) => {
    const cells = [r.workload, r.target]
    if (section === 'scale') cells.push(r.size.toLocaleString('en-US'))
    if (r.m === undefined) return [...cells, '-', '-', '-', '-', ...baselines.map(() => '-'), `skipped: ${r.skipped ?? ''}`]
    const m = r.m
    const notes: string[] = []
    if (m.failures > 0) notes.push(`${m.failures} failed ops`)
    if (m.errors > 0) notes.push(`ERROR: ${m.firstError ?? ''}`)
    const ratios = baselines.map((b) => {
      if (b === r.target) return '='
      const base = find(rows, section, r.workload, b, r.size)
      return base === undefined || m.errors > 0 ? '-' : fmtRatio(m.opsPerSec / base.opsPerSec)
    })
    return [...cells, fmtRate(m.opsPerSec), fmtMs(m.p50Ms), fmtMs(m.p99Ms), Number.isFinite(m.cpuUsPerOp) ? m.cpuUsPerOp.toFixed(1) : '-', ...ratios, notes.join('; ')]
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
  for (const w of ['W2', 'W3-lin', 'W3-ser', 'W4', 'W5']) {
    out.push(ratioLine(`${w} 3-member Store vs real etcd 3.4 (HTTP gateway)`, g(w, 'mem-3'), g(w, 'etcd'), 'mem-3', 'etcd'))
  }
  out.push(ratioLine('W2 3-member classic-level vs memory-level Store', g('W2', 'classic-3'), g('W2', 'mem-3'), 'classic-3', 'mem-3'))
  return out
}

/** The summary, printed. */
export function formatSummary(lines: readonly SummaryLine[]): string {
  const w = Math.max(...lines.map((l) => l.label.length))
  return lines.map((l) => `${l.label.padEnd(w)}  ${fmtRatio(l.ratio).padStart(7)}   (${l.detail})`).join('\n')
}
