/**
 * The reliability campaign, sampled for CI: hundreds of seeds with ~100 client operations
 * each (registers, list-append txns, watchers, leases, locks) on 1, 3 or 5 members under every
 * nemesis fault (partitions, bridges, isolated leaders, one-way cuts, crashes, torn and failed
 * writes, message drop/duplication/reordering/delay, fast and stopped member clocks, leader
 * transfers, membership changes: learners added, caught up and promoted, followers removed). Every checker must pass on every seed; a failure prints the seed and the exact
 * `npm run sim` command that replays it. Environment: CAMPAIGN_SEEDS (default 200),
 * CAMPAIGN_OPS (default 100), CAMPAIGN_FROM (first seed, default 1).
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { FAULT_KINDS, formatSummary, runCampaign, runSeed } from '../../src/testing/index.js'

const SEEDS = Number(process.env.CAMPAIGN_SEEDS ?? 200)
const OPS = Number(process.env.CAMPAIGN_OPS ?? 100)
const FROM = Number(process.env.CAMPAIGN_FROM ?? 1)

describe(`reliability campaign: ${SEEDS} seeds x ${OPS} ops, all faults`, () => {
  it('every checker passes on every seed', async (t) => {
    const seeds = Array.from({ length: SEEDS }, (_, i) => FROM + i)
    const s = await runCampaign(seeds, { ops: OPS })
    const report = formatSummary(s)
    t.diagnostic(report)
    assert.equal(s.failures.length, 0, report)
    // the run was not vacuous: every fault kind fired, and every checker had something to check
    for (const k of FAULT_KINDS) assert.ok(s.faults[k] > 0, `fault ${k} was never injected\n${report}`)
    assert.ok(s.coverage.writeFaultsFired > 0, 'no injected write failure fired')
    for (const [k, v] of Object.entries(s.coverage)) assert.ok(v > 0, `nothing checked for ${k}\n${report}`)
    assert.ok(s.ops >= SEEDS * OPS * 0.9, `only ${s.ops} operations ran`)
  })

  it('a seed replays exactly (same operations, faults and verdicts)', async () => {
    const a = await runSeed({ seed: 7, ops: 200, members: 5 })
    const b = await runSeed({ seed: 7, ops: 200, members: 5 })
    assert.deepEqual(b, a, 'seed 7 gave different results on two runs; replay: npm run sim -- --seed 7 --ops 200 --members 5')
  })

  it('runs with no faults at all, and on 5 members with network faults only', async () => {
    const quiet = await runSeed({ seed: 3, ops: 200, members: 3, faults: [] })
    assert.deepEqual(quiet.violations, [])
    assert.equal(quiet.unknown, 0, 'a healthy cluster left operations with unknown outcomes')
    const net = await runSeed({ seed: 4, ops: 200, members: 5, faults: ['partition', 'bridge', 'one-way', 'drop', 'duplicate', 'reorder', 'delay'] })
    assert.deepEqual(net.violations, [], 'replay: npm run sim -- --seed 4 --ops 200 --members 5 --faults partition,bridge,one-way,drop,duplicate,reorder,delay')
  })
})
