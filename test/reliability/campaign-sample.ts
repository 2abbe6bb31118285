/**
 * The reliability campaign sampled for CI, in parts that separate test files run in parallel:
 * hundreds of seeds with a few hundred client operations each (registers, list-append txns,
 * watchers, leases, locks) on 1, 3 or 5 members under every nemesis fault (partitions,
 * bridges, isolated leaders, one-way cuts, crashes, torn and failed writes, message
 * drop/duplication/reordering/delay, fast and stopped member clocks, leader transfers,
 * membership changes: learners added, caught up and promoted, followers removed). Every
 * checker must pass on every seed; a failure prints the seed and the exact `npm run sim`
 * command that replays it. Environment: CAMPAIGN_SEEDS (default 200, over all parts),
 * CAMPAIGN_OPS (default 250), CAMPAIGN_FROM (first seed, default 1).
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { FAULT_KINDS, formatSummary, runCampaign } from '../../src/testing/index.js'

const SEEDS = Number(process.env.CAMPAIGN_SEEDS ?? 200)
const OPS = Number(process.env.CAMPAIGN_OPS ?? 250)
const FROM = Number(process.env.CAMPAIGN_FROM ?? 1)

/** Defines the test for part `part` (1-based) of `parts` of the sampled campaign's seeds. */
export function campaignPart(part: number, parts: number): void {
  const per = Math.ceil(SEEDS / parts)
  const first = FROM + (part - 1) * per
  const count = Math.max(0, Math.min(per, FROM + SEEDS - first))
  describe(`reliability campaign: seeds ${first}..${first + count - 1} (part ${part} of ${parts}) x ${OPS} ops, all faults`, () => {
    it('every checker passes on every seed', async (t) => {
      const seeds = Array.from({ length: count }, (_, i) => first + i)
      const s = await runCampaign(seeds, { ops: OPS })
      const report = formatSummary(s)
      t.diagnostic(report)
      assert.equal(s.failures.length, 0, report)
      // the run was not vacuous: every fault kind fired, and every checker had something to check
      for (const k of FAULT_KINDS) assert.ok(s.faults[k] > 0, `fault ${k} was never injected\n${report}`)
      assert.ok(s.coverage.writeFaultsFired > 0, 'no injected write failure fired')
      for (const [k, v] of Object.entries(s.coverage)) assert.ok(v > 0, `nothing checked for ${k}\n${report}`)
      assert.ok(s.ops >= count * OPS * 0.9, `only ${s.ops} operations ran`)
    })
  })
}
