/**
 * The seeded cluster simulation (in the spirit of TigerBeetle's VOPR): a 5-member Store on
 * a manual clock, with a nemesis that partitions the network (halves, an isolated leader,
 * one-way cuts), crashes and restarts members, and turns on message drop, duplication,
 * delay and reordering, while concurrent clients write (puts of unique values, txn
 * increments, deletes) and read (linearizable and serializable) through random members.
 * Every operation's invocation, completion and result is recorded. After healing and
 * settling, it checks:
 *   - every member has the same hashKV and the same range over all keys;
 *   - every acknowledged write is in the final history at the revision it was acknowledged
 *     with, and every successful read matches the final history at its revision (so no
 *     value that was never written appears, and nothing acknowledged was lost);
 *   - a linearizable read or write never returns a revision below one acknowledged before
 *     it was invoked (revisions never go backwards, per client or across clients);
 *   - txn increments are applied exactly once: acknowledged ≤ counter ≤ acknowledged + unknown;
 *   - no request is left hanging once the cluster is healed;
 *   - the same seed gives the identical trace (network events and every response).
 *
 * Failing seeds print the command that replays them. Environment:
 *   SIM_SEEDS=42            run seed 42 only (the replay command)
 *   SIM_SEEDS=1,2,3         run these seeds
 *   SIM_SEEDS=count:200     run 200 seeds, 1..200
 *   SIM_SEEDS=1000-1099     run seeds 1000 to 1099
 *   SIM_OPS=5000            client operations per seed (default: 10,000+ in total over the CI seeds)
 * e.g. a long run: SIM_SEEDS=count:100 SIM_OPS=5000 node scripts/test.mjs test/store/simulation
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { Store } from '../../src/store.js'
import { EtcdError } from '../../src/errors.js'
import { Random } from '../../src/sim/random.js'
import type { KeyValue } from '../../src/api/messages.js'
import { drive, hashes, text } from './helpers.js'

const CI_SEEDS = [1, 2, 3, 4, 5, 6, 7, 8]
const CI_OPS_PER_SEED = 1_300

function seedsFromEnv(): number[] {
  const raw = process.env.SIM_SEEDS
  if (raw === undefined || raw === '') return CI_SEEDS
  const count = /^count:(\d+)$/.exec(raw)
  if (count) return Array.from({ length: Number(count[1]) }, (_, i) => i + 1)
  const span = /^(\d+)-(\d+)$/.exec(raw)
  if (span) return Array.from({ length: Number(span[2]) - Number(span[1]) + 1 }, (_, i) => i + Number(span[1]))
  return raw.split(',').map((s) => {
    const n = Number(s.trim())
    if (!Number.isSafeInteger(n)) throw new Error(`SIM_SEEDS: not a seed: ${s}`)
    return n
  })
}

const SEEDS = seedsFromEnv()
let snapshotsSent = 0
const OPS = process.env.SIM_OPS ? Number(process.env.SIM_OPS) : CI_OPS_PER_SEED
const CLIENTS = 5
const KEYS = ['k0', 'k1', 'k2', 'k3', 'k4', 'k5']
const COUNTERS = ['ctr0', 'ctr1']
const MEMBERS = ['m1', 'm2', 'm3', 'm4', 'm5']

type Outcome = 'ok' | 'fail' | 'unknown'

interface Op {
  id: number
  client: number
  kind: 'put' | 'delete' | 'incr' | 'read'
  member: string
  key: string
  value?: string
  serializable?: boolean
  invokeSeq: number
  completeSeq: number
  invokeTime: number
  completeTime: number
  outcome: Outcome
  error?: string
  revision?: number
  /** For reads: what was returned. For incr: whether the txn succeeded and the value it wrote. */
  kvs?: { key: string; value: string; modRevision: number; createRevision: number; version: number }[]
  succeeded?: boolean
}

function shape(kv: KeyValue): { key: string; value: string; modRevision: number; createRevision: number; version: number } {
  return { key: text(kv.key), value: text(kv.value), modRevision: kv.modRevision, createRevision: kv.createRevision, version: kv.version }
}

function replay(seed: number): string {
  return `seed ${seed}; replay: SIM_SEEDS=${seed} SIM_OPS=${OPS} node scripts/test.mjs test/store/simulation`
}

/** Errors a client may get from a healthy-but-faulty cluster: the operation's outcome is unknown. */
function classify(err: unknown): { outcome: Outcome; error: string } {
  if (err instanceof EtcdError && (err.grpcCode === 'Unavailable' || err.code === 'ErrTimeout')) return { outcome: 'unknown', error: err.code }
  // anything else (a wrong answer, an invariant, a bug) is a test failure, reported with the seed
  return { outcome: 'fail', error: err instanceof Error ? `${err.name}: ${err.message}` : String(err) }
}

interface RunResult {
  ops: Op[]
  traceHash: string
  stats: string
}

async function runSeed(seed: number, opsTotal: number): Promise<RunResult> {
  // odd seeds snapshot and compact the Raft log often, so lagging members catch up by MsgSnap
  const store = await Store.open({ members: 5, clock: 'manual', seed, requestTimeoutMs: 1_000, ...(seed % 2 === 1 ? { snapshotCount: 40 } : {}) })
  const net = store.sim.network
  const trace = createHash('sha256')
  let snaps = 0
  const untrace = store.sim.onNetworkEvent((e) => {
    const m = e.msg
    if (e.type === 'deliver' && m.type === 'MsgSnap') snaps++
    trace.update(`${e.type}|${e.seq}|${e.from}|${e.to}|${e.time}|${m.type}|${m.term}|${m.index}|${m.commit}|${m.entries?.length ?? 0}|${e.type === 'drop' ? e.reason : ''}\n`)
  })
  const rng = new Random(seed).fork('simulation-test')
  const nemesis = rng.fork('nemesis')
  const ops: Op[] = []
  let seq = 0
  let nextId = 0
  const down = new Set<string>()
  const perClient = Math.ceil(opsTotal / CLIENTS)
  let clientsDone = 0

  const sleep = (ms: number) => new Promise<void>((resolve) => store.sim.clock.setTimer(ms, resolve))

  async function client(c: number): Promise<void> {
    const r = rng.fork(`client${c}`)
    let n = 0
    for (let i = 0; i < perClient; i++) {
      const member = r.pick(MEMBERS)
      const kv = store.member(member).kv
      const dice = r.int(100)
      const op: Op = {
        id: nextId++,
        client: c,
        kind: dice < 35 ? 'put' : dice < 40 ? 'delete' : dice < 60 ? 'incr' : 'read',
        member,
        key: '',
        invokeSeq: ++seq,
        completeSeq: 0,
        invokeTime: store.sim.clock.now(),
        completeTime: 0,
        outcome: 'unknown',
      }
      try {
        switch (op.kind) {
          case 'put': {
            op.key = r.pick(KEYS)
            op.value = `c${c}-${n++}`
            const resp = await kv.put({ key: op.key, value: op.value })
            op.revision = resp.header.revision
            break
          }
          case 'delete': {
            op.key = r.pick(KEYS)
            const resp = await kv.deleteRange({ key: op.key })
            op.revision = resp.header.revision
            break
          }
          case 'incr': {
            op.key = r.pick(COUNTERS)
            // read-modify-write with a compare on the modRevision: applied at most once per read
            const cur = await kv.range({ key: op.key })
            const kv0 = cur.kvs[0]
            const next = String((kv0 ? Number(text(kv0.value)) : 0) + 1)
            op.value = next
            const resp = await kv.txn({
              compare: [{ key: op.key, target: 'MOD', result: 'EQUAL', modRevision: kv0?.modRevision ?? 0 }],
              success: [{ requestPut: { key: op.key, value: next } }],
              failure: [],
            })
            op.succeeded = resp.succeeded
            op.revision = resp.header.revision
            break
          }
          case 'read': {
            op.key = r.chance(0.2) ? '' : r.pick([...KEYS, ...COUNTERS])
            op.serializable = r.chance(0.3)
            const resp = op.key === ''
              ? await kv.range({ key: '\0', rangeEnd: '\0', serializable: op.serializable })
              : await kv.range({ key: op.key, serializable: op.serializable })
            op.kvs = resp.kvs.map(shape)
            op.revision = resp.header.revision
            break
          }
        }
        op.outcome = 'ok'
      } catch (err) {
        const k = classify(err)
        op.outcome = k.outcome
        op.error = k.error
      }
      op.completeSeq = ++seq
      op.completeTime = store.sim.clock.now()
      ops.push(op)
      await sleep(r.range(0, 30))
    }
    clientsDone++
  }

  async function heal(): Promise<void> {
    store.sim.heal()
    net.configure({ drop: 0, duplicate: 0, delayMs: [0, 0], reorder: false })
    for (const m of [...down]) {
      await store.sim.restart(m)
      down.delete(m)
    }
  }

  async function nemesisStep(): Promise<void> {
    const d = nemesis.int(100)
    if (d < 25) {
      await heal()
    } else if (d < 37) {
      const shuffled = nemesis.shuffle([...MEMBERS])
      const cut = nemesis.range(1, 3)
      store.sim.partition(shuffled.slice(0, cut), shuffled.slice(cut))
    } else if (d < 47) {
      const leader = store.sim.leader()
      if (leader !== undefined) store.sim.isolate(leader)
    } else if (d < 57) {
      for (let i = nemesis.range(1, 4); i > 0; i--) {
        const [a, b] = nemesis.shuffle([...MEMBERS])
        net.cut(a!, b!)
      }
    } else if (d < 70) {
      if (down.size < 2) {
        const victim = nemesis.chance(0.4) ? store.sim.leader() ?? nemesis.pick(MEMBERS) : nemesis.pick(MEMBERS)
        if (!down.has(victim)) {
          down.add(victim)
          await store.sim.crash(victim)
        }
      }
    } else if (d < 80) {
      const m = [...down][0]
      if (m !== undefined) {
        down.delete(m)
        await store.sim.restart(m)
      }
    } else {
      net.configure({
        drop: nemesis.chance(0.5) ? nemesis.int(15) / 100 : 0,
        duplicate: nemesis.chance(0.5) ? nemesis.int(10) / 100 : 0,
        delayMs: nemesis.chance(0.5) ? [0, nemesis.range(1, 40)] : [0, 0],
        reorder: nemesis.chance(0.5),
      })
    }
  }

  try {
    const clients = Array.from({ length: CLIENTS }, (_, c) => client(c))
    // faults while the clients run
    let nextFault = store.sim.clock.now() + nemesis.range(100, 600)
    while (clientsDone < CLIENTS) {
      await store.sim.advance(10)
      if (store.sim.clock.now() >= nextFault && clientsDone < CLIENTS) {
        await nemesisStep()
        nextFault = store.sim.clock.now() + nemesis.range(100, 800)
      }
      // a healthy stretch now and then, so progress is made whatever the dice say
      if (store.sim.clock.now() > 2_000_000) throw new Error('simulation ran for too long')
    }
    await Promise.all(clients)
    await heal()
    // let every member catch up with the leader's commit index
    const caughtUp = await store.sim.until(() => {
      const leader = store.sim.leader()
      if (leader === undefined) return false
      const lm = store.runningMember(leader)!
      const commit = lm.raftStatus().hardState.commit
      return MEMBERS.every((n) => {
        const m = store.runningMember(n)!
        return m.applied >= commit && m.leaderId === lm.id
      })
    }, 60_000)
    assert.ok(caughtUp, `members did not converge after heal (${replay(seed)})`)
    // one more write after healing must succeed: the cluster is live
    const final = await drive(store, store.kv.put({ key: 'final', value: 'final' }), 10_000)
    assert.ok(final.ok === true, `a write after healing did not succeed: ${final.ok === false ? String(final.error) : 'still pending'} (${replay(seed)})`)
    await store.sim.until(() => MEMBERS.every((n) => store.runningMember(n)!.applied >= store.runningMember(store.sim.leader()!)!.applied), 10_000)
    await store.sim.settle()

    await check(store, seed, ops)
    untrace()
    const stats = net.stats()
    snapshotsSent += snaps
    return {
      ops,
      traceHash: trace.digest('hex'),
      stats: `${ops.length} ops (${ops.filter((o) => o.outcome === 'ok').length} ok, ${ops.filter((o) => o.outcome === 'unknown').length} unknown), ` +
        `${stats.sent} msgs (${stats.dropped} dropped, ${stats.duplicated} duplicated, ${snaps} snapshots delivered), sim time ${store.sim.clock.now()} ms`,
    }
  } finally {
    await store.close()
  }
}

async function check(store: Store, seed: number, ops: Op[]): Promise<void> {
  const ctx = replay(seed)
  const failed = ops.filter((o) => o.outcome === 'fail')
  assert.equal(failed.length, 0, `unexpected errors: ${failed.slice(0, 3).map((o) => `${o.kind} ${o.key} on ${o.member}: ${o.error}`).join('; ')} (${ctx})`)

  // 1. every member holds the same data
  const hs = await hashes(store)
  for (const n of MEMBERS) assert.deepEqual(hs[n], hs.m1, `hashKV of ${n} differs from m1: ${JSON.stringify(hs)} (${ctx})`)
  const dumps = new Map<string, string>()
  for (const n of MEMBERS) {
    const r = await store.member(n).kv.range({ key: '\0', rangeEnd: '\0', serializable: true })
    dumps.set(n, JSON.stringify({ rev: r.header.revision, kvs: r.kvs.map(shape) }))
  }
  for (const n of MEMBERS) assert.equal(dumps.get(n), dumps.get('m1'), `range over all keys on ${n} differs from m1 (${ctx})`)

  // the final history, read at any revision from one member (nothing was compacted)
  const m1 = store.member('m1').kv
  const cache = new Map<string, ReturnType<typeof shape>[]>()
  const at = async (key: string, rev: number) => {
    const k = `${key}@${rev}`
    let v = cache.get(k)
    if (v === undefined) {
      const r = key === '' ? await m1.range({ key: '\0', rangeEnd: '\0', revision: rev, serializable: true }) : await m1.range({ key, revision: rev, serializable: true })
      v = r.kvs.map(shape)
      cache.set(k, v)
    }
    return v
  }

  // 2. acknowledged writes are in the history at their revision; every value ever seen was written
  const written = new Set(ops.filter((o) => (o.kind === 'put' || o.kind === 'incr') && o.value !== undefined).map((o) => `${o.key}=${o.value}`))
  for (const o of ops) {
    if (o.outcome !== 'ok') continue
    if (o.kind === 'put') {
      const h = await at(o.key, o.revision!)
      assert.ok(h.length === 1 && h[0]!.value === o.value && h[0]!.modRevision === o.revision, `acknowledged put ${o.key}=${o.value}@${o.revision} not in history: ${JSON.stringify(h)} (${ctx})`)
    } else if (o.kind === 'incr' && o.succeeded) {
      const h = await at(o.key, o.revision!)
      assert.ok(h.length === 1 && h[0]!.value === o.value && h[0]!.modRevision === o.revision, `acknowledged increment ${o.key}=${o.value}@${o.revision} not in history: ${JSON.stringify(h)} (${ctx})`)
    } else if (o.kind === 'read') {
      const h = await at(o.key, o.revision!)
      assert.deepEqual(o.kvs, h, `read of ${o.key || 'all keys'} on ${o.member} at revision ${o.revision} (${o.serializable ? 'serializable' : 'linearizable'}) does not match the history (${ctx})`)
      for (const kv of o.kvs!) if (kv.key !== 'final') assert.ok(written.has(`${kv.key}=${kv.value}`), `read returned ${kv.key}=${kv.value}, never written (${ctx})`)
    }
  }
  for (const kv of JSON.parse(dumps.get('m1')!).kvs as ReturnType<typeof shape>[]) {
    if (kv.key !== 'final') assert.ok(written.has(`${kv.key}=${kv.value}`), `final state holds ${kv.key}=${kv.value}, never written (${ctx})`)
  }

  // 3. linearizable operations never observe a revision below one acknowledged before they began
  const byCompletion = ops.filter((o) => o.outcome === 'ok' && !o.serializable).sort((a, b) => a.completeSeq - b.completeSeq)
  const byInvoke = [...byCompletion].sort((a, b) => a.invokeSeq - b.invokeSeq)
  let maxAcked = 0
  let j = 0
  for (const o of byInvoke) {
    while (j < byCompletion.length && byCompletion[j]!.completeSeq < o.invokeSeq) maxAcked = Math.max(maxAcked, byCompletion[j++]!.revision!)
    assert.ok(o.revision! >= maxAcked, `${o.kind} ${o.key} by client ${o.client} on ${o.member} returned revision ${o.revision} after revision ${maxAcked} was acknowledged (${ctx})`)
  }
  // per client, serializable reads from one member never go back either (a member's applied state only grows)
  const last = new Map<string, number>()
  for (const o of ops.filter((x) => x.outcome === 'ok' && x.serializable).sort((a, b) => a.completeSeq - b.completeSeq)) {
    const k = `${o.client}/${o.member}`
    assert.ok(o.revision! >= (last.get(k) ?? 0), `serializable read by client ${o.client} on ${o.member} went back to revision ${o.revision} from ${last.get(k)} (${ctx})`)
    last.set(k, o.revision!)
  }

  // 4. txn increments: each applied exactly once
  const finalKvs = new Map((JSON.parse(dumps.get('m1')!).kvs as ReturnType<typeof shape>[]).map((kv) => [kv.key, kv]))
  for (const key of COUNTERS) {
    const incs = ops.filter((o) => o.kind === 'incr' && o.key === key)
    const acked = incs.filter((o) => o.outcome === 'ok' && o.succeeded).length
    const unknown = incs.filter((o) => o.outcome === 'unknown' && o.value !== undefined).length
    const value = Number(finalKvs.get(key)?.value ?? '0')
    assert.ok(value >= acked && value <= acked + unknown, `${key} = ${value}, but ${acked} increments were acknowledged and ${unknown} had unknown outcomes (${ctx})`)
    assert.equal(finalKvs.get(key)?.version ?? 0, value, `${key}: version ${finalKvs.get(key)?.version} != value ${value}: an increment applied twice or skipped (${ctx})`)
  }
}

function fingerprint(r: RunResult): string {
  const h = createHash('sha256')
  h.update(r.traceHash)
  for (const o of r.ops) h.update(JSON.stringify(o))
  return h.digest('hex')
}

describe(`seeded simulation: 5 members, ${CLIENTS} clients, ${OPS} ops per seed, seeds ${SEEDS.length > 10 ? `${SEEDS[0]}..${SEEDS[SEEDS.length - 1]}` : SEEDS.join(',')}`, () => {
  for (const seed of SEEDS) {
    it(`seed ${seed}`, async (t) => {
      const r = await runSeed(seed, OPS)
      t.diagnostic(`seed ${seed}: ${r.stats}`)
      assert.ok(r.ops.filter((o) => o.outcome === 'ok').length > r.ops.length / 4, `too few operations succeeded: ${r.stats} (${replay(seed)})`)
    })
  }

  it('the snapshot path was exercised (odd seeds)', { skip: SEEDS.every((s) => s % 2 === 0) }, () => {
    assert.ok(snapshotsSent > 0, 'no MsgSnap was delivered in any odd seed: the snapshot catch-up path went untested')
  })

  it(`the same seed replays exactly (seed ${SEEDS[0]})`, async () => {
    const seed = SEEDS[0]!
    const ops = Math.min(OPS, 400)
    const a = await runSeed(seed, ops)
    const b = await runSeed(seed, ops)
    assert.equal(a.ops.length, b.ops.length, `different op counts (${replay(seed)})`)
    for (let i = 0; i < a.ops.length; i++) assert.deepEqual(b.ops[i], a.ops[i], `op ${i} differs between two runs (${replay(seed)})`)
    assert.equal(b.traceHash, a.traceHash, `network traces differ between two runs (${replay(seed)})`)
    assert.equal(fingerprint(b), fingerprint(a))
  })
})
