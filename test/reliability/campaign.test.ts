/**
 * The reliability campaign, sampled for CI (part 1 of 2; see campaign-sample.ts), and the
 * campaign's own properties: a seed replays exactly, and runs without faults stay clean.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { runSeed } from '../../src/testing/index.js'
import { campaignPart } from './campaign-sample.js'

campaignPart(1, 2)

describe('campaign runs', () => {
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
