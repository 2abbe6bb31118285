/**
 * The KV differential test: pocket-etcd's `Store` (one member) against a real etcd 3.4,
 * fed the same seeded random operation sequences; every response field must agree
 * (see test/support/kv-diff.ts for what is compared and how sort ties are handled).
 *
 * Each seed gets a fresh etcd and a fresh Store. Override with
 * `DIFF_SEED=123` (or `DIFF_SEED=1,2,3`) and `DIFF_OPS=5000` (ops per seed).
 * `CI=true` makes a missing etcd a failure instead of a skip.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Store } from '../../src/store.js'
import { EtcdGateway } from '../support/etcd-gateway.js'
import { etcdBinaryOrSkip, startEtcd } from '../support/etcd-process.js'
import { replayCommand, runDifferential } from '../support/kv-diff.js'
import { seedOf } from '../support/kv-ops.js'

const DEFAULT_SEEDS = [1, 2, 3, 4, 5]
const DEFAULT_OPS = 400

const seeds = process.env.DIFF_SEED ? process.env.DIFF_SEED.split(',').map((s) => seedOf(s.trim())) : DEFAULT_SEEDS
const opsPerSeed = process.env.DIFF_OPS ? Number.parseInt(process.env.DIFF_OPS, 10) : DEFAULT_OPS

test(`KV differential: Store({ members: 1 }) vs etcd 3.4, seeds ${seeds.join(',')}, ${opsPerSeed} ops each`, async (t) => {
  if (etcdBinaryOrSkip(t) === undefined) return
  for (const seed of seeds) {
    await t.test(`seed ${seed}`, async (st) => {
      const etcd = await startEtcd()
      st.after(() => etcd.stop())
      const store = await Store.open({ members: 1 })
      st.after(() => store.close())
      const result = await runDifferential({
        seed,
        ops: opsPerSeed,
        ours: store.kv,
        reference: new EtcdGateway(etcd.clientUrl),
        names: { ours: 'pocket-etcd', reference: 'etcd 3.4' },
        replay: replayCommand(seed, opsPerSeed),
      })
      assert.equal(result.mismatches, 0)
      st.diagnostic(
        `seed ${seed}: ${result.ops} ops (${result.errors} refused by both), ` +
          `pocket-etcd ${result.timeMs.ours.toFixed(0)} ms, etcd ${result.timeMs.reference.toFixed(0)} ms`,
      )
    })
  }
})
