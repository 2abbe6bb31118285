/**
 * The record codec (Raft entries, hard state, snapshot metadata, state dumps): any
 * JSON-like value with byte leaves round-trips exactly as it did through JSON (what is
 * left out, what becomes null), bytes come back as fresh plain arrays, records written
 * as JSON by earlier versions still decode, and damaged input is refused as corruption.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { decodeRecord, encodeRecord, PUT_RECORD_FORMAT, RECORD_FORMAT } from '../../src/member/record-codec.js'
import { fromBinaryString, toBinaryString } from '../../src/api/bytes.js'
import { InvariantError } from '../../src/errors.js'

/** The previous codec (JSON with a byte tag), as the reference for JSON semantics. */
function jsonRoundTrip(value: unknown): unknown {
  const text = JSON.stringify(value, function (this: unknown, key: string, v: unknown) {
    const raw = (this as Record<string, unknown>)[key]
    return raw instanceof Uint8Array ? { $b: toBinaryString(raw) } : v
  })
  if (text === undefined) return null
  return JSON.parse(text, (_k, v: unknown) => {
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
      const o = v as Record<string, unknown>
      if (typeof o.$b === 'string' && Object.keys(o).length === 1) return fromBinaryString(o.$b)
    }
    return v
  })
}

function legacyEncode(value: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value, function (this: unknown, key: string, v: unknown) {
    const raw = (this as Record<string, unknown>)[key]
    return raw instanceof Uint8Array ? { $b: toBinaryString(raw) } : v
  }))
}

/** A small seeded PRNG (mulberry32). */
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

const STRINGS = ['', 'a', 'put', 'header', 'key', 'EQUAL', 'autoLeave', 'ünïcødé', '日本語', '😀 emoji', '\u0000nul', 'lone \ud800 high', 'lone \udc00 low', '__proto__', 'x'.repeat(300), 'é'.repeat(40)]
const NUMBERS = [0, -0, 1, -1, 127, 128, 255, 256, 2 ** 31 - 1, 2 ** 31, 2 ** 32, -(2 ** 31), Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, 2 ** 53, 1.5, -2.25, 1e300, 5e-324, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]

function randomValue(r: () => number, depth: number): unknown {
  const k = Math.floor(r() * (depth > 4 ? 7 : 10))
  switch (k) {
    case 0:
      return null
    case 1:
      return r() < 0.5
    case 2:
      return NUMBERS[Math.floor(r() * NUMBERS.length)]
    case 3:
      return STRINGS[Math.floor(r() * STRINGS.length)]
    case 4: {
      const b = new Uint8Array(Math.floor(r() * (r() < 0.1 ? 300 : 20)))
      for (let i = 0; i < b.length; i++) b[i] = Math.floor(r() * 256)
      return r() < 0.3 ? Buffer.from(b) : b
    }
    case 5:
      return undefined
    case 6:
      return Math.floor(r() * 2 ** 40) * (r() < 0.5 ? -1 : 1)
    case 7:
      return Array.from({ length: Math.floor(r() * 5) }, () => randomValue(r, depth + 1))
    default: {
      const o: Record<string, unknown> = {}
      const n = Math.floor(r() * 6)
      for (let i = 0; i < n; i++) {
        // defineProperty: a "__proto__" key must be an own property, not the prototype
        const key = STRINGS[Math.floor(r() * STRINGS.length)]! + (r() < 0.5 ? String(i) : '')
        Object.defineProperty(o, key, { value: randomValue(r, depth + 1), enumerable: true, writable: true, configurable: true })
      }
      return o
    }
  }
}

/** Decodes 2,000 copies of `rec`, each with one random byte changed: any error must be an InvariantError. */
function flipBytes(rec: Uint8Array, seed: number): void {
  const r = rng(seed)
  for (let i = 0; i < 2000; i++) {
    const bad = new Uint8Array(rec)
    bad[Math.floor(r() * bad.length)] = Math.floor(r() * 256)
    try {
      decodeRecord(bad)
    } catch (err) {
      assert.ok(err instanceof InvariantError, `seed ${seed}, flip ${i}: ${String(err)}`)
    }
  }
}

describe('record codec', () => {
  it('round-trips random JSON-like values with byte leaves exactly as JSON did', () => {
    for (const seed of [1, 2, 3, 42, 1234]) {
      const r = rng(seed)
      for (let i = 0; i < 400; i++) {
        const v = randomValue(r, 0)
        const bytes = encodeRecord(v)
        assert.equal(bytes[0], RECORD_FORMAT)
        assert.deepEqual(decodeRecord(bytes), jsonRoundTrip(v), `seed ${seed}, value ${i}`)
      }
    }
  })

  it('keeps JSON semantics: undefined and functions left out of objects, null in arrays; toJSON; -0 and NaN', () => {
    const rec = { a: undefined, f: () => 1, arr: [undefined, () => 1, Number.NaN, -0], d: new Date(0), n: null, big: 2 ** 40 + 0.5 }
    const back = decodeRecord<Record<string, unknown>>(encodeRecord(rec))
    assert.deepEqual(back, { arr: [null, null, null, 0], d: '1970-01-01T00:00:00.000Z', n: null, big: 2 ** 40 + 0.5 })
    assert.ok(!('a' in back) && !('f' in back))
    assert.ok(Object.is((back.arr as unknown[])[3], 0), '-0 comes back as 0, as through JSON')
  })

  it('returns fresh plain Uint8Arrays, never views of the record, also when decoding a Buffer', () => {
    const bytes = Buffer.from(encodeRecord({ k: new Uint8Array([1, 2, 3]), big: new Uint8Array(200).fill(7) }))
    const back = decodeRecord<{ k: Uint8Array; big: Uint8Array }>(bytes)
    assert.equal(Object.getPrototypeOf(back.k), Uint8Array.prototype)
    assert.equal(Object.getPrototypeOf(back.big), Uint8Array.prototype)
    bytes.fill(0)
    assert.deepEqual([...back.k], [1, 2, 3])
    assert.equal(back.big[199], 7)
  })

  it('keeps "__proto__" an own property, as JSON.parse does', () => {
    const rec = JSON.parse('{"__proto__": {"x": 1}, "y": 2}') as Record<string, unknown>
    const back = decodeRecord<Record<string, unknown>>(encodeRecord(rec))
    assert.equal(Object.getPrototypeOf(back), Object.prototype)
    assert.deepEqual(Object.keys(back), ['__proto__', 'y'])
    assert.equal((back as { x?: number }).x, undefined)
  })

  it('round-trips bigints (JSON refuses them) and objects with many keys', () => {
    const many: Record<string, number> = {}
    for (let i = 0; i < 300; i++) many[`k${i}`] = i
    assert.deepEqual(decodeRecord(encodeRecord({ id: 2n ** 63n - 1n, neg: -5n, many })), { id: 2n ** 63n - 1n, neg: -5n, many })
  })

  it('writes the names records repeat in two bytes, and still reads them spelled out', () => {
    const T_OBJECT = 9
    const T_STRING = 6
    const T_UINT = 3
    const spelled = new Uint8Array([RECORD_FORMAT, T_OBJECT, 2, T_STRING, 3, ...new TextEncoder().encode('key'), T_UINT, 5, T_STRING, 6, ...new TextEncoder().encode('result'), T_STRING, 5, ...new TextEncoder().encode('EQUAL')])
    assert.deepEqual(decodeRecord(spelled), { key: 5, result: 'EQUAL' })
    const written = encodeRecord({ key: 5, result: 'EQUAL' })
    assert.equal(written.length, 3 + 2 + 2 + 2 + 2, 'format, object and count, then each name in two bytes and the number')
    assert.deepEqual(decodeRecord(written), { key: 5, result: 'EQUAL' })
    // a name is a whole string: longer or shorter strings are written as text
    for (const s of ['keys', 'ke', 'Key', 'EQUAL ']) assert.deepEqual(decodeRecord(encodeRecord({ [s]: s })), { [s]: s })
  })

  it('reads records written as JSON text by earlier versions', () => {
    const rec = { header: { memberId: '1', id: 'a.1' }, put: { key: new Uint8Array([0, 255]), value: Buffer.from('v'), lease: '0' } }
    assert.deepEqual(decodeRecord(legacyEncode(rec)), jsonRoundTrip(rec))
  })

  it('is smaller than the JSON text for a typical put', () => {
    const rec = { header: { memberId: '8e9e05c52164694d', id: 'abc.12' }, put: { key: new Uint8Array(16), value: new Uint8Array(100), lease: '0', prevKv: false, ignoreValue: false, ignoreLease: false } }
    assert.ok(encodeRecord(rec).length < legacyEncode(rec).length / 2)
  })

  it('refuses every truncation of a record, unknown formats and tags, and trailing bytes as corruption', () => {
    const rec = encodeRecord({ a: [1, 'two', new Uint8Array([3]), { b: 2 ** 40, c: -7, f: 0.5 }], s: 'é', n: 3n })
    for (let len = 0; len < rec.length; len++) {
      assert.throws(() => decodeRecord(rec.subarray(0, len)), InvariantError, `prefix of ${len} bytes`)
    }
    assert.throws(() => decodeRecord(new Uint8Array([0xff, 0x00])), /invariant/)
    assert.throws(() => decodeRecord(new Uint8Array([RECORD_FORMAT, 0x63])), InvariantError)
    assert.throws(() => decodeRecord(new Uint8Array([...rec, 0])), InvariantError)
    // a huge declared length or count never allocates: it is refused
    assert.throws(() => decodeRecord(new Uint8Array([RECORD_FORMAT, 8, 0xff, 0xff, 0xff, 0xff, 0x0f])), InvariantError)
    assert.throws(() => decodeRecord(new Uint8Array([RECORD_FORMAT, 6, 2, 0xc3, 0x28])), InvariantError, 'invalid UTF-8')
    assert.throws(() => decodeRecord(new Uint8Array([RECORD_FORMAT, 12, 255])), InvariantError, 'a name the table does not have')
    assert.throws(() => decodeRecord(new Uint8Array([RECORD_FORMAT, 12])), InvariantError, 'a truncated name')
  })

  it('writes plain put requests in the put form, which decodes exactly as JSON did (seeded random requests)', () => {
    const seed = 99
    const r = rng(seed)
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T
    const bytesOf = (n: number): Uint8Array => {
      const raw = Array.from({ length: n }, () => Math.floor(r() * 256))
      // plain arrays, Buffers and views into a larger buffer all take the put form
      return pick([() => new Uint8Array(raw), () => Buffer.from(raw), () => new Uint8Array([7, ...raw, 7]).subarray(1, n + 1)])()
    }
    const strings = ['', '1', '8e9e05c52164694d', 'abc.12', 'é', 'ü👍', 'lone \ud800', '\udc00x', 'x'.repeat(300)]
    for (let i = 0; i < 500; i++) {
      const header: Record<string, unknown> = { memberId: pick(strings), id: pick(strings) }
      const u = r()
      if (u < 0.3) header.username = pick(strings)
      else if (u < 0.4) header.username = undefined
      const a = r()
      if (a < 0.3) header.authRevision = pick([0, 1, 127, 128, 2 ** 40, Number.MAX_SAFE_INTEGER])
      else if (a < 0.4) header.authRevision = undefined
      const req = {
        header,
        put: { key: bytesOf(1 + Math.floor(r() * 20)), value: bytesOf(pick([0, 1, 64, 65, 300])), lease: pick(['0', '7587', ...strings]), prevKv: r() < 0.5, ignoreValue: r() < 0.5, ignoreLease: r() < 0.5 },
      }
      const bytes = encodeRecord(req)
      assert.equal(bytes[0], PUT_RECORD_FORMAT, `seed ${seed}, request ${i}`)
      const back = decodeRecord<{ put: { key: Uint8Array; value: Uint8Array } }>(bytes)
      assert.deepEqual(back, jsonRoundTrip(req), `seed ${seed}, request ${i}`)
      for (const b of [back.put.key, back.put.value]) {
        assert.equal(Object.getPrototypeOf(b), Uint8Array.prototype, 'a plain Uint8Array')
        assert.notEqual(b.buffer, bytes.buffer, 'a fresh array, not a view of the record')
        if (b.length === 0) assert.ok(Object.isFrozen(b))
      }
    }
  })

  it('takes the general form for anything that differs from a plain put request, with the same result as JSON', () => {
    const put = () => ({ key: new Uint8Array([1]), value: new Uint8Array([2]), lease: '0', prevKv: false, ignoreValue: false, ignoreLease: false })
    const header = { memberId: 'm', id: 'x.1' }
    class Header {
      memberId = 'm'
      id = 'x.1'
    }
    const others: unknown[] = [
      { header, put: { ...put(), extra: 1 } },
      { header, put: { ...put(), prevKv: undefined } },
      { header, put: { ...put(), lease: 7 } },
      { header, put: { ...put(), key: [1] } },
      { header, put: put(), more: true },
      { header: { ...header, authRevision: -1 }, put: put() },
      { header: { ...header, authRevision: 0.5 }, put: put() },
      { header: { ...header, username: 3 }, put: put() },
      { header: { ...header, other: 'x' }, put: put() },
      { header: { id: 'x.1' }, put: put() },
      { header: new Header(), put: put() },
      { header, put: { ...put(), toJSON: () => ({ replaced: true }) } },
      { header, deleteRange: { key: new Uint8Array([1]), rangeEnd: new Uint8Array(0), prevKv: false } },
    ]
    for (const [i, v] of others.entries()) {
      const bytes = encodeRecord(v)
      assert.equal(bytes[0], RECORD_FORMAT, `case ${i}`)
      assert.deepEqual(decodeRecord(bytes), jsonRoundTrip(v), `case ${i}`)
    }
    // -0 is a non-negative integer: the put form, and it comes back as 0, as from JSON
    const negZero = { header: { ...header, authRevision: -0 }, put: put() }
    assert.equal(encodeRecord(negZero)[0], PUT_RECORD_FORMAT)
    assert.deepEqual(decodeRecord(encodeRecord(negZero)), jsonRoundTrip(negZero))
  })

  it('refuses every truncation of a put record, unknown flags and trailing bytes as corruption', () => {
    const rec = encodeRecord({ header: { memberId: 'm', id: 'x.1', username: 'root', authRevision: 300 }, put: { key: new Uint8Array([1, 2]), value: new Uint8Array([3]), lease: '5', prevKv: true, ignoreValue: false, ignoreLease: true } })
    assert.equal(rec[0], PUT_RECORD_FORMAT)
    for (let len = 0; len < rec.length; len++) {
      assert.throws(() => decodeRecord(rec.subarray(0, len)), InvariantError, `prefix of ${len} bytes`)
    }
    assert.throws(() => decodeRecord(new Uint8Array([...rec, 0])), InvariantError)
    const badFlags = new Uint8Array(rec)
    badFlags[1] = 32
    assert.throws(() => decodeRecord(badFlags), InvariantError)
    flipBytes(rec, 11)
  })

  it('never throws anything but InvariantError on damaged records (seeded byte flips)', () => {
    flipBytes(encodeRecord({ header: { memberId: 'm', id: 'x.1' }, txn: { compare: [], success: [{ requestPut: { key: new Uint8Array([1]), value: new Uint8Array(5), lease: '0' } }], failure: [] } }), 7)
  })
})
