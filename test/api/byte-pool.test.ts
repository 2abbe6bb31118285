import { test } from 'node:test'
import assert from 'node:assert/strict'
import { SlabPool, allocBytes, copyBytes } from '../../src/api/byte-pool.js'
import { Random } from '../../src/sim/random.js'

test('allocBytes: zero-filled arrays of the length asked, never sharing bytes with one another', () => {
  const seed = 7_301
  const rnd = new Random(seed)
  const arrays: Uint8Array[] = []
  // enough to fill many slabs, with lengths on both sides of every threshold
  for (let i = 0; i < 3_000; i++) {
    const length = [0, 1, 64, 65, 100, 1024, 1025, 5000][rnd.int(8)]! + (rnd.int(4) === 0 ? rnd.int(300) : 0)
    const a = allocBytes(length)
    assert.equal(a.length, length, `seed ${seed}`)
    assert.ok(a.every((b) => b === 0), `seed ${seed}: array ${i} is not zero-filled`)
    a.fill(i % 251)
    arrays.push(a)
  }
  arrays.forEach((a, i) => assert.ok(a.every((b) => b === i % 251), `seed ${seed}: array ${i} was overwritten by a later one`))
})

test('allocBytes: short and long arrays are their own; mid-sized ones are views of shared slabs', () => {
  for (const length of [0, 10, 64, 1025, 20_000]) {
    const a = allocBytes(length)
    assert.equal(a.byteOffset, 0)
    assert.equal(a.buffer.byteLength, length, `${length} bytes`)
  }
  const a = allocBytes(100)
  const b = allocBytes(100)
  assert.equal(a.buffer, b.buffer, 'consecutive mid-sized arrays share a slab')
  assert.equal(b.byteOffset, a.byteOffset + 100)
})

test('copyBytes copies a range of its source; the copy and the source are independent', () => {
  const src = Uint8Array.from({ length: 300 }, (_, i) => i & 0xff)
  const c = copyBytes(src, 50, 200)
  assert.deepEqual([...c], [...src.subarray(50, 250)])
  c.fill(0)
  assert.equal(src[50], 50)
  src.fill(1)
  const d = copyBytes(src, 0, 10)
  assert.deepEqual([...d], Array(10).fill(1))
})

test('a pooled array sent to a worker with its buffer in the transfer list is copied; the shared slab stays usable', async () => {
  const { MessageChannel } = await import('node:worker_threads')
  const a = allocBytes(100)
  const b = allocBytes(100)
  a.fill(1)
  b.fill(2)
  const { port1, port2 } = new MessageChannel()
  try {
    const got = new Promise<Uint8Array>((resolve) => port2.once('message', resolve))
    port1.postMessage(a, [a.buffer as ArrayBuffer])
    assert.deepEqual([...(await got)], Array(100).fill(1))
    assert.equal(a.length, 100, 'the sender keeps its array')
    assert.deepEqual([...b], Array(100).fill(2), 'arrays sharing its slab are intact')
    const c = allocBytes(100)
    assert.equal(c.length, 100)
    assert.ok(c.every((x) => x === 0))
  } finally {
    port1.close()
    port2.close()
  }
})

test('SlabPool: its own slabs of the size given; arrays outside 65..maxPooled bytes are their own', () => {
  const pool = new SlabPool(4096, 1024)
  const a = pool.alloc(1000)
  const b = pool.alloc(1000)
  assert.equal(a.buffer, b.buffer)
  assert.equal(a.buffer.byteLength, 4096)
  assert.notEqual(a.buffer, allocBytes(1000).buffer, 'a pool never shares slabs with another')
  pool.alloc(1000)
  pool.alloc(1000)
  const e = pool.alloc(100)
  assert.notEqual(e.buffer, a.buffer, 'a slab with 96 bytes left starts a new one for 100')
  assert.equal(e.byteOffset, 0)
  for (const length of [0, 64, 1025]) assert.equal(pool.alloc(length).buffer.byteLength, length)
  assert.throws(() => new SlabPool(512, 1024), RangeError)
})
