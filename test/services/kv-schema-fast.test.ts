/**
 * The fast paths of request parsing (plain, well-typed put and range requests skip zod)
 * must be invisible: for any input, `parseRequest` answers exactly what the zod schema
 * answers — the same normalized request, or a refusal. Seeded random inputs mix valid
 * fields with every kind of wrong one.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { parseRequest, putRequestSchema, rangeRequestSchema } from '../../src/services/kv-schema.js'
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

  it('passes byte fields through by reference and encodes strings, as the schema does', () => {
    const key = new Uint8Array([1, 2, 3])
    const r = parseRequest(putRequestSchema, { key, value: 'v', lease: 12 }, 'PutRequest')
    assert.equal(r.key, key)
    assert.deepEqual([...r.value], [0x76])
    assert.equal(r.lease, '12')
  })
})
