/**
 * A member's persisted Raft state: what `RaftStorage.save` writes, `RaftStorage.open`
 * loads back (entries, hard state, snapshot), including a leader overwriting our tail and
 * a received snapshot replacing the log; and the record codec's byte round trip. The log is
 * one record per save (a chunk of entries keyed by its first index); logs written one
 * record per entry by earlier versions keep loading.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ClassicLevel } from 'classic-level'
import { MemoryLevel } from 'memory-level'
import type { Database } from '../../src/mvcc/backend.js'
import { RaftStorage } from '../../src/member/raft-storage.js'
import { decodeRecord, encodeRecord } from '../../src/member/record-codec.js'
import type { Entry, HardState, SnapshotMetadata } from '../../src/raft/index.js'
import { MemoryStorage } from '../../src/raft/index.js'
import { NemesisLevel } from '../../src/testing/index.js'
import { mulberry32 } from '../raft/prng.js'

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
    // the two new entries are one record, keyed by the first (base + 3 replaces the old one)
    const keys = (await log.keys().all()).map((k) => Buffer.from(k).toString('hex'))
    assert.deepEqual(keys, [1, 2, 3].map((d) => Buffer.from(bigKey(base + d)).toString('hex')))
    const b = await RaftStorage.open(db)
    assert.deepEqual(b.memory.entries(base + 1, base + 5, Infinity).map((e) => new TextDecoder().decode(e.data)), ['old1', 'old2', 'new3', 'new4'])
    await db.close()
  })
})

const text = (b: Uint8Array): string => new TextDecoder().decode(b)

/** Writes `term`, type and data as an earlier version did: one record per entry. */
function legacyValue(e: Entry): Uint8Array {
  const v = new Uint8Array(9 + e.data.length)
  new DataView(v.buffer).setFloat64(0, e.term)
  v[8] = e.type === 'ConfChange' ? 1 : 0
  v.set(e.data, 9)
  return v
}

function logBucket(db: Database) {
  return db.sublevel<Uint8Array, Uint8Array>('raft-log', { keyEncoding: 'view', valueEncoding: 'view' })
}

async function logKeys(db: Database): Promise<number[]> {
  return (await logBucket(db).keys().all()).map((k) => Number(new DataView(k.buffer, k.byteOffset, 8).getBigUint64(0)))
}

/** What the log, hard state and snapshot should load back as. */
interface Model {
  entries: Map<number, Entry>
  last: number
  commit: number
  term: number
  hardState?: HardState
  snapshot?: SnapshotMetadata
}

const summary = (e: Entry): string => `${e.index}/${e.term}/${e.type}/${Buffer.from(e.data).toString('hex')}`

async function expectLoads(db: Database, m: Model): Promise<RaftStorage> {
  const { storage, memory } = await RaftStorage.open(db)
  const snapIndex = m.snapshot?.index ?? 0
  assert.equal(memory.firstIndex(), snapIndex + 1, 'first index')
  assert.equal(memory.lastIndex(), m.last, 'last index')
  const got = m.last > snapIndex ? memory.entries(snapIndex + 1, m.last + 1, Infinity) : []
  const want: Entry[] = []
  for (let i = snapIndex + 1; i <= m.last; i++) want.push(m.entries.get(i)!)
  assert.deepEqual(got.map(summary), want.map(summary), 'entries')
  assert.deepEqual(memory.initialState().hardState, m.hardState ?? new MemoryStorage().initialState().hardState, 'hard state')
  if (m.snapshot !== undefined) assert.deepEqual(memory.snapshot().metadata, m.snapshot, 'snapshot metadata')
  return storage
}

/**
 * Random saves (appends, a new leader overwriting the uncommitted tail, hard states),
 * compactions and snapshot installs, starting from an empty or a legacy log; after every
 * step the database loads back exactly what the model holds.
 */
async function runSequence(seed: number, steps: number, db: Database, reopen?: () => Promise<Database>): Promise<void> {
  const rand = mulberry32(seed)
  const int = (n: number): number => Math.floor(rand() * n)
  const confState = { voters: ['1', '2', '3'], learners: [] }
  const m: Model = { entries: new Map(), last: 0, commit: 0, term: 1 }
  const entry = (index: number): Entry => {
    const len = rand() < 0.1 ? 130 + int(300) : int(12)
    const data = new Uint8Array(len)
    for (let i = 0; i < len; i++) data[i] = int(256)
    return { index, term: m.term, type: rand() < 0.1 ? 'ConfChange' : 'Normal', data }
  }
  if (rand() < 0.4) {
    // an earlier version's log: one record per entry, maybe behind a snapshot
    const n = 1 + int(20)
    const log = logBucket(db)
    for (let i = 1; i <= n; i++) {
      const e = entry(i)
      m.entries.set(i, e)
      await log.put(new Uint8Array(new BigUint64Array([0n]).buffer).map((_, j) => Number((BigInt(i) >> BigInt(8 * (7 - j))) & 255n)), legacyValue(e))
    }
    m.last = n
    m.commit = int(n + 1)
    m.hardState = { term: m.term, vote: '1', commit: m.commit }
    const meta = db.sublevel<Uint8Array, Uint8Array>('raft-meta', { keyEncoding: 'view', valueEncoding: 'view' })
    await meta.put(new TextEncoder().encode('hardState'), encodeRecord(m.hardState))
    if (rand() < 0.5 && m.commit > 0) {
      m.snapshot = { index: 1 + int(m.commit), term: 1, confState }
      await meta.put(new TextEncoder().encode('snapshot'), encodeRecord(m.snapshot))
    }
  }
  let storage = await expectLoads(db, m)
  for (let step = 0; step < steps; step++) {
    const snapIndex = m.snapshot?.index ?? 0
    const r = rand()
    let hs: HardState | undefined
    const advanceCommit = (): void => {
      m.commit = Math.min(m.last, m.commit + int(m.last - m.commit + 1))
      hs = { term: m.term, vote: '1', commit: m.commit }
    }
    if (r < 0.4) {
      const n = rand() < 0.1 ? 64 : 1 + int(8)
      const es = Array.from({ length: n }, (_, i) => entry(m.last + 1 + i))
      for (const e of es) m.entries.set(e.index, e)
      m.last += n
      if (rand() < 0.5) advanceCommit()
      await storage.save({ entries: es, ...(hs ? { hardState: hs } : {}) })
    } else if (r < 0.55 && m.last > Math.max(m.commit, snapIndex)) {
      // a new leader replaces the uncommitted tail from `first`
      const floor = Math.max(m.commit, snapIndex)
      const first = floor + 1 + int(m.last - floor)
      m.term++
      const es = Array.from({ length: 1 + int(6) }, (_, i) => entry(first + i))
      for (const e of es) m.entries.set(e.index, e)
      m.last = first + es.length - 1
      hs = { term: m.term, vote: '2', commit: m.commit }
      await storage.save({ entries: es, hardState: hs })
    } else if (r < 0.7) {
      advanceCommit()
      await storage.save({ entries: [], hardState: hs })
    } else if (r < 0.88 && m.commit > 0) {
      const index = Math.max(1, snapIndex + int(m.commit - snapIndex + 1))
      const compactTo = int(index + 1)
      const term = index === snapIndex ? (m.snapshot?.term ?? 0) : m.entries.get(index)!.term
      m.snapshot = { index, term, confState }
      await storage.compact(m.snapshot, compactTo)
    } else {
      // a snapshot from the leader, at or beyond our log, maybe with entries after it
      const index = m.commit + 1 + int(m.last - m.commit + 5)
      m.term += int(2)
      m.snapshot = { index, term: m.term, confState }
      m.entries.clear()
      m.last = index
      m.commit = index
      hs = { term: m.term, vote: '', commit: index }
      const es = rand() < 0.5 ? Array.from({ length: 1 + int(5) }, (_, i) => entry(index + 1 + i)) : []
      for (const e of es) m.entries.set(e.index, e)
      m.last += es.length
      await storage.save({ entries: es, hardState: hs, snapshot: { metadata: m.snapshot, data: new Uint8Array() } })
    }
    if (hs !== undefined) m.hardState = hs
    const reopened = reopen !== undefined && rand() < 0.1
    if (reopened) db = await reopen()
    const loaded = await expectLoads(db, m)
    if (reopened || rand() < 0.5) storage = loaded // go on with the storage rebuilt from disk
  }
}

async function withSeed(name: string, seed: number, run: () => Promise<void>): Promise<void> {
  try {
    await run()
  } catch (err) {
    console.error(`${name} failed at seed ${seed}; replay: RAFT_LOG_SEED=${seed} node scripts/test.mjs test/member/raft-storage`)
    throw err
  }
}

describe('RaftStorage: one record per save', () => {
  const base = Number(process.env.RAFT_LOG_SEED ?? Date.now() % 1_000_000)

  it('random saves, overwrites, compactions and snapshots load back as the model (memory-level)', async (t) => {
    t.diagnostic(`RAFT_LOG_SEED=${base}`)
    for (let s = 0; s < 40; s++) {
      const db = newDb()
      await withSeed('memory-level sequence', base + s, () => runSequence(base + s, 60, db))
      await db.close()
    }
  })

  it('random sequences load back as the model on classic-level, across real reopens', async (t) => {
    t.diagnostic(`RAFT_LOG_SEED=${base}`)
    for (let s = 0; s < 3; s++) {
      const dir = await mkdtemp(join(tmpdir(), 'pocket-etcd-raftlog-'))
      let db = new ClassicLevel<Uint8Array, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view' })
      try {
        await withSeed('classic-level sequence', base + s, () =>
          runSequence(base + s, 40, db, async () => {
            await db.close()
            db = new ClassicLevel<Uint8Array, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view' })
            return db
          }),
        )
      } finally {
        await db.close()
        await rm(dir, { recursive: true, force: true })
      }
    }
  })

  it('a legacy per-entry log loads, and keeps loading after chunk saves, an overwrite and a compaction', async () => {
    const db = newDb()
    const log = logBucket(db)
    const key = (i: number): Uint8Array => {
      const k = new Uint8Array(8)
      new DataView(k.buffer).setBigUint64(0, BigInt(i))
      return k
    }
    for (let i = 1; i <= 10; i++) await log.put(key(i), legacyValue({ ...ent(i, 1, `old${i}`), type: i === 2 ? 'ConfChange' : 'Normal' }))
    const a = await RaftStorage.open(db)
    assert.equal(a.fresh, false)
    assert.deepEqual(a.memory.entries(1, 11, Infinity).map((e) => `${e.term}:${e.type}:${text(e.data)}`), [
      '1:Normal:old1', '1:ConfChange:old2', ...[3, 4, 5, 6, 7, 8, 9, 10].map((i) => `1:Normal:old${i}`),
    ])
    await a.storage.save({ entries: [11, 12, 13].map((i) => ent(i, 1, `new${i}`)) })
    assert.deepEqual(await logKeys(db), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11])
    const b = await RaftStorage.open(db)
    assert.deepEqual(b.memory.entries(9, 14, Infinity).map((e) => text(e.data)), ['old9', 'old10', 'new11', 'new12', 'new13'])
    // a new leader overwrites from 8: legacy 8..10 and the chunk at 11 go
    await b.storage.save({ entries: [8, 9].map((i) => ent(i, 2, `t2-${i}`)), hardState: { term: 2, vote: '2', commit: 5 } })
    assert.deepEqual(await logKeys(db), [1, 2, 3, 4, 5, 6, 7, 8])
    const c = await RaftStorage.open(db)
    assert.equal(c.memory.lastIndex(), 9)
    assert.deepEqual(c.memory.entries(6, 10, Infinity).map((e) => text(e.data)), ['old6', 'old7', 't2-8', 't2-9'])
    await c.storage.compact({ index: 7, term: 1, confState: { voters: ['1'], learners: [] } }, 6)
    assert.deepEqual(await logKeys(db), [7, 8], 'legacy records 1..6 are wholly compacted')
    const d = await RaftStorage.open(db)
    assert.equal(d.memory.firstIndex(), 8)
    assert.deepEqual(d.memory.entries(8, 10, Infinity).map((e) => `${e.term}:${text(e.data)}`), ['2:t2-8', '2:t2-9'])
    await db.close()
  })

  it('saving 64 entries writes one record; compaction deletes exactly the wholly covered records', async () => {
    const db = newDb()
    const a = await RaftStorage.open(db)
    await a.storage.save({ entries: Array.from({ length: 64 }, (_, i) => ent(i + 1, 1)), hardState: { term: 1, vote: '1', commit: 10 } })
    assert.deepEqual(await logKeys(db), [1])
    assert.equal(a.storage.logRecords, 1)
    await a.storage.save({ entries: Array.from({ length: 16 }, (_, i) => ent(i + 65, 1)) })
    await a.storage.save({ entries: Array.from({ length: 20 }, (_, i) => ent(i + 81, 1)) })
    // a new leader overwrites from 70: the record at 65 keeps its stale tail 70..80, the one at 81 goes
    await a.storage.save({ entries: Array.from({ length: 30 }, (_, i) => ent(i + 70, 2, `t2-${i + 70}`)) })
    assert.deepEqual(await logKeys(db), [1, 65, 70])
    const meta = (index: number) => ({ index, term: 1, confState: { voters: ['1'], learners: [] } })
    await a.storage.compact(meta(68), 64) // record 1 (live 1..64) is wholly covered
    assert.deepEqual(await logKeys(db), [65, 70])
    await a.storage.compact(meta(68), 68) // record 65 (live 65..69) straddles 68: it stays
    assert.deepEqual(await logKeys(db), [65, 70])
    const b = await RaftStorage.open(db)
    assert.equal(b.memory.firstIndex(), 69)
    assert.deepEqual(b.memory.entries(69, 72, Infinity).map((e) => text(e.data)), ['e69', 't2-70', 't2-71'])
    assert.equal(b.memory.lastIndex(), 99)
    await b.storage.compact(meta(69), 69) // now it is covered (rebuilt record list)
    assert.deepEqual(await logKeys(db), [70])
    assert.equal(b.storage.logRecords, 1)
    await db.close()
  })

  it('the log held in memory and the stored record share one copy of the entry data (memory-level, view store)', async () => {
    const db = new MemoryLevel<Uint8Array, Uint8Array>({ storeEncoding: 'view', keyEncoding: 'view', valueEncoding: 'view' })
    const a = await RaftStorage.open(db)
    const entries = [ent(1, 1, 'first'), ent(2, 1, ''), ent(3, 2, 'x'.repeat(300))]
    const before = entries.map((e) => text(e.data))
    await a.storage.save({ entries, hardState: { term: 2, vote: '1', commit: 1 } })
    const [record] = await logBucket(db).values().all()
    assert.ok(record !== undefined)
    // the same bytes, now inside the stored record rather than a second copy of them
    assert.deepEqual(entries.map((e) => text(e.data)), before)
    for (const e of entries) assert.equal(e.data.buffer, record.buffer, `entry ${e.index} is a view of the stored record`)
    // loading back shares the stored record too, and reads the same entries
    const b = await RaftStorage.open(db)
    const loaded = b.memory.entries(1, 4, Infinity)
    assert.deepEqual(loaded.map((e) => `${e.term}:${text(e.data)}`), ['1:first', '1:', `2:${'x'.repeat(300)}`])
    for (const e of loaded) assert.equal(e.data.buffer, record.buffer)
    await db.close()
  })

  it('a torn write (the nemesis fault) stores a prefix of the entries of a one-record append', async () => {
    const db = new NemesisLevel()
    const a = await RaftStorage.open(db)
    await a.storage.save({ entries: [ent(1, 1)], hardState: { term: 1, vote: '1', commit: 1 } })
    db.inject('torn', 3)
    await assert.rejects(a.storage.save({ entries: [2, 3, 4, 5, 6].map((i) => ent(i, 1)) }), /torn/)
    const b = await RaftStorage.open(db)
    assert.deepEqual(b.memory.entries(1, b.memory.lastIndex() + 1, Infinity).map((e) => text(e.data)), ['e1', 'e2', 'e3', 'e4'])
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
