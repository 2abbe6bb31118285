import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { ClassicLevel } from 'classic-level'
import { MemoryLevel } from 'memory-level'
import type { Bucket, Database } from '../../src/mvcc/backend.js'
import { Backend, decodeInt64, encodeInt64, writeBuckets } from '../../src/mvcc/backend.js'
import { decodeKeyValue, encodeKeyValue } from '../../src/mvcc/kv-codec.js'
import { encodeRevision } from '../../src/mvcc/revision.js'
import { mulberry32 } from '../raft/prng.js'

const u8 = (...xs: number[]): Uint8Array => new Uint8Array(xs)
/** memory-level hands out Buffers for 'view'; compare as plain Uint8Arrays. */
const plain = (xs: Uint8Array[]): Uint8Array[] => xs.map((x) => new Uint8Array(x))

describe('Backend', () => {
  it('keeps buckets apart, in byte order, and writes across them in one batch', async () => {
    const db = new MemoryLevel()
    const be = await Backend.open(db)
    const lease = be.sublevel('lease')
    assert.equal(be.sublevel('lease'), lease, 'one object per bucket name')
    await be.write([
      { type: 'put', bucket: be.key, key: u8(2), value: u8(20) },
      { type: 'put', bucket: be.key, key: u8(1, 255), value: u8(10) },
      { type: 'put', bucket: lease, key: u8(1), value: u8(99) },
      be.metaPut('consistentIndex', 12),
      be.metaPut('finishedCompactRevision', -1),
    ])
    assert.deepEqual(plain(await be.key.keys().all()), [u8(1, 255), u8(2)])
    assert.deepEqual(plain(await lease.values().all()), [u8(99)])
    assert.equal(await be.getMeta('consistentIndex'), 12)
    assert.equal(await be.getMeta('finishedCompactRevision'), -1)
    assert.equal(await be.getMeta('currentRevision'), undefined)
    await be.write([{ type: 'del', bucket: be.key, key: u8(2) }])
    assert.deepEqual(plain(await be.key.keys().all()), [u8(1, 255)])
    assert.equal(await be.size(), undefined, 'memory-level has no size estimate')
    await db.close()
  })

  it('estimates its size on classic-level', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pocket-etcd-backend-'))
    const db = new ClassicLevel(dir)
    const be = await Backend.open(db)
    await be.write([{ type: 'put', bucket: be.key, key: u8(1), value: new Uint8Array(1000) }])
    assert.equal(typeof (await be.size()), 'number')
    await db.close()
    await rm(dir, { recursive: true, force: true })
  })
})

/** The codec the int64 functions replaced: DataView through BigInt. */
const bigEncode = (n: number): Uint8Array => {
  const out = new Uint8Array(8)
  new DataView(out.buffer).setBigInt64(0, BigInt(n))
  return out
}
const bigDecode = (b: Uint8Array): number => Number(new DataView(b.buffer, b.byteOffset, 8).getBigInt64(0))
const bigEncodeUnsigned = (n: number): Uint8Array => {
  const out = new Uint8Array(8)
  new DataView(out.buffer).setBigUint64(0, BigInt(n))
  return out
}

describe('int64 codec (meta values, Raft log keys)', () => {
  it('writes and reads the same bytes as the BigInt DataView codec, edge and seeded random values', (t) => {
    const seed = Number(process.env.INT64_SEED ?? Date.now() % 1_000_000)
    t.diagnostic(`INT64_SEED=${seed}`)
    const edges: number[] = []
    for (const e of [0, 1, 2 ** 31, 2 ** 32, 2 ** 52, Number.MAX_SAFE_INTEGER]) {
      for (const d of [-1, 0, 1]) {
        const v = e + d
        if (Number.isSafeInteger(v)) edges.push(v, 0 - v)
      }
    }
    const next = mulberry32(seed)
    const random: number[] = []
    for (let i = 0; i < 20000; i++) {
      // magnitudes spread over every bit length up to 53
      const bits = Math.floor(next() * 54)
      const v = Math.floor(next() * 2 ** bits)
      random.push(next() < 0.5 ? 0 - v : v)
    }
    try {
      for (const n of [...edges, ...random]) {
        const want = bigEncode(n)
        assert.deepEqual(encodeInt64(n), want, `encode ${n}`)
        assert.equal(decodeInt64(want), n, `decode ${n}`)
        assert.equal(decodeInt64(want), bigDecode(want))
        if (n >= 0) assert.deepEqual(encodeInt64(n), bigEncodeUnsigned(n), `unsigned (raft index key) ${n}`)
      }
      // any 8 bytes decode like Number(getBigInt64), including beyond the safe range
      for (let i = 0; i < 2000; i++) {
        const b = new Uint8Array(8).map(() => Math.floor(next() * 256))
        assert.equal(decodeInt64(b), bigDecode(b), `decode ${b.join(',')}`)
      }
    } catch (err) {
      console.error(`int64 codec failed; replay: INT64_SEED=${seed} node scripts/test.mjs test/mvcc/backend`)
      throw err
    }
    // a view into a larger buffer, as databases hand values back
    const big = new Uint8Array(20)
    big.set(bigEncode(-(2 ** 40) - 7), 5)
    assert.equal(decodeInt64(big.subarray(5, 13)), -(2 ** 40) - 7)
    assert.throws(() => encodeInt64(2 ** 53), /not a safe integer/)
    assert.throws(() => encodeInt64(1.5), /not a safe integer/)
  })
})

/** Every entry of the root database, keys and values as plain bytes. */
async function rawEntries(db: Database): Promise<Array<[string, string]>> {
  const out: Array<[string, string]> = []
  for await (const [k, v] of db.iterator({ keyEncoding: 'view', valueEncoding: 'view' })) {
    out.push([Buffer.from(k as Uint8Array).toString('hex'), Buffer.from(v as Uint8Array).toString('hex')])
  }
  return out
}

describe('writeBuckets', () => {
  const cases: Array<{ name: string; open: () => Promise<{ root: Database; db: Database }> }> = [
    ...(['buffer', 'view'] as const).map((storeEncoding) => ({
      name: `a memory-level with storeEncoding ${storeEncoding} (keys prefixed for the root)`,
      open: async () => {
        const root = new MemoryLevel({ storeEncoding, keyEncoding: 'view', valueEncoding: 'view' }) as unknown as Database
        await root.open()
        return { root, db: root }
      },
    })),
    {
      // the fallback: buckets of a database that is itself a sublevel belong to another root
      name: 'a database that is itself a sublevel of another (sublevel ops fallback)',
      open: async () => {
        const root = new MemoryLevel() as unknown as Database
        await root.open()
        const db = root.sublevel<Uint8Array, Uint8Array>('member', { keyEncoding: 'view', valueEncoding: 'view' }) as unknown as Database
        return { root, db }
      },
    },
  ]
  for (const c of cases) {
    it(`stores exactly what sublevel batches store, readable through the buckets: ${c.name}`, async () => {
      const { root: rootA, db: a } = await c.open()
      const { root: rootB, db: b } = await c.open()
      const bucketsOf = (db: Database): Bucket[] =>
        ['key', 'meta', 'raft-log', 'a'].map((n) => db.sublevel<Uint8Array, Uint8Array>(n, { keyEncoding: 'view', valueEncoding: 'view' }) as Bucket)
      const [ka, ma, ra, xa] = bucketsOf(a) as [Bucket, Bucket, Bucket, Bucket]
      const [kb, mb, rb, xb] = bucketsOf(b) as [Bucket, Bucket, Bucket, Bucket]
      // a nested bucket too: its prefix is the whole path
      const na = xa.sublevel<Uint8Array, Uint8Array>('nested', { keyEncoding: 'view', valueEncoding: 'view' }) as unknown as Bucket
      const nb = xb.sublevel<Uint8Array, Uint8Array>('nested', { keyEncoding: 'view', valueEncoding: 'view' }) as unknown as Bucket
      // a Buffer value and a value that is a view into a larger buffer
      const shared = u8(9, 8, 7, 6, 5)
      const rounds = (k: Bucket, m: Bucket, r: Bucket, n: Bucket) => [
        [
          { type: 'put' as const, bucket: k, key: u8(0, 0, 0, 2), value: u8(20) },
          { type: 'put' as const, bucket: k, key: u8(0, 0, 0, 1, 255), value: shared.subarray(1, 3) },
          { type: 'put' as const, bucket: m, key: new TextEncoder().encode('currentRevision'), value: encodeInt64(-3) },
          { type: 'put' as const, bucket: r, key: encodeInt64(7), value: Buffer.from([1, 2, 3]) },
          { type: 'put' as const, bucket: n, key: u8(1), value: u8() },
        ],
        [
          { type: 'del' as const, bucket: k, key: u8(0, 0, 0, 2) },
          { type: 'put' as const, bucket: m, key: new TextEncoder().encode('currentRevision'), value: encodeInt64(4) },
          { type: 'del' as const, bucket: r, key: encodeInt64(8) }, // absent: a no-op
        ],
      ]
      for (const ops of rounds(ka, ma, ra, na)) await writeBuckets(a, ops)
      for (const ops of rounds(kb, mb, rb, nb)) await b.batch(ops.map(({ bucket, ...op }) => ({ ...op, sublevel: bucket })) as never)
      assert.deepEqual(await rawEntries(rootA), await rawEntries(rootB), 'the same bytes under the same root keys')
      assert.equal((await rawEntries(rootA)).length, 4)

      assert.deepEqual(plain(await ka.keys().all()), [u8(0, 0, 0, 1, 255)])
      assert.deepEqual(plain([(await ka.get(u8(0, 0, 0, 1, 255)))!]), [u8(8, 7)])
      assert.equal(await ka.get(u8(0, 0, 0, 2)), undefined)
      assert.equal(decodeInt64((await ma.get(new TextEncoder().encode('currentRevision')))!), 4)
      assert.deepEqual(plain(await ra.values().all()), [u8(1, 2, 3)])
      assert.deepEqual(plain(await na.keys().all()), [u8(1)])
      await writeBuckets(a, [])
      await rootA.close()
      await rootB.close()
    })
  }

  for (const c of cases) {
    it(`recordPut stores what a put of the encoded revision and record stores, and hands back that record: ${c.name}`, async () => {
      const { root: rootA, db: a } = await c.open()
      const { root: rootB, db: b } = await c.open()
      const ba = await Backend.open(a)
      const bb = await Backend.open(b)
      const kvs = [
        { key: u8(1, 2), value: u8(3, 4, 5), createRevision: 2, modRevision: 2, version: 1, lease: '0' },
        { key: u8(1, 2), value: u8(), createRevision: 2, modRevision: 300, version: 2 ** 40, lease: '7587' },
      ]
      const revs = [{ main: 2, sub: 0 }, { main: 300, sub: 5 }]
      const puts = kvs.map((kv, i) => ba.recordPut(revs[i]!, kv))
      await ba.write(puts.map((p) => p.op))
      await bb.write(kvs.map((kv, i) => ({ type: 'put' as const, bucket: bb.key, key: encodeRevision(revs[i]!), value: encodeKeyValue(kv) })))
      assert.deepEqual(await rawEntries(rootA), await rawEntries(rootB), 'the same bytes under the same root keys')
      for (let i = 0; i < kvs.length; i++) {
        assert.deepEqual(decodeKeyValue(puts[i]!.record), kvs[i])
        assert.deepEqual(plain([(await ba.key.get(encodeRevision(revs[i]!)))!]), [new Uint8Array(puts[i]!.record)])
      }
      await rootA.close()
      await rootB.close()
    })
  }

  it('recordPut lays the root key and the record out in one array the database keeps (memory-level, view store)', async () => {
    const root = new MemoryLevel({ storeEncoding: 'view', keyEncoding: 'view', valueEncoding: 'view' }) as unknown as Database
    const be = await Backend.open(root)
    const kv = { key: u8(9), value: u8(8), createRevision: 4, modRevision: 4, version: 1, lease: '0' }
    const { op, record } = be.recordPut({ main: 4, sub: 0 }, kv)
    await be.write([op])
    for await (const [k, v] of root.iterator({ keyEncoding: 'view', valueEncoding: 'view' })) {
      assert.equal((k as Uint8Array).buffer, record.buffer, 'the stored key is a view of the same array as the record')
      assert.equal(v, record, 'the stored value is the record itself')
    }
    assert.deepEqual(decodeKeyValue(be.getRecordSync({ main: 4, sub: 0 })!), kv)
    await root.close()
  })

  it('goes through a Backend on classic-level and reads back after reopening', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pocket-etcd-backend-'))
    try {
      let db = new ClassicLevel<Uint8Array, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view' }) as unknown as Database
      let be = await Backend.open(db)
      await be.write([{ type: 'put', bucket: be.key, key: u8(1, 2), value: u8(3) }, be.metaPut('currentRevision', 2 ** 40 + 5)])
      await db.close()
      db = new ClassicLevel<Uint8Array, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view' }) as unknown as Database
      be = await Backend.open(db)
      assert.deepEqual(plain(await be.key.values().all()), [u8(3)])
      assert.equal(await be.getMeta('currentRevision'), 2 ** 40 + 5)
      await db.close()
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
