import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import type { KeyValue } from '../../src/api/messages.js'
import { decodeKeyValue, decodeKeyValuesInto, encodeKeyValue } from '../../src/mvcc/kv-codec.js'

describe('kv-codec', () => {
  it('round-trips edge cases', () => {
    const cases: KeyValue[] = [
      { key: new Uint8Array([1]), value: new Uint8Array(0), createRevision: 0, modRevision: 0, version: 0, lease: '0' },
      { key: new TextEncoder().encode('foo'), value: new Uint8Array(300).fill(7), createRevision: 2, modRevision: 127, version: 128, lease: '7587862072907844106' },
      { key: new Uint8Array([0, 255]), value: new Uint8Array([0]), createRevision: Number.MAX_SAFE_INTEGER, modRevision: 2 ** 32, version: 1, lease: '18446744073709551615' },
    ]
    for (const kv of cases) assert.deepEqual(decodeKeyValue(encodeKeyValue(kv)), kv)
  })

  it('round-trips arbitrary records', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 64 }),
        fc.uint8Array({ maxLength: 512 }),
        fc.nat(),
        fc.nat(),
        fc.nat(),
        fc.oneof(fc.constant('0'), fc.bigInt({ min: 1n, max: 2n ** 64n - 1n }).map(String)),
        (key, value, createRevision, modRevision, version, lease) => {
          const kv: KeyValue = { key, value, createRevision, modRevision, version, lease }
          assert.deepEqual(decodeKeyValue(encodeKeyValue(kv)), kv)
        },
      ),
    )
  })

  it('decodes to plain copies, also from a Buffer', () => {
    const kv: KeyValue = { key: new Uint8Array([1, 2]), value: new Uint8Array([3]), createRevision: 1, modRevision: 1, version: 1, lease: '0' }
    const stored = Buffer.from(encodeKeyValue(kv))
    const got = decodeKeyValue(stored)
    assert.equal(Object.getPrototypeOf(got.value), Uint8Array.prototype)
    got.value[0] = 9
    assert.deepEqual(decodeKeyValue(stored), kv)
  })

  it('decodes many records into one fresh buffer, like one-by-one decoding, leaving gaps alone', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.option(
            fc.record({
              key: fc.uint8Array({ minLength: 1, maxLength: 80 }),
              value: fc.uint8Array({ maxLength: 300 }),
              createRevision: fc.nat(),
              modRevision: fc.nat(),
              version: fc.nat(),
              lease: fc.oneof(fc.constant('0'), fc.bigInt({ min: 1n, max: 2n ** 64n - 1n }).map(String)),
            }),
            { nil: undefined },
          ),
          { maxLength: 20 },
        ),
        (kvs) => {
          const records = kvs.map((kv) => (kv === undefined ? undefined : encodeKeyValue(kv)))
          const sentinel: KeyValue = { key: new Uint8Array([0]), value: new Uint8Array(0), createRevision: 0, modRevision: 0, version: 0, lease: '0' }
          const out: KeyValue[] = kvs.map(() => sentinel)
          decodeKeyValuesInto(records, out)
          for (let i = 0; i < kvs.length; i++) assert.deepEqual(out[i], kvs[i] === undefined ? sentinel : { ...kvs[i] }, `record ${i}`)
        },
      ),
    )
  })

  it('packed decoding copies: writing into one answer changes neither the records nor the other keys and values', () => {
    const a: KeyValue = { key: new Uint8Array([1, 2]), value: new Uint8Array([3, 4]), createRevision: 1, modRevision: 1, version: 1, lease: '0' }
    const b: KeyValue = { key: new Uint8Array([5]), value: new Uint8Array([6]), createRevision: 2, modRevision: 2, version: 1, lease: '0' }
    const records = [encodeKeyValue(a), Buffer.from(encodeKeyValue(b))]
    const out: KeyValue[] = []
    decodeKeyValuesInto(records, out)
    out[0]!.key.fill(9)
    out[0]!.value.fill(9)
    assert.deepEqual(out[1], b)
    assert.deepEqual(decodeKeyValue(records[0]!), a)
    assert.deepEqual(decodeKeyValue(records[1]!), b)
    assert.equal(Object.getPrototypeOf(out[1]!.value), Uint8Array.prototype)
  })

  it('leaves values out when asked, one record or many, and reads everything else the same', () => {
    const kvs: KeyValue[] = [
      { key: new Uint8Array([1, 2]), value: new Uint8Array(300).fill(5), createRevision: 3, modRevision: 9, version: 4, lease: '7587862072907844106' },
      { key: new Uint8Array([3]), value: new Uint8Array(0), createRevision: 1, modRevision: 1, version: 1, lease: '0' },
    ]
    const records = kvs.map(encodeKeyValue)
    const bare = kvs.map((kv) => ({ ...kv, value: new Uint8Array(0) }))
    assert.deepEqual(records.map((r) => decodeKeyValue(r, false)), bare)
    const out: KeyValue[] = []
    decodeKeyValuesInto(records, out, false)
    assert.deepEqual(out, bare)
    assert.throws(() => decodeKeyValue(records[0]!.subarray(0, 10), false), /invariant/)
  })

  it('is compact: a small record takes a few bytes over key and value', () => {
    const kv: KeyValue = { key: new Uint8Array(3), value: new Uint8Array(5), createRevision: 100, modRevision: 200, version: 3, lease: '0' }
    assert.ok(encodeKeyValue(kv).length <= 3 + 5 + 8)
  })

  it('rejects corrupt records', () => {
    const bytes = encodeKeyValue({ key: new Uint8Array([1, 2]), value: new Uint8Array([3]), createRevision: 1, modRevision: 1, version: 1, lease: '0' })
    assert.throws(() => decodeKeyValue(bytes.subarray(0, bytes.length - 2)), /invariant/)
    assert.throws(() => decodeKeyValue(new Uint8Array([9])), /invariant/)
  })
})
