/**
 * A damaged classic-level directory. Documented behaviour: when LevelDB itself detects the
 * damage (a CURRENT or MANIFEST file garbled or truncated), Store.open is REFUSED with
 * `ErrDataDirCorrupt` (a StorageError, DataLoss) naming the member's directory and LevelDB's
 * `Corruption: ...` text, the backend's error (`Database failed to open`) as its cause, and every member
 * database it opened is closed again: nothing is half-loaded. When LevelDB silently drops a
 * damaged write-ahead log (its default, non-paranoid recovery), the member comes back with
 * less than it had and is RECOVERED from the other members by Raft: all members converge on
 * every acknowledged write.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, readdir, rm, stat, truncate, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ClassicLevel } from 'classic-level'
import { Store } from '../../src/store.js'
import { StorageError } from '../../src/errors.js'
import { assertConverged, dumpMember } from '../store/helpers.js'

let root: string
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'pocket-etcd-damaged-'))
})
after(async () => {
  await rm(root, { recursive: true, force: true })
})

const open = (dataDir: string): Promise<Store> => Store.open({ members: 3, clock: 'manual', seed: 3, dataDir })

async function populate(dir: string): Promise<void> {
  const s = await open(dir)
  try {
    for (let i = 0; i < 50; i++) await s.kv.put({ key: `k/${i}`, value: `v${i}` })
  } finally {
    await s.close()
  }
}

describe('a damaged classic-level directory', () => {
  const refused: { name: string; damage: (m1: string, files: string[]) => Promise<void>; cause: RegExp }[] = [
    { name: 'CURRENT garbled', damage: (m1) => writeFile(join(m1, 'CURRENT'), 'garbage'), cause: /Corruption/ },
    { name: 'MANIFEST truncated', damage: (m1, files) => truncate(join(m1, files.find((f) => f.startsWith('MANIFEST'))!), 10), cause: /Corruption/ },
  ]
  for (const c of refused) {
    it(`${c.name}: Store.open is refused and leaves no database open`, async () => {
      const dir = join(root, c.name.replace(/\W+/g, '-'))
      await populate(dir)
      const m1 = join(dir, 'm1')
      await c.damage(m1, await readdir(m1))
      await assert.rejects(open(dir), (err: Error & { cause?: Error & { cause?: Error } }) => {
        assert.ok(err instanceof StorageError, `a StorageError, not ${err.name}`)
        assert.equal(err.code, 'ErrDataDirCorrupt')
        assert.equal(err.grpcCode, 'DataLoss')
        assert.ok(err.message.startsWith(`pocket-etcd: data directory "${m1}" of member m1 cannot be opened: `), err.message)
        assert.match(err.message, c.cause)
        // the database library's own error is kept as the cause
        assert.match(String(err.cause?.message), /Database failed to open/)
        assert.match(String(err.cause?.cause?.message), c.cause)
        return true
      })
      // every member database was closed again (its LevelDB lock released): the others open
      for (const name of ['m2', 'm3']) {
        const db = new ClassicLevel(join(dir, name), { createIfMissing: false })
        await db.open()
        await db.close()
      }
    })
  }

  it('a damaged directory of a member added later: refused, and no database is left open', async () => {
    const dir = join(root, 'added-member')
    for (const seed of [3, 4, 5, 6]) {
      const sub = join(dir, String(seed))
      const s = await Store.open({ members: 3, clock: 'manual', seed, dataDir: sub })
      try {
        await s.cluster.memberAdd({ peerURLs: ['http://10.0.0.4:2380'], isLearner: true })
        await s.cluster.memberAdd({ peerURLs: ['http://10.0.0.5:2380'], isLearner: false })
        for (let i = 0; i < 5; i++) await s.kv.put({ key: `k/${i}`, value: `v${i}` })
        await s.sim.settle()
      } finally {
        await s.close()
      }
      await writeFile(join(sub, 'm4', 'CURRENT'), 'garbage')
      await assert.rejects(Store.open({ members: 3, clock: 'manual', seed, dataDir: sub }), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'ErrDataDirCorrupt')
        assert.match(err.message, /of member m4 cannot be opened/)
        return true
      })
      // whatever order the membership lists the members in, every other database was closed again
      for (const name of ['m1', 'm2', 'm3', 'm5']) {
        const db = new ClassicLevel(join(sub, name), { createIfMissing: false })
        await db.open()
        await db.close()
      }
    }
  })

  it('a write-ahead log overwritten with garbage: LevelDB drops it and Raft recovers the member', async () => {
    const dir = join(root, 'log-garbage')
    await populate(dir)
    const m1 = join(dir, 'm1')
    for (const f of (await readdir(m1)).filter((f) => f.endsWith('.log'))) {
      const size = (await stat(join(m1, f))).size
      await writeFile(join(m1, f), Buffer.alloc(size, 0x5a))
    }
    const s = await open(dir)
    try {
      await assertConverged(s, 'after m1 lost its log')
      const kvs = (await dumpMember(s, 'm1')).kvs
      for (let i = 0; i < 50; i++) assert.ok(kvs.some((kv) => kv.key === `k/${i}` && kv.value === `v${i}`), `k/${i} on m1`)
      await s.kv.put({ key: 'after', value: 'x' })
    } finally {
      await s.close()
    }
  })
})
