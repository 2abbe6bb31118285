import assert from 'node:assert/strict'
import { test } from 'node:test'
import { measure, quantile } from '../../bench/harness.js'

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

test('quantile is the nearest rank of sorted latencies', () => {
  const sorted = Float64Array.from({ length: 100 }, (_, i) => i + 1)
  assert.equal(quantile(sorted, 0.5), 50)
  assert.equal(quantile(sorted, 0.99), 99)
  assert.equal(quantile(sorted, 1), 100)
  assert.equal(quantile(sorted, 0), 1)
  assert.equal(quantile(Float64Array.of(7), 0.99), 7)
  assert.ok(Number.isNaN(quantile(new Float64Array(0), 0.5)))
})

test('measure keeps `concurrency` operations in flight and records at most maxOps after the warm-up', async () => {
  let inFlight = 0
  let most = 0
  let calls = 0
  const seen = new Set<number>()
  const r = await measure(
    async (i, worker) => {
      assert.ok(worker >= 0 && worker < 4)
      assert.ok(!seen.has(i), 'every call gets its own sequence number')
      seen.add(i)
      calls++
      inFlight++
      most = Math.max(most, inFlight)
      await tick()
      inFlight--
      return i % 10 !== 0
    },
    { concurrency: 4, warmupMs: 20, durationMs: 60_000, maxOps: 500 },
  )
  assert.equal(most, 4)
  assert.equal(r.ops, 500, 'the op budget ends the run long before the time budget')
  assert.ok(calls > r.ops, 'warm-up calls are not recorded')
  assert.ok(r.failures > 0 && r.failures <= 51, `failures counted among recorded ops (${r.failures})`)
  assert.equal(r.errors, 0)
  assert.ok(r.opsPerSec > 0 && r.elapsedMs > 0)
  assert.ok(r.p50Ms <= r.p99Ms)
})

test('measure stops at the time budget when the op budget is not reached', async () => {
  const t0 = performance.now()
  const r = await measure(
    async () => {
      await new Promise((resolve) => setTimeout(resolve, 2))
      return true
    },
    { concurrency: 2, warmupMs: 0, durationMs: 100, maxOps: 1_000_000 },
  )
  const wall = performance.now() - t0
  assert.ok(r.ops > 0 && r.ops < 1_000_000)
  assert.ok(r.elapsedMs >= 100, `recorded for the whole budget (${r.elapsedMs} ms)`)
  assert.ok(wall < 5_000, `and stopped soon after (${wall} ms)`)
  assert.ok(Math.abs(r.opsPerSec - (r.ops * 1000) / r.elapsedMs) < 1e-9)
})

test('an operation that throws ends the measurement and is reported', async () => {
  let calls = 0
  const r = await measure(
    async (i) => {
      calls++
      await tick()
      if (i === 30) throw new Error('broken op')
      return true
    },
    { concurrency: 3, warmupMs: 0, durationMs: 60_000, maxOps: 1_000_000 },
  )
  assert.equal(r.errors, 1)
  assert.equal(r.firstError, 'broken op')
  assert.ok(calls < 40, `the workers stop (${calls} calls)`)
})
