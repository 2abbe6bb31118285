/**
 * A member's persisted Raft state: what `RaftStorage.save` writes, `RaftStorage.open`
 * loads back (entries, hard state, snapshot), including a leader overwriting our tail and
 * a received snapshot replacing the log; and the record codec's byte round trip.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { MemoryLevel } from 'memory-level'
import { RaftStorage } from '../../src/member/raft-storage.js'
import { decodeRecord, encodeRecord } from '../../src/member/record-codec.js'
import type { Entry } from '../../src/raft/index.js'

function ent(index: number, term: number, data = `e${index}`): Entry {
  return { index, term, type: 'Normal', data: new TextEncoder().encode(data) }
}

function newDb() {
  return new MemoryLevel<Uint8Array, Uint8Array>({ keyEncoding: 'view', valueEncoding: 'view' })
}

describe('RaftStorage', () => {
  it('loads back entries and hard state; a fresh database says so', async () => {
    const db = newDb()
    const a = await RaftStorage.open(db)
    assert.equal(a.fresh, true)
    await a.storage.save({ entries: [ent(1, 1), ent(2, 1), ent(3, 2)], hardState: { term: 2, vote: '7', commit: 2 } })
    const b = await RaftStorage.open(db)
    assert.equal(b.fresh, false)
    assert.equal(b.memory.lastIndex(), 3)
    assert.equal(b.memory.term(3), 2)
    assert.deepEqual(b.memory.initialState().hardState, { term: 2, vote: '7', commit: 2 })
    assert.deepEqual(b.memory.entries(1, 4, Infinity).map((e) => new TextDecoder().decode(e.data)), ['e1', 'e2', 'e3'])
    await db.close()
  })

  it('entries from a new leader replace the persisted tail from their first index', async () => {
    const db = newDb()
    const a = await RaftStorage.open(db)
    await a.storage.save({ entries: [1, 2, 3, 4, 5].map((i) => ent(i, 1)) })
    await a.storage.save({ entries: [ent(3, 2, 'x3')] })
    const b = await RaftStorage.open(db)
    assert.equal(b.memory.lastIndex(), 3, 'entries 4 and 5 of the old term are gone')
    assert.equal(new TextDecoder().decode(b.memory.entries(3, 4, Infinity)[0]!.data), 'x3')
    await db.close()
  })

  it('a received snapshot replaces the log; later entries follow it', async () => {
    const db = newDb()
    const a = await RaftStorage.open(db)
    await a.storage.save({ entries: [1, 2, 3].map((i) => ent(i, 1)) })
    const confState = { voters: ['1', '2', '3'], learners: [] }
    await a.storage.save({ entries: [], snapshot: { metadata: { index: 10, term: 3, confState }, data: new Uint8Array() } })
    await a.storage.save({ entries: [ent(11, 3), ent(12, 3)] })
    const b = await RaftStorage.open(db)
    assert.equal(b.memory.firstIndex(), 11)
    assert.equal(b.memory.lastIndex(), 12)
    assert.deepEqual(b.confState, confState)
    await db.close()
  })

  it('compact keeps the snapshot metadata and the entries after compactTo', async () => {
    const db = newDb()
    const a = await RaftStorage.open(db)
    await a.storage.save({ entries: [1, 2, 3, 4, 5, 6].map((i) => ent(i, 1)) })
    await a.storage.compact({ index: 5, term: 1, confState: { voters: ['1'], learners: [] } }, 3)
    const b = await RaftStorage.open(db)
    assert.equal(b.memory.snapshot().metadata.index, 5)
    assert.equal(b.memory.lastIndex(), 6)
    await db.close()
  })

  it('keeps the log format: keys are the index as 8 big-endian bytes, and such logs load back', async () => {
    const bigKey = (i: number): Uint8Array => {
      const k = new Uint8Array(8)
      new DataView(k.buffer).setBigUint64(0, BigInt(i))
      return k
    }
    const db = newDb()
    const log = db.sublevel<Uint8Array, Uint8Array>('raft-log', { keyEncoding: 'view', valueEncoding: 'view' })
    // written as an earlier version did: term as a big-endian float64, a type byte, the data
    const old = (term: number, data: string): Uint8Array => {
      const d = new TextEncoder().encode(data)
      const v = new Uint8Array(9 + d.length)
      new DataView(v.buffer).setFloat64(0, term)
      v.set(d, 9)
      return v
    }
    const base = 2 ** 32 - 2 // indexes cross a 32-bit boundary
    const meta = db.sublevel<Uint8Array, Uint8Array>('raft-meta', { keyEncoding: 'view', valueEncoding: 'view' })
    await meta.put(new TextEncoder().encode('snapshot'), encodeRecord({ index: base, term: 1, confState: { voters: ['1'], learners: [] } }))
    await log.batch([1, 2, 3].map((d) => ({ type: 'put' as const, key: bigKey(base + d), value: old(1, `old${d}`) })))
    const a = await RaftStorage.open(db)
    assert.equal(a.memory.lastIndex(), base + 3)
    assert.deepEqual(a.memory.entries(base + 1, base + 4, Infinity).map((e) => new TextDecoder().decode(e.data)), ['old1', 'old2', 'old3'])
    await a.storage.save({ entries: [ent(base + 3, 2, 'new3'), ent(base + 4, 2, 'new4')] })
    const keys = (await log.keys().all()).map((k) => Buffer.from(k).toString('hex'))
    assert.deepEqual(keys, [1, 2, 3, 4].map((d) => Buffer.from(bigKey(base + d)).toString('hex')))
    const b = await RaftStorage.open(db)
    assert.deepEqual(b.memory.entries(base + 1, base + 5, Infinity).map((e) => new TextDecoder().decode(e.data)), ['old1', 'old2', 'new3', 'new4'])
    await db.close()
  })
})

describe('record codec', () => {
  it('round-trips bytes exactly, Node Buffers included', () => {
    const rec = { a: new Uint8Array([0, 255, 128]), b: Buffer.from([1, 2, 3]), nested: [{ c: Buffer.from('hi') }], n: 5, s: 'x' }
    const back = decodeRecord<typeof rec>(encodeRecord(rec))
    assert.ok(back.b instanceof Uint8Array, 'a Buffer comes back as bytes, not as {type, data}')
    assert.deepEqual([...back.a], [0, 255, 128])
    assert.deepEqual([...back.b], [1, 2, 3])
    assert.deepEqual([...back.nested[0]!.c], [104, 105])
    assert.equal(back.n, 5)
    assert.equal(back.s, 'x')
  })

  it('refuses an undecodable record as corruption', () => {
    assert.throws(() => decodeRecord(new Uint8Array([0xff, 0x00])), /invariant/)
  })
})
