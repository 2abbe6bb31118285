import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Buffer } from 'node:buffer'
import { compareBytes, copyInto, fromBinaryString, prefixEnd, toBinaryString, toBytes } from '../../src/api/bytes.js'

test('prefixEnd increments the last byte below 0xff and drops what follows (etcd GetPrefixRangeEnd)', () => {
  const cases: [number[], number[]][] = [
    [[0x61], [0x62]],
    [[0x61, 0xff], [0x62]],
    [[0x61, 0xff, 0xff], [0x62]],
    [[0xff], [0]],
    [[], [0]],
  ]
  for (const [key, end] of cases) assert.deepEqual([...prefixEnd(new Uint8Array(key))], end, `prefixEnd(${key})`)
})

test('prefixEnd never changes its argument, even a Node Buffer whose slice() is a view', () => {
  const key = Buffer.from('user/')
  const end = prefixEnd(key)
  assert.equal(key.toString(), 'user/')
  assert.equal(new TextDecoder().decode(end), 'user0')
})

test('binary strings order exactly as bytes do and round-trip', () => {
  const samples = ['', 'a', 'ab', 'b', '\u00ff', 'é', 'z\u0000'].map((s) => toBytes(s))
  for (const a of samples) {
    assert.deepEqual(fromBinaryString(toBinaryString(a)), a)
    for (const b of samples) {
      const byBytes = Math.sign(compareBytes(a, b))
      const x = toBinaryString(a)
      const y = toBinaryString(b)
      assert.equal(x < y ? -1 : x > y ? 1 : 0, byBytes)
    }
  }
})

test('toBinaryString maps each byte to one code unit, at every length and for views at any offset', () => {
  // the short path (a plain array of the bytes), the one-call path and the chunked one (> 8 KiB)
  for (const len of [0, 1, 16, 63, 64, 65, 256, 8192, 8193, 20000]) {
    const backing = new Uint8Array(len + 7)
    for (let i = 0; i < backing.length; i++) backing[i] = (i * 131 + 17) & 0xff
    const view = backing.subarray(3, 3 + len)
    const s = toBinaryString(view)
    assert.equal(s.length, len)
    for (let i = 0; i < len; i++) if (s.charCodeAt(i) !== view[i]) assert.fail(`length ${len}: code unit ${i} is ${s.charCodeAt(i)}, byte ${view[i]}`)
    assert.deepEqual(fromBinaryString(s), new Uint8Array(view))
  }
  const all = Uint8Array.from({ length: 256 }, (_, i) => i)
  for (let at = 0; at < 256; at += 32) assert.deepEqual([...toBinaryString(all.subarray(at, at + 32))].map((c) => c.charCodeAt(0)), [...all.subarray(at, at + 32)])
  assert.equal(toBinaryString(Buffer.from([0x80, 0x9f, 0xff])), '\u0080\u009f\u00ff')
})

test('copyInto copies a range to an offset, short (by hand) and long (set) alike, and nothing around it', () => {
  for (const len of [0, 1, 24, 25, 100]) {
    const src = Uint8Array.from({ length: len + 10 }, (_, i) => (i * 7 + 1) & 0xff)
    const dst = new Uint8Array(len + 6).fill(0xee)
    copyInto(dst, 3, src, 5, len)
    assert.deepEqual([...dst.subarray(3, 3 + len)], [...src.subarray(5, 5 + len)], `${len} bytes`)
    assert.deepEqual([...dst.subarray(0, 3), ...dst.subarray(3 + len)], Array(6).fill(0xee), `${len} bytes: outside the range untouched`)
  }
})
