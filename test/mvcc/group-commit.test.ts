// Group commit (etcd's batch transaction): writes ended inside beginBatch()/flush() are
// visible at once, stored together by flush(), and lost together if the process dies first.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { MemoryLevel } from 'memory-level'
import { KVStore } from '../../src/mvcc/index.js'

const enc = (s: string) => new TextEncoder().encode(s)
const dec = (b: Uint8Array) => new TextDecoder().decode(b)

async function storedRecords(db: MemoryLevel<Uint8Array, Uint8Array>): Promise<number> {
  let n = 0
  for await (const _ of db.sublevel('key', { keyEncoding: 'view', valueEncoding: 'view' }).keys()) n++
  return n
}

test('batched writes are readable before the flush and stored by it in one go', async () => {
  const db = new MemoryLevel<Uint8Array, Uint8Array>({ keyEncoding: 'view', valueEncoding: 'view' })
  const kv = await KVStore.open(db)
  kv.beginBatch()
  for (let i = 0; i < 10; i++) {
    const w = kv.write()
    w.put(enc(`k${i}`), enc(`v${i}`), '0')
    await w.end({ consistentIndex: i + 1 })
  }
  assert.equal(kv.rev, 11)
  assert.equal(kv.consistentIndex, 10)
  const r = await kv.range(enc('k'), enc('l'), {})
  assert.deepEqual(r.kvs.map((x) => dec(x.value)), Array.from({ length: 10 }, (_, i) => `v${i}`))
  // a txn inside the batch sees earlier batched writes and versions build on them
  const w = kv.write()
  w.put(enc('k0'), enc('again'), '0')
  await w.end({ consistentIndex: 11 })
  const k0 = (await kv.range(enc('k0'), undefined, {})).kvs[0]!
  assert.equal(k0.version, 2)
  assert.equal(await storedRecords(db), 0, 'nothing is stored before flush')
  await kv.flush()
  assert.equal(await storedRecords(db), 11)
  await kv.close()
  const reopened = await KVStore.open(db)
  assert.equal(reopened.rev, 12)
  assert.equal(reopened.consistentIndex, 11)
  assert.equal(dec((await reopened.range(enc('k0'), undefined, {})).kvs[0]!.value), 'again')
  await reopened.close()
  await db.close()
})

test('a crash before the flush loses the whole batch and nothing else', async () => {
  const db = new MemoryLevel<Uint8Array, Uint8Array>({ keyEncoding: 'view', valueEncoding: 'view' })
  const kv = await KVStore.open(db)
  const w0 = kv.write()
  w0.put(enc('a'), enc('stored'), '0')
  await w0.end({ consistentIndex: 1 })
  kv.beginBatch()
  const w1 = kv.write()
  w1.put(enc('a'), enc('buffered'), '0')
  await w1.end({ consistentIndex: 2 })
  // "crash": open a second store on the same database without flushing the first
  const after = await KVStore.open(db)
  assert.equal(after.rev, 2)
  assert.equal(after.consistentIndex, 1)
  assert.equal(dec((await after.range(enc('a'), undefined, {})).kvs[0]!.value), 'stored')
  await after.close()
  await db.close()
})

test('compaction and hashKV see buffered writes (they flush first)', async () => {
  const db = new MemoryLevel<Uint8Array, Uint8Array>({ keyEncoding: 'view', valueEncoding: 'view' })
  const kv = await KVStore.open(db)
  const plain = await KVStore.open(new MemoryLevel<Uint8Array, Uint8Array>({ keyEncoding: 'view', valueEncoding: 'view' }))
  for (const store of [kv, plain]) {
    if (store === kv) store.beginBatch()
    for (let i = 0; i < 5; i++) {
      const w = store.write()
      w.put(enc('x'), enc(`v${i}`), '0')
      await w.end()
    }
  }
  assert.equal((await kv.hashKV()).hash, (await plain.hashKV()).hash)
  await kv.compact(4)
  await plain.compact(4)
  assert.equal((await kv.hashKV()).hash, (await plain.hashKV()).hash)
  await kv.flush()
  await kv.close()
  await plain.close()
})

test('a flush stores each meta entry once, the last value written', async () => {
  const db = new MemoryLevel<Uint8Array, Uint8Array>({ keyEncoding: 'view', valueEncoding: 'view' })
  const kv = await KVStore.open(db)
  const meta = db.sublevel('meta', { keyEncoding: 'view', valueEncoding: 'view' })
  const metaPrefix = meta.prefixKey(new Uint8Array(0), 'view') as Uint8Array
  const writtenKeys: string[] = []
  db.on('write', (ops: { key: unknown; sublevel?: unknown }[]) => {
    for (const op of ops) {
      // the key as stored in the root, whether the batch came through the sublevel or not
      const full = op.sublevel ? (op.sublevel as typeof meta).prefixKey(op.key as Uint8Array, 'view') : op.key
      writtenKeys.push(new TextDecoder().decode(full as Uint8Array))
    }
  })
  kv.beginBatch()
  for (let i = 0; i < 10; i++) {
    const w = kv.write()
    w.put(enc(`k${i}`), enc(`v${i}`), '0')
    await w.end({ consistentIndex: 100 + i })
  }
  await kv.flush()
  const prefix = new TextDecoder().decode(metaPrefix)
  const metaWrites = writtenKeys.filter((k) => k.startsWith(prefix)).sort()
  assert.deepEqual(metaWrites, [`${prefix}consistentIndex`, `${prefix}currentRevision`])
  assert.equal(writtenKeys.length - metaWrites.length, 10, 'every record is stored')
  await kv.close()
  const reopened = await KVStore.open(db)
  assert.equal(reopened.rev, 11)
  assert.equal(reopened.consistentIndex, 109)
  await reopened.close()
  await db.close()
})

/** A memory-level whose batches wait, while `held`, until released one by one: a slow disk. */
function gatedLevel(): { db: MemoryLevel<Uint8Array, Uint8Array>; hold(on: boolean): void; releaseOne(): void } {
  const db = new MemoryLevel<Uint8Array, Uint8Array>({ keyEncoding: 'view', valueEncoding: 'view' })
  // abstract-level's private batch hook (what every batch reaches), wrapped on this instance
  const impl = db as unknown as { _batch(...args: unknown[]): Promise<void> }
  const inner = impl._batch.bind(db)
  let held = false
  const waiting: (() => void)[] = []
  impl._batch = async (...args: unknown[]): Promise<void> => {
    if (held) await new Promise<void>((go) => waiting.push(go))
    return inner(...args)
  }
  return { db, hold: (on) => (held = on), releaseOne: () => waiting.shift()?.() }
}

test('overlapping flushes: every buffered record stays readable until stored, at every revision', async () => {
  const gate = gatedLevel()
  const db = gate.db
  const kv = await KVStore.open(db)
  const write = async (key: string, value: string, index: number): Promise<void> => {
    const w = kv.write()
    w.put(enc(key), enc(value), '0')
    await w.end({ consistentIndex: index })
  }
  const valueAt = async (key: string, rev: number): Promise<string | undefined> => {
    const r = await kv.range(enc(key), undefined, { rev })
    return r.kvs[0] === undefined ? undefined : dec(r.kvs[0].value)
  }
  kv.beginBatch()
  await write('a', 'a1', 1) // rev 2
  await write('a', 'a2', 2) // rev 3
  gate.hold(true)
  const first = kv.flush() // still under way while the next batch is written and flushed
  kv.beginBatch()
  await write('a', 'a3', 3) // rev 4
  await write('a', 'b1', 4) // rev 5
  assert.deepEqual([await valueAt('a', 2), await valueAt('a', 3), await valueAt('a', 4), await valueAt('a', 5)], ['a1', 'a2', 'a3', 'b1'])
  const second = kv.flush()
  // the first flush ends while the second is under way: the second's records (a3 is not a's
  // current value, so only the buffer or the backend has it) must still be found
  gate.releaseOne()
  await first
  assert.deepEqual([await valueAt('a', 2), await valueAt('a', 3), await valueAt('a', 4)], ['a1', 'a2', 'a3'])
  gate.hold(false)
  gate.releaseOne()
  await second
  assert.deepEqual([await valueAt('a', 2), await valueAt('a', 3), await valueAt('a', 4), await valueAt('a', 5)], ['a1', 'a2', 'a3', 'b1'])
  assert.equal(await storedRecords(db), 4)
  // a batch begun after both flushes ended stays buffered until its own flush
  kv.beginBatch()
  await write('a', 'a4', 5) // rev 6
  await write('a', 'a5', 6) // rev 7
  assert.equal(await valueAt('a', 6), 'a4')
  await kv.flush()
  await kv.close()
  const reopened = await KVStore.open(db)
  for (const [rev, want] of [[2, 'a1'], [3, 'a2'], [4, 'a3'], [5, 'b1'], [6, 'a4'], [7, 'a5']] as const) {
    const r = await reopened.range(enc('a'), undefined, { rev })
    assert.equal(dec(r.kvs[0]!.value), want, `a at ${rev}`)
  }
  await reopened.close()
  await db.close()
})

test('a batch whose writes change no key still stores the consistent index at its flush', async () => {
  const db = new MemoryLevel<Uint8Array, Uint8Array>({ keyEncoding: 'view', valueEncoding: 'view' })
  const kv = await KVStore.open(db)
  const w0 = kv.write()
  w0.put(enc('a'), enc('1'), '0')
  await w0.end({ consistentIndex: 1 })
  kv.beginBatch()
  kv.write().endBuffered({ consistentIndex: 2 })
  await kv.write().end({ consistentIndex: 3 })
  assert.equal(kv.consistentIndex, 3)
  await kv.flush()
  await kv.close()
  const reopened = await KVStore.open(db)
  assert.equal(reopened.consistentIndex, 3)
  assert.equal(reopened.rev, 2, 'no write changed a key: the revision stays')
  await reopened.close()
  await db.close()
})

test('endBuffered ends a write at once inside a batch, and outside one refuses, changing nothing', async () => {
  const db = new MemoryLevel<Uint8Array, Uint8Array>({ keyEncoding: 'view', valueEncoding: 'view' })
  const kv = await KVStore.open(db)
  const w = kv.write()
  w.put(enc('a'), enc('1'), '0')
  assert.throws(() => w.endBuffered({ consistentIndex: 1 }), /outside group commit/)
  assert.equal(kv.rev, 1)
  assert.equal(kv.consistentIndex, 0)
  await w.end({ consistentIndex: 1 }) // the write is still open and ends normally
  assert.equal(kv.rev, 2)
  kv.beginBatch()
  const b = kv.write()
  b.put(enc('b'), enc('2'), '0')
  b.endBuffered({ consistentIndex: 2 })
  assert.equal(kv.rev, 3, 'visible on return')
  assert.equal(dec((await kv.range(enc('b'), undefined, {})).kvs[0]!.value), '2')
  assert.equal(await storedRecords(db), 1, 'stored only by the flush')
  await kv.flush()
  assert.equal(await storedRecords(db), 2)
  await kv.close()
  await db.close()
})
