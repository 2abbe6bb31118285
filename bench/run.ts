/**
 * pocket-etcd benchmarks: runs W1–W5 (and W7's scale runs) on every target, then prints
 * one table with ops/s, p50/p99 latency and the ratio against each baseline measured in
 * this same run, a summary of the ratios the project tracks, and writes
 * `bench/results/latest.json`.
 *
 *   npm run bench                      # full run (~5 min)
 *   npm run bench -- --quick           # short run (~1 min)
 *   npm run bench -- --only W2,W3 --targets mem-1,mem-3,level
 *   npm run bench -- --json /tmp/bench.json
 *
 * @module
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { cpus } from 'node:os'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { collectGarbage, measure, type MeasureOptions } from './harness.js'
import { formatSection, formatSummary, summarize, type Row } from './report.js'
import { BASELINE_IDS, TARGET_IDS, openTarget, unavailable, type Bytes, type Target, type TargetId } from './targets.js'
import {
  KEY_BYTES,
  SCALE_WORKLOADS,
  VALUE_BYTES,
  W6_PENDING,
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
  /** Budget of each W7 measurement. */
  scaleMeasure: Omit<MeasureOptions, 'concurrency'>
  targets: TargetId[]
  groups: Set<WorkloadGroup>
  /** W7: sizes and the targets run at each (1M is too slow to load into every target). */
  scale: { size: number; targets: TargetId[] }[]
  jsonPath: string | undefined
}

const HELP = `usage: npm run bench -- [--quick] [--only W1,W3,...] [--targets ${TARGET_IDS.join(',')}] [--json path]

  --quick     short run (10k preloaded keys, 0.4 s per measurement, no 5-member target, W7 at 10k only)
  --only      workload groups: ${WORKLOAD_GROUPS.join(',')} (default: all)
  --targets   targets to run (default: all; baselines are level, map, etcd)
  --json      also write the results to this path (always written to bench/results/latest.json)`

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
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--quick') quick = true
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
  const defaultTargets = TARGET_IDS.filter((t) => !(quick && t === 'mem-5'))
  const chosen = targets ?? defaultTargets
  const scaleTargets = (ids: TargetId[]): TargetId[] => ids.filter((t) => chosen.includes(t))
  return {
    mode: quick ? 'quick' : 'full',
    gridKeys: quick ? 10_000 : 100_000,
    measure: quick ? { warmupMs: 100, durationMs: 400, maxOps: 200_000 } : { warmupMs: 300, durationMs: 2000, maxOps: 1_000_000 },
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
  }
}

function progress(line: string): void {
  process.stderr.write(`${line}\n`)
}

function fmtS(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`
}

/** Opens and loads a target, or explains why it cannot; `undefined` means skipped (reason recorded). */
async function openLoaded(id: TargetId, keys: number, skip: (why: string) => void): Promise<{ target: Target; keys: Bytes[] } | undefined> {
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
  const list = preloadKeys(keys)
  const t0 = performance.now()
  try {
    await target.preload(list, makeValue(0))
  } catch (err) {
    await target.close()
    skip(`preload failed: ${err instanceof Error ? err.message : String(err)}`)
    return undefined
  }
  progress(`  ${id}: loaded ${keys.toLocaleString('en-US')} keys in ${fmtS(performance.now() - t0)}`)
  return { target, keys: list }
}

async function runWorkloads(
  rows: Row[],
  section: Row['section'],
  id: TargetId,
  size: number,
  workloads: readonly Workload[],
  budget: Omit<MeasureOptions, 'concurrency'>,
): Promise<void> {
  const skipAll = (why: string): void => {
    for (const w of workloads) rows.push({ section, workload: w.id, target: id, size, skipped: why })
    progress(`  ${id}: skipped (${why})`)
  }
  const loaded = await openLoaded(id, size, skipAll)
  if (loaded === undefined) return
  const { target, keys } = loaded
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
  } finally {
    await target.close()
  }
}

async function main(): Promise<void> {
  const plan = parseArgs(process.argv.slice(2))
  const started = new Date()
  const t0 = performance.now()
  const env = `node ${process.version}, ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown cpu'}), ${process.platform}/${process.arch}`
  console.log(`pocket-etcd bench (${plan.mode}): ${env}`)
  console.log(`keys ${KEY_BYTES} B, values ${VALUE_BYTES} B; grid preload ${plan.gridKeys.toLocaleString('en-US')} keys; ` +
    `${plan.measure.warmupMs} ms warm-up + ${plan.measure.durationMs} ms per measurement; targets ${plan.targets.join(', ')}`)

  const rows: Row[] = []
  const grid = WORKLOADS.filter((w) => plan.groups.has(w.group))
  if (grid.length > 0) {
    for (const id of plan.targets) {
      progress(`grid: ${id}`)
      await runWorkloads(rows, 'grid', id, plan.gridKeys, grid, plan.measure)
    }
  }
  if (plan.groups.has('W7')) {
    for (const { size, targets } of plan.scale) {
      for (const id of targets) {
        progress(`W7 scale ${size.toLocaleString('en-US')}: ${id}`)
        await runWorkloads(rows, 'scale', id, size, SCALE_WORKLOADS, plan.scaleMeasure)
      }
    }
  }

  const descriptions = new Map<TargetId, string>()
  for (const id of plan.targets) descriptions.set(id, describe(id))

  console.log('')
  if (grid.length > 0) {
    console.log(`W1–W5 at ${plan.gridKeys.toLocaleString('en-US')} preloaded keys; "vs X" = this target's ops/s / X's ops/s, same run (higher is better for the target):`)
    console.log(formatSection(rows, 'grid'))
    console.log('')
  }
  if (plan.groups.has('W7')) {
    console.log('W7 scale: W2 puts and W3-ser gets after preloading N keys into a fresh target:')
    console.log(formatSection(rows, 'scale'))
    console.log('')
  }
  if (plan.groups.has('W6')) console.log(`${W6_PENDING}\n`)
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
  const totalMs = performance.now() - t0
  console.log(`total ${fmtS(totalMs)}`)

  const json = JSON.stringify(
    { started: started.toISOString(), totalMs, env, plan: { ...plan, groups: [...plan.groups] }, baselines: BASELINE_IDS, targets: Object.fromEntries(descriptions), rows, summary },
    null,
    2,
  )
  const here = dirname(fileURLToPath(import.meta.url))
  const latest = resolve(here, 'results', 'latest.json')
  await mkdir(dirname(latest), { recursive: true })
  await writeFile(latest, json)
  if (plan.jsonPath !== undefined) {
    await mkdir(dirname(resolve(plan.jsonPath)), { recursive: true })
    await writeFile(plan.jsonPath, json)
  }
  console.log(`results: ${latest}${plan.jsonPath !== undefined ? `, ${resolve(plan.jsonPath)}` : ''}`)
  const failed = rows.some((r) => (r.m?.errors ?? 0) > 0)
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
      return `pocket-etcd Store, ${id.slice(8)} member(s), classic-level in a tmp dir (removed after), real clock`
    case 'level':
      return 'baseline: raw memory-level (view encodings), awaited db.put / db.get / iterator({gte,lt,limit}).all(); W5 = get+compare+put'
    case 'map':
      return 'baseline: Map + sorted key array, async wrappers, no I/O (the in-memory floor)'
    case 'etcd':
      return unavailable('etcd') === undefined
        ? 'baseline: real etcd 3.4, 1 member, data dir on /dev/shm, over its HTTP/JSON gateway (fetch+JSON+base64) — NOT gRPC; shares the cores'
        : `baseline: real etcd 3.4 — skipped: ${unavailable('etcd') ?? ''}`
  }
}

main().then(
  () => process.exit(),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err)
    process.exit(2)
  },
)
