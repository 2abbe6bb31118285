import assert from 'node:assert/strict'
import { test } from 'node:test'
import { varintSize, writeVarint } from '../../src/api/varint.js'

test('varintSize is the length writeVarint writes, and the bytes are LEB128', () => {
  for (const n of [0, 1, 127, 128, 16_383, 16_384, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 49, Number.MAX_SAFE_INTEGER]) {
    const out = new Uint8Array(12)
    const end = writeVarint(out, 1, n)
    assert.equal(end - 1, varintSize(n), `size of ${n}`)
    let back = 0
    let scale = 1
    for (let i = 1; i < end; i++) {
      back += (out[i]! & 0x7f) * scale
      scale *= 0x80
      assert.equal(out[i]! >= 0x80, i < end - 1, `continuation bit of byte ${i} of ${n}`)
    }
    assert.equal(back, n)
  }
  const three = new Uint8Array(2)
  writeVarint(three, 0, 300)
  assert.deepEqual([...three], [0xac, 0x02], "protobuf's own example: 300")
})

test("a negative number sizes as protobuf's negative int64 (10 bytes); writeVarint refuses it and unsafe numbers", () => {
  assert.equal(varintSize(-1), 10)
  assert.throws(() => writeVarint(new Uint8Array(12), 0, -1), /invariant/)
  assert.throws(() => writeVarint(new Uint8Array(12), 0, 2 ** 53), /invariant/)
  assert.throws(() => writeVarint(new Uint8Array(12), 0, 1.5), /invariant/)
})
