import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { ClassicLevel } from 'classic-level'
import { MemoryLevel } from 'memory-level'
import { Backend } from '../../src/mvcc/backend.js'

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
