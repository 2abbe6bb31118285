/**
 * The fast paths of request parsing (plain, well-typed put and range requests skip zod)
 * must be invisible: for any input, `parseRequest` answers exactly what the zod schema
 * answers — the same normalized request, or a refusal. Seeded random inputs mix valid
 * fields with every kind of wrong one.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { deleteRangeRequestSchema, parseRequest, putRequestSchema, rangeRequestSchema, txnRequestSchema } from '../../src/services/kv-schema.js'
import type { z } from 'zod'
import { InvalidArgumentError } from '../../src/errors.js'

function rng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

class Box {
  key = 'k'
}

const ANY_VALUES: unknown[] = [
  undefined, null, true, false, 0, -0, 1, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53, Number.MAX_SAFE_INTEGER, -(2 ** 60),
  '', 'k', 'ü', '12', '-7', '0', '00012', '1e3', 'x1', '9223372036854775807', '9223372036854775808', '-9223372036854775809', '123456789012345',
  'NONE', 'ASCEND', 'DESCEND', 'KEY', 'VERSION', 'CREATE', 'MOD', 'VALUE', 'none',
  new Uint8Array([1, 2]), new Uint8Array(0), Buffer.from('buf'), new Uint16Array(2), [1, 2], {}, 5n, -3n, 2n ** 64n, Symbol('s'), () => 1,
]
const RANGE_FIELDS = ['key', 'rangeEnd', 'limit', 'revision', 'sortOrder', 'sortTarget', 'serializable', 'keysOnly', 'countOnly', 'minModRevision', 'maxModRevision', 'minCreateRevision', 'maxCreateRevision']
const PUT_FIELDS = ['key', 'value', 'lease', 'prevKv', 'ignoreValue', 'ignoreLease']
const DELETE_FIELDS = ['key', 'rangeEnd', 'prevKv']
const COMPARE_FIELDS = ['result', 'target', 'key', 'rangeEnd', 'version', 'createRevision', 'modRevision', 'value', 'lease']
const COMPARE_VALUES: Record<string, unknown[]> = {
  result: ['EQUAL', 'GREATER', 'LESS', 'NOT_EQUAL'],
  target: ['VERSION', 'CREATE', 'MOD', 'VALUE', 'LEASE'],
  key: ['k', new Uint8Array([7])],
  modRevision: [0, 5, 123],
  lease: ['0', 12, '34'],
}

/** A txn: mostly well-formed (so the fast path is taken), with a wrong part now and then. */
function randomTxn(r: () => number, depth = 0): unknown {
  const roll = r()
  if (roll < 0.02) return null
  if (roll < 0.04) return [{}]
  const t: Record<string, unknown> = {}
  const wrong = () => r() < 0.04
  if (r() < 0.7) t.compare = Array.from({ length: Math.floor(r() * 3) }, () => (wrong() ? randomInput(r, COMPARE_FIELDS) : goodCompare(r)))
  for (const branch of ['success', 'failure']) {
    if (r() < 0.3) continue
    t[branch] = Array.from({ length: Math.floor(r() * 4) }, () => randomOp(r, depth, wrong()))
  }
  if (wrong()) t[r() < 0.5 ? 'unknownField' : 'compare'] = ANY_VALUES[Math.floor(r() * ANY_VALUES.length)]
  if (r() < 0.02 && Array.isArray(t.success)) (t.success as unknown[]).length += 2 // holes
  return t
}

function goodCompare(r: () => number): Record<string, unknown> {
  const c: Record<string, unknown> = {}
  for (const f of COMPARE_FIELDS) {
    const values = COMPARE_VALUES[f]
    if (values !== undefined && (f === 'result' || f === 'target' || r() < 0.5)) c[f] = values[Math.floor(r() * values.length)]
  }
  if (r() < 0.1) c[COMPARE_FIELDS[Math.floor(r() * COMPARE_FIELDS.length)]!] = ANY_VALUES[Math.floor(r() * ANY_VALUES.length)]
  return c
}

function randomOp(r: () => number, depth: number, wrong: boolean): unknown {
  const roll = r()
  if (wrong) {
    if (roll < 0.3) return {}
    if (roll < 0.5) return { requestPut: { key: 'a' }, requestRange: { key: 'b' } }
    if (roll < 0.7) return { requestPut: randomInput(r, PUT_FIELDS) }
    return { requestRange: randomInput(r, RANGE_FIELDS) }
  }
  if (roll < 0.4) return { requestPut: { key: `k${Math.floor(r() * 9)}`, value: 'v', ...(r() < 0.2 ? { lease: 7 } : {}) } }
  if (roll < 0.7) return { requestRange: { key: 'k', ...(r() < 0.5 ? { rangeEnd: 'l', serializable: true } : {}) } }
  if (roll < 0.9 || depth >= 2) return { requestDeleteRange: { key: 'k', ...(r() < 0.5 ? { rangeEnd: 'l', prevKv: true } : {}) } }
  return { requestTxn: randomTxn(r, depth + 1) }
}

/** What `parseRequest` answers when zod alone parses (its error text as parseRequest words it). */
function zodOutcome(schema: z.ZodType<unknown, unknown>, input: unknown, what: string): { ok: true; value: unknown } | { ok: false; error: string } {
  let p: ReturnType<typeof schema.safeParse>
  try {
    p = schema.safeParse(input)
  } catch (err) {
    return { ok: false, error: (err as Error).message } // a transform's own refusal (an id out of int64 range)
  }
  if (p.success) return { ok: true, value: p.data }
  const issue = p.error.issues[0]
  const path = issue && issue.path.length > 0 ? issue.path.join('.') : '(request)'
  return { ok: false, error: `pocket-etcd: invalid ${what}: ${path}: ${issue ? issue.message : 'malformed'}` }
}

function randomInput(r: () => number, fields: string[]): unknown {
  const roll = r()
  if (roll < 0.03) return null
  if (roll < 0.05) return 'key'
  if (roll < 0.07) return new Box()
  if (roll < 0.09) return [{ key: 'k' }]
  const o: Record<string, unknown> = roll < 0.11 ? (Object.create(null) as Record<string, unknown>) : {}
  const n = Math.floor(r() * 5)
  for (let i = 0; i < n; i++) {
    const field = r() < 0.05 ? 'unknownField' : fields[Math.floor(r() * fields.length)]!
    o[field] = ANY_VALUES[Math.floor(r() * ANY_VALUES.length)]
  }
  return o
}

function outcome(run: () => unknown): { ok: true; value: unknown } | { ok: false; error: string } {
  try {
    return { ok: true, value: run() }
  } catch (err) {
    assert.ok(err instanceof InvalidArgumentError || err instanceof Error)
    return { ok: false, error: (err as Error).message }
  }
}

describe('request parsing fast paths', () => {
  for (const [what, schema, fields] of [
    ['RangeRequest', rangeRequestSchema, RANGE_FIELDS],
    ['PutRequest', putRequestSchema, PUT_FIELDS],
  ] as const) {
    it(`${what}: answers exactly as zod for seeded random inputs`, () => {
      for (const seed of [1, 2, 3]) {
        const r = rng(seed)
        for (let i = 0; i < 3000; i++) {
          const input = randomInput(r, [...fields])
          const fast = outcome(() => parseRequest(schema as never, input, what))
          const slow = outcome(() => {
            const p = (schema as typeof rangeRequestSchema).safeParse(input)
            if (!p.success) throw new Error('refused')
            return p.data
          })
          assert.equal(fast.ok, slow.ok, `seed ${seed}, input ${i}: ${String(fast.ok)} vs zod ${String(slow.ok)}`)
          if (fast.ok && slow.ok) assert.deepEqual(fast.value, slow.value, `seed ${seed}, input ${i}`)
        }
      }
    })
  }

  for (const [what, schema, gen] of [
    ['DeleteRangeRequest', deleteRangeRequestSchema, (r: () => number) => randomInput(r, DELETE_FIELDS)],
    ['TxnRequest', txnRequestSchema, (r: () => number) => randomTxn(r)],
  ] as const) {
    it(`${what}: answers exactly as zod, the same request or the same error, for seeded random inputs`, () => {
      let fastOnes = 0
      for (const seed of [1, 2, 3]) {
        const r = rng(seed)
        for (let i = 0; i < 3000; i++) {
          const input = gen(r)
          const fast = outcome(() => parseRequest(schema as z.ZodType<unknown, unknown>, input, what))
          const slow = zodOutcome(schema as z.ZodType<unknown, unknown>, input, what)
          assert.deepEqual(fast, slow, `seed ${seed}, input ${i}`)
          if (fast.ok) fastOnes++
        }
      }
      assert.ok(fastOnes > 1000, `enough inputs parse (${fastOnes}) for the comparison to cover the fast path`)
    })
  }

  it('a txn refused by zod gets zod\'s error, word for word', () => {
    const bad: [unknown, string][] = [
      [{ compare: [{ target: 'MOD', key: 'k' }] }, 'pocket-etcd: invalid TxnRequest: compare.0.result: '],
      [{ success: [{ requestPut: { key: 'k', lease: 'x' } }] }, 'pocket-etcd: invalid TxnRequest: success.0'],
      [{ success: [{}] }, 'pocket-etcd: invalid TxnRequest: success.0'],
      [{ failure: [{ requestRange: { key: 'k', limit: 1.5 } }] }, 'pocket-etcd: invalid TxnRequest: failure.0'],
      [{ compare: [], extra: 1 }, 'pocket-etcd: invalid TxnRequest: '],
    ]
    for (const [input, prefix] of bad) {
      const fast = outcome(() => parseRequest(txnRequestSchema, input as never, 'TxnRequest'))
      assert.deepEqual(fast, zodOutcome(txnRequestSchema as z.ZodType<unknown, unknown>, input, 'TxnRequest'))
      assert.ok(!fast.ok && fast.error.startsWith(prefix), `${JSON.stringify(input)}: ${fast.ok ? 'accepted' : fast.error}`)
    }
  })

  it('passes byte fields through by reference and encodes strings, as the schema does', () => {
    const key = new Uint8Array([1, 2, 3])
    const r = parseRequest(putRequestSchema, { key, value: 'v', lease: 12 }, 'PutRequest')
    assert.equal(r.key, key)
    assert.deepEqual([...r.value], [0x76])
    assert.equal(r.lease, '12')
  })
})
