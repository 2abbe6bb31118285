import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import type { GoalLine, Row } from '../../bench/report.js'

/** Runs `npm run bench`'s script with `args` (the Store from src/, so no build is needed); resolves its exit code and output. */
function bench(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'bench/run.ts', '--src', '--no-latest', ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()))
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}

test('a two-round bench of one workload runs every target in each round and reports the median round', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'pocket-etcd-bench-'))
  try {
    const json = join(dir, 'run.json')
    const r = await bench(['--quick', '--rounds', '2', '--only', 'W1', '--targets', 'mem-1,map', '--json', json])
    assert.equal(r.code, 0, r.stderr)
    // every unit ran once per round, the second round in the rotated order
    const order = [...r.stderr.matchAll(/^grid: (\S+) \(round (\d)\/2\)$/gm)].map((m) => `${m[1]}@${m[2]}`)
    assert.deepEqual(order, ['mem-1@1', 'map@1', 'map@2', 'mem-1@2'])
    const out = JSON.parse(await readFile(json, 'utf8')) as { plan: { rounds: number }; rows: Row[]; goals: GoalLine[] }
    assert.equal(out.plan.rounds, 2)
    assert.deepEqual(out.rows.map((row) => `${row.workload} ${row.target}`), ['W1 mem-1', 'W1 map'])
    for (const row of out.rows) {
      assert.equal(row.m?.errors, 0)
      assert.equal(row.rounds?.length, 2)
      for (const ops of row.rounds ?? []) assert.ok(typeof ops === 'number' && ops > 0)
      assert.equal(row.m?.opsPerSec, Math.min(...(row.rounds as number[])), 'two rounds: the worse one')
    }
    assert.match(r.stdout, /ops\/s per round/)
    assert.equal(out.goals.length, 12)
    assert.ok(out.goals.every((g) => g.status === 'NOT MEASURED'), 'W1 alone measures no goal')
    assert.match(r.stdout, /results: .*run\.json/)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

test('bad arguments are refused before anything runs', async () => {
  for (const args of [['--rounds', '0'], ['--rounds', 'two'], ['--targets', 'nope'], ['--frobnicate']]) {
    const r = await bench(args)
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stdout}`)
    assert.doesNotMatch(r.stderr, /^grid:/m)
  }
})
