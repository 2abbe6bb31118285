// The reliability campaign runner: `npm run sim -- --seeds 100 --ops 500 --faults partition,crash,drop`.
// Runs each seed (workloads under the nemesis, heal, check), prints one line per seed and a
// summary; exits 1 when any checker found a violation, printing the command that replays it.
//   --seeds N        run seeds 1..N (default 20)      --seed S     run seed S only
//   --from S         first seed (default 1)           --ops M      client operations per seed (default 400)
//   --members 1|3|5  member count (default: drawn from each seed)
//   --faults a,b     fault kinds (default all: partition,bridge,isolate,one-way,crash,torn,write-failure,drop,duplicate,reorder,delay,clock,leader-transfer,membership; 'none' for none)
//   --minutes T      keep running further seeds until T minutes have passed (a long campaign)
//   --quiet          no per-seed lines (seeds with a violation or an unknown verdict are still printed)
//   --check-ms B     time budget of each linearizability search (default 10000); past it a verdict is 'unknown'
import { FAULT_KINDS, formatSummary, runCampaign } from '../src/testing/index.js'
import type { FaultKind, SeedResult } from '../src/testing/index.js'

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? process.argv[i + 1] : undefined
}

const seedOnly = arg('seed')
const from = Number(arg('from') ?? 1)
const count = Number(arg('seeds') ?? 20)
const ops = Number(arg('ops') ?? 400)
const membersArg = arg('members')
const members = membersArg === undefined ? undefined : (Number(membersArg) as 1 | 3 | 5)
const faultsArg = arg('faults')
const faults: FaultKind[] = faultsArg === undefined ? [...FAULT_KINDS] : faultsArg === 'none' ? [] : (faultsArg.split(',') as FaultKind[])
for (const f of faults) if (!FAULT_KINDS.includes(f)) throw new Error(`unknown fault kind ${f}; known: ${FAULT_KINDS.join(',')}`)
const minutes = arg('minutes') === undefined ? undefined : Number(arg('minutes'))
const quiet = process.argv.includes('--quiet')
const checkMs = arg('check-ms') === undefined ? undefined : Number(arg('check-ms'))
const undecided: number[] = []

const deadline = minutes === undefined ? undefined : Date.now() + minutes * 60_000
const seeds: number[] = seedOnly !== undefined ? [Number(seedOnly)] : Array.from({ length: count }, (_, i) => from + i)

function line(r: SeedResult): void {
  const unknown = Object.entries(r.verdicts).filter(([, v]) => v === 'unknown').map(([c]) => c)
  if (unknown.length > 0) undecided.push(r.seed)
  if (quiet && r.violations.length === 0) {
    if (unknown.length > 0) console.log(`seed ${r.seed} (${r.members} members): ${unknown.join(', ')} undecided within the search budget`)
    return
  }
  const f = Object.entries(r.faults).filter(([, n]) => n > 0).map(([k, n]) => `${k}:${n}`).join(' ')
  console.log(`seed ${r.seed} (${r.members} members): ${r.ops} ops (${r.unknown} unknown), sim ${r.simTimeMs} ms, faults ${f || 'none'}, restarts ${r.restarts} -> ${r.violations.length === 0 ? 'ok' : `VIOLATION\n  ${r.violations.join('\n  ')}`}`)
}

const options = { ops, ...(members !== undefined ? { members } : {}), faults, ...(checkMs !== undefined ? { checkTimeoutMs: checkMs } : {}) }
let summary = await runCampaign(seeds, options, line)
if (deadline !== undefined) {
  // a long campaign: more seeds, in rounds, until the time is up
  let next = seeds[seeds.length - 1]! + 1
  while (Date.now() < deadline) {
    const round = await runCampaign([next], options, line)
    next++
    summary = {
      ...summary,
      seeds: summary.seeds + round.seeds,
      ops: summary.ops + round.ops,
      unknown: summary.unknown + round.unknown,
      restarts: summary.restarts + round.restarts,
      coverage: Object.fromEntries(Object.entries(summary.coverage).map(([k, v]) => [k, v + round.coverage[k as keyof typeof summary.coverage]])) as typeof summary.coverage,
      faults: Object.fromEntries(FAULT_KINDS.map((k) => [k, summary.faults[k] + round.faults[k]])) as typeof summary.faults,
      verdicts: Object.fromEntries(Object.entries(summary.verdicts).map(([c, v]) => {
        const w = round.verdicts[c as keyof typeof summary.verdicts]
        return [c, { ok: v.ok + w.ok, violation: v.violation + w.violation, unknown: v.unknown + w.unknown }]
      })) as typeof summary.verdicts,
      failures: [...summary.failures, ...round.failures],
      wallMs: summary.wallMs + round.wallMs,
    }
  }
}
console.log(formatSummary(summary))
if (undecided.length > 0) {
  console.log(`undecided seeds (${undecided.length}): ${undecided.join(',')}`)
  console.log(`  recheck each with a larger budget: npm run sim -- --seed <seed> --ops ${ops} --check-ms 120000`)
}
process.exit(summary.failures.length > 0 ? 1 : 0)
