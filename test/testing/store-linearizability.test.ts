/**
 * The register checker on a real cluster: a 3-member Store on a manual clock, concurrent
 * clients doing put, get and compare-and-set (a txn on the value) on a few keys through
 * random members, while a nemesis partitions the network, isolates the leader and crashes and
 * restarts members. Every recorded history must be linearizable; the same history with one
 * read corrupted must not be (the check is not vacuous).
 *
 * Replay one seed: STORE_LIN_SEEDS=7 node scripts/test.mjs test/testing/store-linearizability
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { Store } from '../../src/store.js'
import { EtcdError } from '../../src/errors.js'
import { Random } from '../../src/sim/random.js'
import { HistoryRecorder, checkLinearizability, registerModel } from '../../src/testing/index.js'
import type { Completion, RegisterInput, RegisterOutput, Settled } from '../../src/testing/index.js'

const SEEDS = (process.env.STORE_LIN_SEEDS ?? '1,2,3').split(',').map(Number)
const CLIENTS = 4
const OPS_PER_CLIENT = Number(process.env.STORE_LIN_OPS ?? 100)
const KEYS = ['x', 'y', 'z']
const MEMBERS = ['m1', 'm2', 'm3']

const replay = (seed: number) => `seed ${seed}; replay: STORE_LIN_SEEDS=${seed} node scripts/test.mjs test/testing/store-linearizability`

/** Timeouts and unavailability leave the outcome unknown; any other error is a failure the test reports. */
function classify<T>(ok: (value: T) => RegisterOutput): (r: Settled<T>) => Completion<RegisterOutput> {
  return (r) => {
    if (r.ok) return { outcome: 'ok', output: ok(r.value) }
    const e = r.error
    if (e instanceof EtcdError && (e.grpcCode === 'Unavailable' || e.code === 'ErrTimeout')) return { outcome: 'info', error: e.code }
    return { outcome: 'fail', error: e instanceof Error ? `${e.name}: ${e.message}` : String(e) }
  }
}

async function run(seed: number) {
  const store = await Store.open({ members: 3, clock: 'manual', seed, requestTimeoutMs: 1_000 })
  const rec = new HistoryRecorder<RegisterInput, RegisterOutput>(store.sim.clock)
  const rng = new Random(seed).fork('store-linearizability')
  const nemesis = rng.fork('nemesis')
  const down = new Set<string>()
  let done = 0
  const sleep = (ms: number) => new Promise<void>((resolve) => store.sim.clock.setTimer(ms, resolve))
  const dec = new TextDecoder()

  async function client(c: number): Promise<void> {
    const r = rng.fork(`client${c}`)
    const seen: string[] = []
    for (let i = 0; i < OPS_PER_CLIENT; i++) {
      const kv = store.member(r.pick(MEMBERS)).kv
      const key = r.pick(KEYS)
      const d = r.int(10)
      if (d < 4) {
        const value = `c${c}-${i}`
        await rec.record(c, { type: 'put', key, value }, () => kv.put({ key, value }), classify(() => ({})))
      } else if (d < 7) {
        await rec.record(c, { type: 'get', key }, () => kv.range({ key }), classify((resp) => {
          const v = resp.kvs[0] ? dec.decode(resp.kvs[0].value) : null
          if (v !== null) seen.push(v)
          return { value: v }
        }))
      } else {
        const expected = seen.length === 0 || r.chance(0.2) ? null : r.pick(seen)
        const value = `c${c}-${i}`
        await rec.record(c, { type: 'cas', key, expected, value }, () => kv.txn({
          compare: [expected === null ? { key, target: 'VERSION', result: 'EQUAL', version: 0 } : { key, target: 'VALUE', result: 'EQUAL', value: expected }],
          success: [{ requestPut: { key, value } }],
          failure: [],
        }), classify((resp) => ({ succeeded: resp.succeeded })))
      }
      await sleep(r.range(0, 30))
    }
    done++
  }

  async function fault(): Promise<void> {
    const d = nemesis.int(100)
    if (d < 30) {
      store.sim.heal()
      for (const m of [...down]) {
        down.delete(m)
        await store.sim.restart(m)
      }
    } else if (d < 50) {
      const s = nemesis.shuffle([...MEMBERS])
      store.sim.partition(s.slice(0, 1), s.slice(1))
    } else if (d < 70) {
      const leader = store.sim.leader()
      if (leader !== undefined) store.sim.isolate(leader)
    } else if (down.size === 0) {
      const victim = nemesis.chance(0.5) ? store.sim.leader() ?? nemesis.pick(MEMBERS) : nemesis.pick(MEMBERS)
      down.add(victim)
      await store.sim.crash(victim)
    }
  }

  try {
    const clients = Array.from({ length: CLIENTS }, (_, c) => client(c))
    let nextFault = store.sim.clock.now() + nemesis.range(100, 400)
    while (done < CLIENTS) {
      await store.sim.advance(10)
      if (store.sim.clock.now() >= nextFault) {
        await fault()
        nextFault = store.sim.clock.now() + nemesis.range(100, 500)
      }
      if (store.sim.clock.now() > 1_000_000) throw new Error(`simulation ran too long (${replay(seed)})`)
    }
    await Promise.all(clients)
    return rec.history()
  } finally {
    await store.close()
  }
}

describe(`register linearizability of a 3-member Store under faults (${CLIENTS} clients, ${OPS_PER_CLIENT} ops each)`, () => {
  for (const seed of SEEDS) {
    it(`seed ${seed}`, async (t) => {
      const h = await run(seed)
      const failed = h.filter((o) => o.outcome === 'fail')
      assert.deepEqual(failed.map((o) => o.error), [], `unexpected errors (${replay(seed)})`)
      const r = checkLinearizability(h, registerModel)
      t.diagnostic(`seed ${seed}: ${h.length} ops (${h.filter((o) => o.outcome === 'ok').length} ok, ${h.filter((o) => o.outcome === 'info').length} unknown); ${r.report.split('\n')[0]}`)
      assert.equal(r.verdict, 'ok', `${r.report}\n(${replay(seed)})`)

      // the check is not vacuous: a read that returned a value returns another one
      const victim = h.find((o) => o.outcome === 'ok' && o.op.type === 'get' && o.output !== undefined && 'value' in o.output && o.output.value !== null)
      assert.ok(victim !== undefined, `no successful read of a value (${replay(seed)})`)
      const bad = h.map((o) => (o.id === victim.id ? { ...o, output: { value: 'never-written' } } : o))
      assert.equal(checkLinearizability(bad, registerModel, { shrink: false }).verdict, 'illegal', `a corrupted read was accepted (${replay(seed)})`)
    })
  }
})
