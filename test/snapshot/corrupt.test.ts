/**
 * A damaged image is refused before anything is created (etcdctl snapshot restore checks the
 * appended sha256 first): bad magic, unknown format version, checksum mismatch, truncation at
 * any point, and records that do not decode even under a valid checksum. No backend database
 * is asked for, and with a dataDir no directory is left behind.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Store } from '../../src/store.js'
import { concat, decodeSnapshot, sha256 } from '../../src/snapshot/image.js'
import { snapshotStatus } from '../../src/snapshot/snapshot.js'
import { openManual, rejectsWith } from '../store/helpers.js'

let root: string
let image: Uint8Array
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'pocket-etcd-corrupt-'))
  const store = await openManual({ seed: 21 })
  try {
    for (let i = 0; i < 20; i++) await store.kv.put({ key: `k/${i}`, value: `value ${i}` })
    const l = await store.lease.grant({ ttl: 30 })
    await store.kv.put({ key: 'leased', value: 'v', lease: l.id })
    image = await store.maintenance.snapshot().bytes()
  } finally {
    await store.close()
  }
})
after(async () => {
  await rm(root, { recursive: true, force: true })
})

/** `body` (an image without its trailer) closed with a correct sha256. */
async function resealed(body: Uint8Array): Promise<Uint8Array> {
  return concat([body, await sha256(body)])
}

function flip(b: Uint8Array, at: number): Uint8Array {
  const out = b.slice()
  out[at] = out[at]! ^ 0x5a
  return out
}

const headerLen = (): number => new DataView(image.buffer, image.byteOffset).getUint32(12)
const firstRecord = (): number => 16 + headerLen()

const cases: { name: string; make: () => Promise<Uint8Array> | Uint8Array; message: RegExp }[] = [
  { name: 'empty', make: () => new Uint8Array(0), message: /truncated/ },
  { name: 'bad magic', make: () => flip(image, 0), message: /bad magic number/ },
  { name: 'not an image at all', make: () => new TextEncoder().encode('SQLite format 3\0 and then some more bytes for the length'), message: /bad magic number/ },
  {
    name: 'unknown format version',
    make: () => {
      const b = image.slice()
      new DataView(b.buffer).setUint32(8, 2)
      return b
    },
    message: /unsupported format version 2/,
  },
  { name: 'a value byte flipped', make: () => flip(image, Math.floor(image.length / 2)), message: /expected sha256 [0-9a-f]{64}, got [0-9a-f]{64}/ },
  { name: 'the checksum flipped', make: () => flip(image, image.length - 1), message: /expected sha256/ },
  { name: 'truncated inside the header', make: () => image.subarray(0, 20), message: /snapshot missing hash|truncated/ },
  { name: 'truncated after the header', make: () => image.subarray(0, firstRecord() + 3), message: /expected sha256/ },
  { name: 'truncated by one byte', make: () => image.subarray(0, image.length - 1), message: /expected sha256/ },
  { name: 'hash stripped', make: () => image.subarray(0, image.length - 32), message: /expected sha256/ },
  { name: 'extra bytes appended', make: () => concat([image, new Uint8Array([1, 2, 3])]), message: /expected sha256/ },
  { name: 'resealed: a record cut short', make: () => resealed(image.subarray(0, firstRecord() + 9)), message: /short read/ },
  { name: 'resealed: an unknown record tag', make: () => resealed(flip(image.subarray(0, image.length - 32), firstRecord())), message: /undecodable record 0: unknown tag/ },
  {
    name: 'resealed: a record length past the end',
    make: () => {
      const body = image.slice(0, image.length - 32)
      new DataView(body.buffer).setUint32(firstRecord() + 3 + body[firstRecord() + 2]!, 0xffffff)
      return resealed(body)
    },
    message: /short read/,
  },
  { name: 'resealed: header JSON damaged', make: () => resealed(flip(image.subarray(0, image.length - 32), 17)), message: /undecodable header/ },
  {
    name: 'resealed: record count wrong',
    make: () => {
      const body = image.slice(0, image.length - 32)
      new DataView(body.buffer).setUint32(body.length - 4, 1)
      return resealed(body)
    },
    message: /end marker counts 1 records/,
  },
]

describe('corrupt snapshot images', () => {
  it('the intact image decodes', async () => {
    const d = await decodeSnapshot(image)
    assert.ok(d.records.length > 20)
    assert.equal((await snapshotStatus(image)).totalKey, d.records.length)
  })

  for (const c of cases) {
    it(`refuses ${c.name}, creating nothing`, async () => {
      const bad = await c.make()
      const e1 = await rejectsWith(snapshotStatus(bad), ['ErrSnapshotCorrupt'], c.name)
      assert.match(e1.message, /^pocket-etcd: snapshot image is corrupt: /)
      assert.match(e1.message, c.message)
      assert.equal(e1.grpcCode, 'DataLoss')

      let asked = 0
      await rejectsWith(Store.restore(bad, { clock: 'manual', backend: () => { asked++; throw new Error('no database may be created') } }), ['ErrSnapshotCorrupt'], `${c.name} (backend)`)
      assert.equal(asked, 0, 'no backend database was asked for')

      const dir = join(root, c.name.replace(/[^a-z]+/g, '-'))
      await rejectsWith(Store.restore(bad, { clock: 'manual', dataDir: dir }), ['ErrSnapshotCorrupt'], `${c.name} (dataDir)`)
      await assert.rejects(stat(dir), { code: 'ENOENT' }, 'no directory was created')
    })
  }

  it('a chunked image is checked like a whole one', async () => {
    const chunks = [image.subarray(0, 10), image.subarray(10, 100), image.subarray(100, image.length - 5)]
    await rejectsWith(Store.restore(chunks, { clock: 'manual' }), ['ErrSnapshotCorrupt'])
    const whole = await Store.restore([...chunks, image.subarray(image.length - 5)], { clock: 'manual', members: 1 })
    try {
      assert.equal((await whole.kv.range({ key: 'k/', rangeEnd: 'k0' })).count, 20)
    } finally {
      await whole.close()
    }
  })

  it('a restore into an existing dataDir whose member directory is in use fails without touching it', async () => {
    const dir = join(root, 'in-use')
    const store = await Store.open({ clock: 'manual', members: 1, dataDir: dir })
    await store.close()
    const listing = await readdir(join(dir, 'm1'))
    await rejectsWith(Store.restore(image, { clock: 'manual', members: 3, dataDir: dir }), ['ErrDataDirNotEmpty'])
    assert.deepEqual(await readdir(dir), ['m1'], 'no m2/m3 left behind')
    assert.deepEqual(await readdir(join(dir, 'm1')), listing)
  })
})
