/**
 * pocket-etcd benchmarks: runs W1–W5 (and W7's scale runs) on every target, then prints
 * one table with ops/s, p50/p99 latency and the ratio against each baseline measured in
 * this same run, a summary of the ratios the project tracks, and writes
 * `bench/results/latest.json`.
 *
 *   npm run bench                      # full run (~12.5 min: every measurement in 3 rounds, the median kept)
 *   npm run bench -- --quick           # short run (~1 min, one round)
 *   npm run bench -- --rounds 5        # more rounds (1: one measurement per cell)
 *   npm run bench -- --only W2,W3 --targets mem-1,mem-3,level
 *   npm run bench -- --json /tmp/bench.json
 *
 * @module
 */
import { spawn } from 'node:child_process'
import { mkdir, writeFile } from 'node:fs/promises'
import { cpus } from 'node:os'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { canCollectGarbage, collectGarbage, liveBytes, measure, type MeasureOptions, type Measurement } from './harness.js'
import {
  combineFanOut,
  combineMemory,
  combineRounds,
  formatFanOut,
  formatGoals,
  formatMemory,
  formatSection,
  formatSummary,
  goals,
  summarize,
  type FanOutRow,
  type MemoryRow,
  type Row,
} from './report.js'
import { fanOut, type FanOutResult } from './watch.js'
import { BASELINE_IDS, TARGET_IDS, loadStoreBuild, openTarget, unavailable, type Bytes, type StoreBuild, type Target, type TargetId } from './targets.js'
import {
  KEY_BYTES,
  SCALE_WORKLOADS,
  VALUE_BYTES,
  WORKLOAD_GROUPS,
  WORKLOADS,
  makeValue,
  preloadKeys,
  type Workload,
  type WorkloadGroup,
} from './workloads.js'

/** Everything a mode (full or `--quick`) decides. */
interface Plan {
  mode: 'full' | 'quick'
  /** Keys preloaded for the main grid (W3/W4/W5 read them). */
  gridKeys: number
  measure: Omit<MeasureOptions, 'concurrency'>
  /**
   * How many times each unit (a target's grid, its W6, each W7 size) runs, each time in a
   * fresh process, the targets of a section in a rotated order per round; every cell then
   * reports its median round ({@link combineRounds}).
   */
  rounds: number
  /** False with `--no-latest`: do not write `bench/results/latest.json`. */
  writeLatest: boolean
  /** Budget of each W7 measurement. */
  scaleMeasure: Omit<MeasureOptions, 'concurrency'>
  targets: TargetId[]
  groups: Set<WorkloadGroup>
  /** W7: sizes and the targets run at each (1M is too slow to load into every target). */
  scale: { size: number; targets: TargetId[] }[]
  jsonPath: string | undefined
  /** Which pocket-etcd the Store targets run (`--src`: the sources through tsx). */
  build: StoreBuild
  /** W6: watcher counts measured on each Store target (1 first: the reference). */
  watchers: number[]
  /** W6: budget of each writer measurement. */
  w6Measure: Omit<MeasureOptions, 'concurrency'>
  /** Set in a child process (`--unit`, internal): the one unit it runs. */
  unit: Unit | undefined
}

/**
 * What one child process measures: one target's grid (W1–W5), its W6 fan-out, or its W7
 * runs at one size. Each runs in a fresh process, so no target inherits another's heap or
 * the JIT feedback its code left in shared modules (abstract-level, memory-level): in one
 * process, raw memory-level measured after two Store targets lost about a quarter of its
 * W2 puts/s against a process of its own.
 */
type Unit = { kind: 'grid'; target: TargetId } | { kind: 'fan'; target: TargetId } | { kind: 'scale'; target: TargetId; size: number }

/** What a unit reports to the parent process (as JSON on its stdout). */
interface UnitResult {
  rows: Row[]
  memory: MemoryRow[]
  fan: (FanOutResult & { target: TargetId })[]
  fanSkipped: { target: TargetId; why: string }[]
}

const HELP = `usage: npm run bench -- [--quick] [--rounds N] [--only W1,W3,...] [--targets ${TARGET_IDS.join(',')}] [--json path] [--no-latest] [--src]

  --quick     short run (10k preloaded keys, 0.4 s per measurement, one round, no 5-member target, W7 at 10k only)
  --rounds    times each target's units run, each in a fresh process; cells report the median round (default: 3, --quick 1)
  --only      workload groups: ${WORKLOAD_GROUPS.join(',')} (default: all)
  --targets   targets to run (default: all; baselines are ${BASELINE_IDS.join(', ')})
  --json      also write the results to this path (always written to bench/results/latest.json)
  --no-latest do not write bench/results/latest.json
  --src       run the Store from src/ through tsx instead of the compiled dist/ (npm run bench builds it)`

function parseList<T extends string>(flag: string, value: string | undefined, allowed: readonly T[]): T[] {
  if (value === undefined) throw new Error(`${flag} needs a value`)
  const items = value.split(',').map((s) => s.trim()).filter((s) => s !== '')
  for (const item of items) {
    if (!(allowed as readonly string[]).includes(item)) throw new Error(`${flag}: unknown ${JSON.stringify(item)} (one of ${allowed.join(', ')})`)
  }
  return items as T[]
}

function parseArgs(argv: string[]): Plan {
  let quick = false
  let groups: WorkloadGroup[] = [...WORKLOAD_GROUPS]
  let targets: TargetId[] | undefined
  let jsonPath: string | undefined
  let build: StoreBuild = 'dist'
  let unit: Unit | undefined
  let rounds: number | undefined
  let writeLatest = true
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--unit') unit = JSON.parse(argv[++i] ?? 'null') as Unit
    else if (a === '--quick') quick = true
    else if (a === '--no-latest') writeLatest = false
    else if (a === '--rounds') {
      const v = argv[++i]
      rounds = Number(v)
      if (v === undefined || !Number.isInteger(rounds) || rounds < 1 || rounds > 99) throw new Error(`--rounds needs a whole number from 1 to 99, not ${JSON.stringify(v)}`)
    }
    else if (a === '--src') build = 'src'
    else if (a === '--only') groups = parseList('--only', argv[++i], WORKLOAD_GROUPS)
    else if (a === '--targets') targets = parseList('--targets', argv[++i], TARGET_IDS)
    else if (a === '--json') {
      jsonPath = argv[++i]
      if (jsonPath === undefined) throw new Error('--json needs a path')
    } else if (a === '--help' || a === '-h') {
      console.log(HELP)
      process.exit(0)
    } else throw new Error(`unknown argument ${JSON.stringify(a)}\n${HELP}`)
  }
  const defaultTargets = TARGET_IDS.filter((t) => !(quick && (t === 'mem-5' || t === 'classic-5')))
  const chosen = targets ?? defaultTargets
  const scaleTargets = (ids: TargetId[]): TargetId[] => ids.filter((t) => chosen.includes(t))
  return {
    mode: quick ? 'quick' : 'full',
    gridKeys: quick ? 10_000 : 100_000,
    measure: quick ? { warmupMs: 100, durationMs: 400, maxOps: 200_000 } : { warmupMs: 300, durationMs: 1000, maxOps: 1_000_000 },
    rounds: rounds ?? (quick ? 1 : 3),
    writeLatest,
    scaleMeasure: quick ? { warmupMs: 100, durationMs: 300, maxOps: 200_000 } : { warmupMs: 200, durationMs: 1500, maxOps: 1_000_000 },
    targets: chosen,
    groups: new Set(groups),
    scale: quick
      ? [{ size: 10_000, targets: scaleTargets(['mem-1', 'mem-3', 'level', 'map']) }]
      : [
          { size: 10_000, targets: scaleTargets(['mem-1', 'mem-3', 'level', 'map']) },
          { size: 100_000, targets: scaleTargets(['mem-1', 'mem-3', 'level', 'map']) },
          { size: 1_000_000, targets: scaleTargets(['mem-1', 'level', 'map']) },
        ],
    jsonPath,
    build,
    watchers: quick ? [1, 1000] : [1, 100, 1000],
    w6Measure: quick ? { warmupMs: 100, durationMs: 400, maxOps: 50_000 } : { warmupMs: 300, durationMs: 1000, maxOps: 200_000 },
    unit,
  }
}

/** Store targets: the ones W6 watches and W7 compacts. */
const STORE_TARGETS: readonly TargetId[] = ['mem-1', 'mem-3', 'mem-5', 'classic-1', 'classic-3', 'classic-5']

function progress(line: string): void {
  process.stderr.write(`${line}\n`)
}

function fmtS(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`
}

/** Opens and loads a target, or explains why it cannot; `undefined` means skipped (reason recorded). */
async function openLoaded(id: TargetId, list: Bytes[], skip: (why: string) => void): Promise<Target | undefined> {
  const missing = unavailable(id)
  if (missing !== undefined) {
    skip(missing)
    return undefined
  }
  let target: Target
  try {
    target = await openTarget(id)
  } catch (err) {
    skip(`could not open: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`)
    return undefined
  }
  const t0 = performance.now()
  try {
    await target.preload(list, makeValue(0))
  } catch (err) {
    await target.close()
    skip(`preload failed: ${err instanceof Error ? err.message : String(err)}`)
    return undefined
  }
  progress(`  ${id}: loaded ${list.length.toLocaleString('en-US')} keys in ${fmtS(performance.now() - t0)}`)
  return target
}

async function runWorkloads(
  rows: Row[],
  section: Row['section'],
  id: TargetId,
  size: number,
  workloads: readonly Workload[],
  budget: Omit<MeasureOptions, 'concurrency'>,
  memory?: MemoryRow[],
): Promise<void> {
  const skipAll = (why: string): void => {
    for (const w of workloads) rows.push({ section, workload: w.id, target: id, size, skipped: why })
    progress(`  ${id}: skipped (${why})`)
  }
  // the key list is the bench's own: made before the baseline, so only the target's memory counts
  const keys = preloadKeys(size)
  const before = memory !== undefined ? await liveBytes() : 0
  const target = await openLoaded(id, keys, skipAll)
  if (target === undefined) return
  if (memory !== undefined) {
    const bytes = (await liveBytes()) - before
    memory.push({ target: id, size, bytes })
    progress(`  ${id}: ${(bytes / 2 ** 20).toFixed(0)} MiB live after loading ${size.toLocaleString('en-US')} keys (${Math.round(bytes / size)} B/key)`)
  }
  try {
    for (const w of workloads) {
      collectGarbage()
      let row: Row
      try {
        const op = await w.prepare(target, { keys, value: makeValue(0) })
        const m = await measure(op, { ...budget, concurrency: w.concurrency })
        row = { section, workload: w.id, target: id, size, m }
        progress(`  ${id} ${w.id}: ${Math.round(m.opsPerSec)} ops/s, p50 ${m.p50Ms.toFixed(3)} ms, p99 ${m.p99Ms.toFixed(3)} ms${m.errors > 0 ? `, ERROR ${m.firstError ?? ''}` : ''}`)
      } catch (err) {
        row = { section, workload: w.id, target: id, size, skipped: `prepare failed: ${err instanceof Error ? err.message : String(err)}` }
        progress(`  ${id} ${w.id}: ${row.skipped ?? ''}`)
      }
      rows.push(row)
    }
    if (section === 'scale' && target.store !== undefined) rows.push(await compaction(id, size, target.store))
  } finally {
    await target.close()
  }
}

/** W7: a physical compaction at the current revision of a loaded Store; "ops" are the records it walks. */
async function compaction(id: TargetId, size: number, store: NonNullable<Target['store']>): Promise<Row> {
  try {
    const all = await store.kv.range({ key: new Uint8Array([0]), rangeEnd: new Uint8Array([0]), countOnly: true, serializable: true })
    const records = all.count
    collectGarbage()
    const cpu0 = process.cpuUsage()
    const t0 = performance.now()
    await store.kv.compact({ revision: all.header.revision, physical: true })
    const elapsedMs = performance.now() - t0
    const cpu = process.cpuUsage(cpu0)
    const m: Measurement = {
      ops: records,
      elapsedMs,
      opsPerSec: (records * 1000) / elapsedMs,
      p50Ms: elapsedMs,
      p99Ms: elapsedMs,
      cpuUsPerOp: (cpu.user + cpu.system) / records,
      failures: 0,
      errors: 0,
    }
    progress(`  ${id} compact: ${records.toLocaleString('en-US')} records in ${fmtS(elapsedMs)}`)
    return { section: 'scale', workload: 'compact', target: id, size, m }
  } catch (err) {
    return { section: 'scale', workload: 'compact', target: id, size, skipped: `compaction failed: ${err instanceof Error ? err.message : String(err)}` }
  }
}

/** W6 on one Store target: the writer with 1, then more, watchers on the written prefix. */
async function runFanOut(out: FanOutResult[], skipped: { target: TargetId; why: string }[], id: TargetId, plan: Plan): Promise<void> {
  const target = await openLoaded(id, [], (why) => skipped.push({ target: id, why }))
  if (target === undefined) return
  try {
    if (target.store === undefined) return
    let run = 0
    for (const n of plan.watchers) {
      const r = await fanOut(target.store, n, ++run, { keys: [], value: makeValue(0) }, plan.w6Measure)
      out.push({ ...r, target: id } as FanOutResult & { target: TargetId })
      progress(`  ${id} W6 ${n} watcher(s): ${Math.round(r.writer.opsPerSec)} puts/s, ${r.writer.cpuUsPerOp.toFixed(1)} cpu µs/put, ` +
        `${r.delivered.toLocaleString('en-US')}/${r.expected.toLocaleString('en-US')} events, put→last watcher p50 ${r.p50Ms.toFixed(2)} ms p99 ${r.p99Ms.toFixed(2)} ms${r.complete ? '' : ' (INCOMPLETE)'}`)
    }
  } finally {
    await target.close()
  }
}

/** The W1–W5 workloads the plan asks for (the grid). */
function gridWorkloads(plan: Plan): Workload[] {
  return WORKLOADS.filter((w) => plan.groups.has(w.group))
}

/** Runs one unit in this process. */
async function runUnit(plan: Plan, unit: Unit): Promise<UnitResult> {
  const out: UnitResult = { rows: [], memory: [], fan: [], fanSkipped: [] }
  switch (unit.kind) {
    case 'grid':
      await runWorkloads(out.rows, 'grid', unit.target, plan.gridKeys, gridWorkloads(plan), plan.measure)
      break
    case 'fan':
      await runFanOut(out.fan, out.fanSkipped, unit.target, plan)
      break
    case 'scale':
      await runWorkloads(out.rows, 'scale', unit.target, unit.size, SCALE_WORKLOADS, plan.scaleMeasure, canCollectGarbage() ? out.memory : undefined)
      break
  }
  return out
}

/**
 * Runs one unit in a child process (this script again, with the same node flags and
 * arguments plus `--unit`): its progress lines pass through, its result comes back as JSON
 * on its stdout. A child that fails reports every row of its unit as skipped.
 */
function isolated(unit: Unit, argv: readonly string[], plan: Plan): Promise<UnitResult> {
  const script = fileURLToPath(import.meta.url)
  return new Promise((resolveResult) => {
    const child = spawn(process.execPath, [...process.execArgv, script, ...argv, '--unit', JSON.stringify(unit)], { stdio: ['ignore', 'pipe', 'inherit'] })
    const chunks: Buffer[] = []
    child.stdout.on('data', (c: Buffer) => chunks.push(c))
    const fail = (why: string): void => resolveResult(failedUnit(unit, plan, why))
    child.on('error', (err) => fail(`child process failed: ${err.message}`))
    child.on('close', (code, signal) => {
      if (code !== 0) return fail(`child process exited with ${signal ?? code}`)
      try {
        resolveResult(JSON.parse(Buffer.concat(chunks).toString('utf8')) as UnitResult)
      } catch (err) {
        fail(`child process sent no result: ${err instanceof Error ? err.message : String(err)}`)
      }
    })
  })
}

/** The rows of a unit whose process failed, each skipped with the reason. */
function failedUnit(unit: Unit, plan: Plan, why: string): UnitResult {
  progress(`  ${unit.target}: ${why}`)
  const out: UnitResult = { rows: [], memory: [], fan: [], fanSkipped: [] }
  if (unit.kind === 'fan') out.fanSkipped.push({ target: unit.target, why })
  else {
    const workloads = unit.kind === 'grid' ? gridWorkloads(plan) : SCALE_WORKLOADS
    const size = unit.kind === 'grid' ? plan.gridKeys : unit.size
    for (const w of workloads) out.rows.push({ section: unit.kind, workload: w.id, target: unit.target, size, skipped: why })
  }
  return out
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2)
  const plan = parseArgs(argv)
  if (plan.unit !== undefined) {
    await loadStoreBuild(plan.build)
    const result = await runUnit(plan, plan.unit)
    process.stdout.write(JSON.stringify(result))
    return
  }
  const started = new Date()
  const t0 = performance.now()
  const env = `node ${process.version}, ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown cpu'}), ${process.platform}/${process.arch}`
  console.log(`pocket-etcd bench (${plan.mode}): ${env}`)
  console.log(await loadStoreBuild(plan.build))
  console.log(`keys ${KEY_BYTES} B, values ${VALUE_BYTES} B; grid preload ${plan.gridKeys.toLocaleString('en-US')} keys; ` +
    `${plan.measure.warmupMs} ms warm-up + ${plan.measure.durationMs} ms per measurement; targets ${plan.targets.join(', ')}; ` +
    `each target in a process of its own; ${plan.rounds === 1 ? 'one round' : `${plan.rounds} rounds, each cell the median round`}`)

  // per round: what its units reported
  const rounds = Array.from({ length: plan.rounds }, () => ({ rows: [] as Row[], fan: [] as FanOutRow[], memory: [] as MemoryRow[] }))
  const fanSkipped = new Map<TargetId, string>()
  const run = async (round: number, unit: Unit): Promise<void> => {
    const r = await isolated(unit, argv, plan)
    const into = rounds[round]!
    into.rows.push(...r.rows)
    into.memory.push(...r.memory)
    into.fan.push(...r.fan)
    for (const s of r.fanSkipped) fanSkipped.set(s.target, s.why)
  }
  /**
   * Runs a section's units once per round, each round starting one unit further down the
   * list, so that no target is always measured first, on a machine fresh from the previous
   * section, and the rounds of two targets a ratio compares are spread over the run.
   */
  const section = async (units: { label: string; unit: Unit }[]): Promise<void> => {
    for (let round = 0; round < plan.rounds; round++) {
      for (let i = 0; i < units.length; i++) {
        const { label, unit } = units[(i + round) % units.length]!
        progress(`${label}${plan.rounds > 1 ? ` (round ${round + 1}/${plan.rounds})` : ''}`)
        await run(round, unit)
      }
    }
  }
  const grid = gridWorkloads(plan)
  if (grid.length > 0) await section(plan.targets.map((id) => ({ label: `grid: ${id}`, unit: { kind: 'grid', target: id } })))
  if (plan.groups.has('W6')) {
    await section(plan.targets.filter((t) => STORE_TARGETS.includes(t)).map((id) => ({ label: `W6 fan-out: ${id}`, unit: { kind: 'fan', target: id } })))
  }
  const gcOk = canCollectGarbage()
  if (plan.groups.has('W7')) {
    // each size is a section of its own: the 10k rounds all run before the first 1M load
    for (const { size, targets } of plan.scale) {
      await section(targets.map((id) => ({ label: `W7 scale ${size.toLocaleString('en-US')}: ${id}`, unit: { kind: 'scale', target: id, size } })))
    }
  }
  const rows = combineRounds(rounds.map((r) => r.rows))
  const fan = combineFanOut(rounds.map((r) => r.fan))
  const memory = combineMemory(rounds.map((r) => r.memory))

  const descriptions = new Map<TargetId, string>()
  for (const id of plan.targets) descriptions.set(id, describe(id))

  console.log('')
  if (grid.length > 0) {
    console.log(`W1–W5 at ${plan.gridKeys.toLocaleString('en-US')} preloaded keys; "vs X" = this target's ops/s / X's ops/s, same run (higher is better for the target):`)
    console.log(formatSection(rows, 'grid'))
    console.log('')
  }
  if (plan.groups.has('W6')) {
    console.log('W6 watch fan-out: W2 (64 puts in flight) under a prefix with N watchers on it; cost = CPU per put at N watchers / at 1, same store, same run:')
    console.log(formatFanOut(fan))
    for (const [target, why] of fanSkipped) if (!fan.some((f) => f.target === target)) console.log(`  ${target}: skipped (${why})`)
    console.log('')
  }
  if (plan.groups.has('W7')) {
    console.log('W7 scale: W3 gets (linearizable, serializable), W4 ranges and W2 puts after preloading N keys into a fresh target; "compact" = a physical compaction over every record (ops/s = records/s):')
    console.log(formatSection(rows, 'scale'))
    console.log('')
    console.log(gcOk ? 'memory: live bytes (V8 heap used + ArrayBuffers, after full GCs) added by loading N keys:' : 'memory: not measured (no way to force a GC)')
    if (gcOk) console.log(formatMemory(memory))
    console.log('')
  }
  console.log('workloads:')
  for (const w of grid) console.log(`  ${w.id.padEnd(7)} ${w.title}`)
  console.log('targets:')
  for (const [id, d] of descriptions) console.log(`  ${id.padEnd(10)} ${d}`)
  console.log('')
  const summary = summarize(rows)
  if (grid.length > 0) {
    console.log('summary (ops/s ratios, same run):')
    console.log(formatSummary(summary))
    console.log('')
  }
  const goalLines = goals(rows, fan, memory)
  console.log('goals (issue 7), from this run:')
  console.log(formatGoals(goalLines))
  console.log('')
  const totalMs = performance.now() - t0
  console.log(`total ${fmtS(totalMs)}`)

  const json = JSON.stringify(
    { started: started.toISOString(), totalMs, env, plan: { ...plan, groups: [...plan.groups], unit: undefined }, baselines: BASELINE_IDS, targets: Object.fromEntries(descriptions), rows, summary, fanOut: fan, memory, goals: goalLines },
    null,
    2,
  )
  const here = dirname(fileURLToPath(import.meta.url))
  const written: string[] = []
  for (const path of [plan.writeLatest ? resolve(here, 'results', 'latest.json') : undefined, plan.jsonPath === undefined ? undefined : resolve(plan.jsonPath)]) {
    if (path === undefined) continue
    await mkdir(dirname(path), { recursive: true })
    await writeFile(path, json)
    written.push(path)
  }
  console.log(`results: ${written.length > 0 ? written.join(', ') : 'not written (--no-latest without --json)'}`)
  const failed = rows.some((r) => (r.m?.errors ?? 0) > 0) || fan.some((f) => f.writer.errors > 0)
  process.exitCode = failed ? 1 : 0
}

/** The legend line of a target, without opening it. */
function describe(id: TargetId): string {
  switch (id) {
    case 'mem-1':
    case 'mem-3':
    case 'mem-5':
      return `pocket-etcd Store, ${id.slice(4)} member(s), memory-level, real clock, via store.kv (the leader)`
    case 'classic-1':
    case 'classic-3':
    case 'classic-5':
      return `pocket-etcd Store, ${id.slice(8)} member(s), classic-level in a tmp dir (removed after), real clock`
    case 'level':
      return 'baseline: raw memory-level (view encodings), awaited db.put / db.get / iterator({gte,lt,limit}).all(); W5 = get+compare+put'
    case 'map':
      return 'baseline: Map + sorted key array, async wrappers, no I/O (the in-memory floor)'
    case 'etcd':
    case 'etcd-3':
      return unavailable(id) === undefined
        ? `baseline: real etcd 3.4, ${id === 'etcd' ? '1 member' : '3 members (distinct ports, one client over all 3 endpoints)'} on 127.0.0.1, data dirs on tmpfs, ` +
            'driven over gRPC by the etcd3 npm client (builder calls); etcd shares the cores with this process'
        : `baseline: real etcd 3.4 — skipped: ${unavailable(id) ?? ''}`
  }
}

main().then(
  () => process.exit(),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err)
    process.exit(2)
  },
)
