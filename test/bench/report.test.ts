import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { Measurement } from '../../bench/harness.js'
import {
  combineFanOut,
  combineMemory,
  combineRounds,
  formatFanOut,
  formatSection,
  goals,
  medianBy,
  type FanOutRow,
  type GoalLine,
  type MemoryRow,
  type Row,
} from '../../bench/report.js'
import type { TargetId } from '../../bench/targets.js'

/** A measurement of `opsPerSec`, with p50 set to tell measurements apart. */
function m(opsPerSec: number, extra: Partial<Measurement> = {}): Measurement {
  return { ops: opsPerSec, elapsedMs: 1000, opsPerSec, p50Ms: opsPerSec / 1000, p99Ms: 1, cpuUsPerOp: 1e6 / opsPerSec, failures: 0, errors: 0, ...extra }
}

function gridRow(workload: string, target: TargetId, ops: number | undefined, extra: Partial<Row> = {}): Row {
  return { section: 'grid', workload, target, size: 100_000, ...(ops === undefined ? { skipped: 'not available' } : { m: m(ops) }), ...extra }
}

function fanRow(target: TargetId, watchers: number, cpuUsPerOp: number, complete = true): FanOutRow {
  return { target, watchers, writer: m(1e6 / cpuUsPerOp, { cpuUsPerOp }), delivered: 1, expected: 1, p50Ms: 1, p99Ms: 1, complete }
}

function goal(lines: readonly GoalLine[], prefix: string): GoalLine {
  const line = lines.find((l) => l.goal.startsWith(prefix))
  assert.ok(line, `a goal line starting with ${JSON.stringify(prefix)}`)
  return line
}

test('medianBy picks the middle measurement, and for an even count the worse of the two middle ones', () => {
  const id = (x: number): number => x
  assert.equal(medianBy([5, 1, 9], id, true), 5)
  assert.equal(medianBy([3, 1, 4, 2], id, true), 2, 'higher is better: the lower middle')
  assert.equal(medianBy([3, 1, 4, 2], id, false), 3, 'lower is better: the higher middle')
  assert.equal(medianBy([7], id, false), 7)
  assert.throws(() => medianBy([], id, true), /median of nothing/)
})

test('combineRounds keeps one row per cell: the median round, with every round in order', () => {
  const rounds: Row[][] = [
    [gridRow('W2', 'mem-1', 70_000), gridRow('W2', 'level', 150_000)],
    [gridRow('W2', 'level', 190_000), gridRow('W2', 'mem-1', 90_000)],
    [gridRow('W2', 'mem-1', 80_000), gridRow('W2', 'level', 170_000)],
  ]
  const rows = combineRounds(rounds)
  assert.equal(rows.length, 2)
  const mem = rows.find((r) => r.target === 'mem-1')!
  assert.equal(mem.m?.opsPerSec, 80_000)
  assert.equal(mem.m?.p50Ms, 80, 'the whole median measurement, latencies included')
  assert.deepEqual(mem.rounds, [70_000, 90_000, 80_000])
  assert.deepEqual(rows.find((r) => r.target === 'level')!.rounds, [150_000, 190_000, 170_000])
  // the goal is computed from the medians, and the detail shows each round's ratio
  const line = goal(goals(rows, [], []), '1-member W2')
  assert.equal(line.measured, 80_000 / 170_000)
  assert.equal(line.status, 'NOT MET')
  assert.match(line.detail, /per round 0\.467x 0\.474x 0\.471x/)
})

test('combineRounds reports a failed round instead of the median, and skips only cells no round measured', () => {
  const failed = gridRow('W5', 'mem-3', 10, { m: m(10, { errors: 1, firstError: 'boom' }) })
  const rows = combineRounds([
    [gridRow('W5', 'mem-3', 20_000), gridRow('W2', 'etcd', undefined), gridRow('W2', 'map', 300_000)],
    [failed, gridRow('W2', 'etcd', undefined), gridRow('W2', 'map', undefined)],
    [gridRow('W5', 'mem-3', 21_000), gridRow('W2', 'etcd', undefined), gridRow('W2', 'map', 310_000)],
  ])
  const w5 = rows.find((r) => r.workload === 'W5')!
  assert.equal(w5.m?.errors, 1)
  assert.equal(w5.m?.firstError, 'boom')
  assert.deepEqual(w5.rounds, [20_000, null, 21_000])
  const etcd = rows.find((r) => r.target === 'etcd')!
  assert.equal(etcd.m, undefined)
  assert.equal(etcd.skipped, 'not available')
  const map = rows.find((r) => r.target === 'map')!
  assert.equal(map.skipped, undefined)
  assert.equal(map.m?.opsPerSec, 300_000, 'two rounds measured: the worse middle')
  assert.deepEqual(map.rounds, [300_000, null, 310_000])
})

test('one round leaves the rows as they are, with no per-round column', () => {
  const only = [gridRow('W2', 'mem-1', 80_000), gridRow('W2', 'level', 160_000)]
  const rows = combineRounds([only])
  assert.deepEqual(rows, only)
  assert.doesNotMatch(formatSection(rows, 'grid'), /per round/)
  assert.match(formatSection(combineRounds([only, only]), 'grid'), /ops\/s per round[\s\S]*80\.0k 80\.0k/)
})

test('combineFanOut takes the median CPU per put, and surfaces a round that lost events', () => {
  const fan = combineFanOut([
    [fanRow('mem-1', 1, 20), fanRow('mem-1', 1000, 300)],
    [fanRow('mem-1', 1, 16), fanRow('mem-1', 1000, 420, false)],
    [fanRow('mem-1', 1, 18), fanRow('mem-1', 1000, 280)],
  ])
  const one = fan.find((f) => f.watchers === 1)!
  assert.equal(one.writer.cpuUsPerOp, 18)
  assert.deepEqual(one.rounds, [20, 16, 18])
  const many = fan.find((f) => f.watchers === 1000)!
  assert.equal(many.complete, false)
  const line = goal(goals([], fan, []), 'W6')
  assert.equal(line.status, 'NOT MET', 'an incomplete delivery never meets the goal')
  assert.match(formatFanOut(fan), /cpu µs\/put per round[\s\S]*20\.0 16\.0 18\.0/)
  // without the incomplete round, the median cost decides
  const ok = combineFanOut([
    [fanRow('mem-1', 1, 20), fanRow('mem-1', 1000, 300)],
    [fanRow('mem-1', 1, 16), fanRow('mem-1', 1000, 420)],
  ])
  const met = goal(goals([], ok, []), 'W6')
  assert.equal(met.measured, 420 / 20, 'two rounds: the higher (worse) CPU of each')
  assert.equal(met.status, 'NOT MET')
  assert.match(met.detail, /per round 15x 26x/)
})

test('combineMemory takes the median live bytes per target and size', () => {
  const rows: MemoryRow[] = combineMemory([
    [{ target: 'mem-1', size: 10, bytes: 300 }],
    [{ target: 'mem-1', size: 10, bytes: 100 }],
    [{ target: 'mem-1', size: 10, bytes: 200 }],
  ])
  assert.deepEqual(rows, [{ target: 'mem-1', size: 10, bytes: 200 }])
})

test('goals: a ratio at its threshold is met, a missing side is not measured, and scale goals compare 10k with 1M', () => {
  const rows: Row[] = [
    gridRow('W2', 'mem-1', 100_000),
    gridRow('W2', 'level', 200_000),
    gridRow('W2', 'mem-3', 49_999),
    gridRow('W3-ser', 'mem-1', 100_000),
    { section: 'scale', workload: 'W2', target: 'mem-1', size: 10_000, m: m(100_000) },
    { section: 'scale', workload: 'W2', target: 'mem-1', size: 1_000_000, m: m(50_000) },
    { section: 'scale', workload: 'W3-ser', target: 'mem-1', size: 10_000, m: m(100_000) },
    { section: 'scale', workload: 'W3-ser', target: 'mem-1', size: 1_000_000, m: m(49_000) },
  ]
  const lines = goals(rows, [], [{ target: 'mem-1', size: 1_000_000, bytes: 2 ** 30 + 1 }])
  assert.equal(goal(lines, '1-member W2 >=').status, 'MET', '0.5x exactly')
  assert.equal(goal(lines, '3-member W2 >= 0.5x').status, 'NOT MET')
  assert.equal(goal(lines, '3-member W2 >= 20x').status, 'NOT MEASURED')
  assert.equal(goal(lines, '1-member serializable W3').status, 'NOT MEASURED', 'no raw memory-level gets')
  assert.equal(goal(lines, '1-member W2 per-op').status, 'MET', '2x exactly')
  assert.equal(goal(lines, '1-member W3-ser per-op').status, 'NOT MET')
  assert.equal(goal(lines, '1-member W3-lin per-op').status, 'NOT MEASURED')
  assert.equal(goal(lines, '1M keys').status, 'NOT MET', 'one byte over 1 GiB')
  const extrapolated = goal(goals(rows, [], [{ target: 'mem-1', size: 10_000, bytes: 10_000 * 900 }]), '1M keys')
  assert.equal(extrapolated.status, 'MET')
  assert.match(extrapolated.detail, /extrapolated from 10,000 keys/)
  assert.equal(goal(goals(rows, [fanRow('mem-1', 1, 10), fanRow('mem-1', 1000, 200)], []), 'W6').status, 'MET', '20x exactly')
  // an erroring measurement counts as not measured, never as a ratio
  const broken = goals([gridRow('W2', 'mem-1', 100_000, { m: m(100_000, { errors: 1 }) }), gridRow('W2', 'level', 100_000)], [], [])
  assert.equal(goal(broken, '1-member W2 >=').status, 'NOT MEASURED')
})
