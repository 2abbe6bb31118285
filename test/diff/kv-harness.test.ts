/**
 * Self-tests of the differential harness, so a green KV diff means something: two fresh
 * real etcd servers fed the same seeded sequence must agree exactly, and a deliberately
 * wrong implementation (one field corrupted) must be caught.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { KeyValue, RangeResponse, ResponseOp, TxnResponse } from '../../src/api/messages.js'
import { compareBytes } from '../../src/api/bytes.js'
import { EtcdError } from '../../src/errors.js'
import { parseRequest, rangeRequestSchema } from '../../src/services/kv-schema.js'
import type { KVApi } from '../../src/services/kv-api.js'
import { EtcdGateway } from '../support/etcd-gateway.js'
import { etcdBinaryOrSkip, startEtcd, type EtcdProcess } from '../support/etcd-process.js'
import { DifferentialMismatch, runDifferential } from '../support/kv-diff.js'
import { KvOpGenerator, type KvOp } from '../support/kv-ops.js'

/** Starts two fresh etcd servers for one test; both are stopped when the test ends. */
async function twoServers(t: import('node:test').TestContext): Promise<[EtcdGateway, EtcdGateway] | undefined> {
  if (etcdBinaryOrSkip(t) === undefined) return undefined
  const servers: EtcdProcess[] = []
  t.after(async () => {
    await Promise.all(servers.map((s) => s.stop()))
  })
  const [a, b] = await Promise.all([startEtcd(), startEtcd()])
  servers.push(a, b)
  return [new EtcdGateway(a.clientUrl), new EtcdGateway(b.clientUrl)]
}

/** A KVApi that forwards to `inner` and passes every successful response through `corrupt`. */
type Corruption = (kind: KvOp['kind'], response: unknown, request: unknown) => void

function corrupting(inner: KVApi, corrupt: Corruption): KVApi {
  const wrap = async <R>(kind: KvOp['kind'], request: unknown, f: () => Promise<R>): Promise<R> => {
    const r = await f()
    corrupt(kind, r, request)
    return r
  }
  return {
    range: (q) => wrap('range', q, () => inner.range(q)),
    put: (q) => wrap('put', q, () => inner.put(q)),
    deleteRange: (q) => wrap('deleteRange', q, () => inner.deleteRange(q)),
    txn: (q) => wrap('txn', q, () => inner.txn(q)),
    compact: (q) => wrap('compact', q, () => inner.compact(q)),
  }
}

function firstNestedRange(responses: ResponseOp[]): RangeResponse | undefined {
  for (const r of responses) {
    if ('responseRange' in r) return r.responseRange
    if ('responseTxn' in r) {
      const inner = firstNestedRange(r.responseTxn.responses)
      if (inner) return inner
    }
  }
  return undefined
}

test('the generator is deterministic and covers every operation kind and error', () => {
  const ops = (seed: number): KvOp[] => {
    const g = new KvOpGenerator(seed)
    return Array.from({ length: 500 }, () => g.next())
  }
  assert.deepEqual(ops(7), ops(7))
  assert.notDeepEqual(ops(7), ops(8))
  const kinds = new Set(ops(7).map((o) => o.kind))
  assert.deepEqual([...kinds].sort(), ['compact', 'deleteRange', 'put', 'range', 'txn'])
})

test('two real etcd servers agree on the same seeded sequence (the comparison is exercised)', async (t) => {
  const pair = await twoServers(t)
  if (!pair) return
  const [a, b] = pair
  const result = await runDifferential({ seed: 4242, ops: 300, ours: a, reference: b, names: { ours: 'etcd A', reference: 'etcd B' } })
  assert.equal(result.mismatches, 0)
  assert.equal(result.ops, 301)
  // Not vacuous: every kind ran, and a fair share of requests were refused by etcd.
  for (const [kind, s] of Object.entries(result.byKind)) assert.ok(s.ops > 0, `no ${kind} ops`)
  assert.ok(result.errors > 10, `only ${result.errors} refused requests`)
  assert.ok(result.byKind.put.ops - result.byKind.put.errors > 30, 'too few successful puts')
})

const corruptions: { name: string; corrupt: Corruption }[] = [
  {
    name: 'a kv version off by one in range responses',
    corrupt: (kind, r) => {
      const kv: KeyValue | undefined = kind === 'range' ? (r as RangeResponse).kvs[0] : undefined
      if (kv) kv.version += 1
    },
  },
  {
    name: 'put header revision off by one',
    corrupt: (kind, r) => {
      if (kind === 'put') (r as { header: { revision: number } }).header.revision += 1
    },
  },
  {
    name: 'count off by one in ranges nested in txns',
    corrupt: (kind, r) => {
      if (kind !== 'txn') return
      const nested = firstNestedRange((r as TxnResponse).responses)
      if (nested) nested.count += 1
    },
  },
  {
    name: 'deleted prevKvs dropped',
    corrupt: (kind, r) => {
      if (kind === 'deleteRange') (r as { prevKvs: KeyValue[] }).prevKvs = []
    },
  },
  {
    name: 'key-sorted ranges reversed',
    corrupt: (kind, r) => {
      if (kind === 'range') (r as RangeResponse).kvs.reverse()
    },
  },
  {
    name: 'ranges sorted by version/create/mod reversed (order across ties)',
    corrupt: (kind, r, q) => {
      if (kind !== 'range') return
      const target = parseRequest(rangeRequestSchema, q, 'RangeRequest').sortTarget
      if (target !== 'KEY' && target !== 'VALUE') (r as RangeResponse).kvs.reverse()
    },
  },
]

test('a deliberately wrong implementation is detected, with seed, op and replay command', async (t) => {
  const pair = await twoServers(t)
  if (!pair) return
  const [a, b] = pair
  for (const [i, c] of corruptions.entries()) {
    // A fresh seed per corruption; both servers keep state from earlier rounds, which is
    // fine: the first mismatch is reported before any divergence can matter.
    await t.test(c.name, async () => {
      const seed = 100 + i
      await assert.rejects(
        runDifferential({ seed, ops: 300, ours: corrupting(a, c.corrupt), reference: b }),
        (err: unknown) => {
          assert.ok(err instanceof DifferentialMismatch, String(err))
          assert.match(err.message, new RegExp(`seed ${seed}, op #\\d+`))
          assert.match(err.message, /replay: DIFF_SEED=\d+ /)
          assert.match(err.message, /request: /)
          return true
        },
      )
    })
  }
})

test('a wrong error message is detected', async (t) => {
  const pair = await twoServers(t)
  if (!pair) return
  const [a, b] = pair
  const wrong: KVApi = {
    range: (q) => a.range(q),
    put: (q) => a.put(q),
    deleteRange: (q) => a.deleteRange(q),
    compact: (q) => a.compact(q),
    txn: async (q) => {
      try {
        return await a.txn(q)
      } catch (err) {
        if (err instanceof EtcdError) throw new EtcdError(`${err.message}!`, err.grpcCode, err.code)
        throw err
      }
    },
  }
  const result = await runDifferential({ seed: 99, ops: 300, ours: wrong, reference: b, failFast: false })
  assert.ok(result.mismatches > 0)
  assert.match(result.firstMismatch ?? '', /error\.message: ".*!" != "etcdserver: /)
})

test('reordering kvs within a tie of a non-key sort is tolerated (Go sort is unstable)', async (t) => {
  const pair = await twoServers(t)
  if (!pair) return
  const [a, b] = pair
  let reordered = 0
  const sortKey = (kv: KeyValue, target: string): number | Uint8Array =>
    target === 'VERSION' ? kv.version : target === 'CREATE' ? kv.createRevision : target === 'MOD' ? kv.modRevision : kv.value
  const same = (x: number | Uint8Array, y: number | Uint8Array): boolean =>
    x instanceof Uint8Array && y instanceof Uint8Array ? compareBytes(x, y) === 0 : x === y
  const shuffler: KVApi = {
    put: (q) => a.put(q),
    deleteRange: (q) => a.deleteRange(q),
    compact: (q) => a.compact(q),
    txn: (q) => a.txn(q),
    range: async (q) => {
      const r = await a.range(q)
      const req = parseRequest(rangeRequestSchema, q, 'RangeRequest')
      if (req.sortTarget === 'KEY' || (req.sortTarget === 'VALUE' && req.keysOnly)) return r
      // Reverse the order inside every run of equal sort values.
      const out: KeyValue[] = []
      let run: KeyValue[] = []
      for (const kv of r.kvs) {
        const prev = run[0]
        if (prev !== undefined && !same(sortKey(prev, req.sortTarget), sortKey(kv, req.sortTarget))) {
          out.push(...run.reverse())
          run = []
        }
        run.push(kv)
      }
      out.push(...run.reverse())
      if (out.some((kv, i) => kv !== r.kvs[i])) reordered++
      return { ...r, kvs: out }
    },
  }
  const ok = await runDifferential({ seed: 31337, ops: 400, ours: shuffler, reference: b })
  assert.equal(ok.mismatches, 0)
  assert.ok(reordered > 5, `only ${reordered} responses had ties to reorder`)
})
