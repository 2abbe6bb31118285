import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { compareBytes } from '../../src/api/bytes.js'
import {
  RevisionSet,
  compareRevision,
  decodeRevision,
  encodeRevision,
  isTombstoneKey,
  revisionGreaterThan,
} from '../../src/mvcc/revision.js'

describe('revision', () => {
  it('encodes as etcd: 8-byte big-endian main, "_", 8-byte sub, "t" for tombstones', () => {
    const b = encodeRevision({ main: 0x0102, sub: 3 })
    assert.deepEqual([...b], [0, 0, 0, 0, 0, 0, 1, 2, 0x5f, 0, 0, 0, 0, 0, 0, 0, 3])
    const t = encodeRevision({ main: 1, sub: 0 }, true)
    assert.equal(t.length, 18)
    assert.equal(t[17], 0x74)
    assert.ok(isTombstoneKey(t))
    assert.ok(!isTombstoneKey(b))
  })

  it('round-trips large revisions and keeps byte order equal to revision order', () => {
    const revs = [
      { main: 0, sub: 0 },
      { main: 1, sub: 0 },
      { main: 1, sub: 1 },
      { main: 255, sub: 0 },
      { main: 256, sub: 0 },
      { main: 2 ** 32 - 1, sub: 7 },
      { main: 2 ** 32, sub: 0 },
      { main: Number.MAX_SAFE_INTEGER, sub: 2 ** 40 },
    ]
    for (const r of revs) {
      assert.deepEqual(decodeRevision(encodeRevision(r)), r)
      assert.deepEqual(decodeRevision(encodeRevision(r, true)), r)
    }
    for (let i = 0; i < revs.length; i++) {
      for (let j = 0; j < revs.length; j++) {
        const byBytes = Math.sign(compareBytes(encodeRevision(revs[i]!), encodeRevision(revs[j]!)))
        assert.equal(byBytes, Math.sign(compareRevision(revs[i]!, revs[j]!)))
      }
    }
    // A tombstone key sorts right after the plain key of the same revision, before the next one.
    assert.ok(compareBytes(encodeRevision({ main: 5, sub: 0 }, true), encodeRevision({ main: 5, sub: 1 })) < 0)
    assert.ok(revisionGreaterThan({ main: 2, sub: 0 }, { main: 1, sub: 9 }))
    assert.ok(!revisionGreaterThan({ main: 2, sub: 0 }, { main: 2, sub: 0 }))
  })

  it('RevisionSet compares by value', () => {
    const s = new RevisionSet()
    s.add({ main: 3, sub: 1 })
    s.add({ main: 3, sub: 1 })
    s.add({ main: 1, sub: 0 })
    assert.equal(s.size, 2)
    assert.ok(s.has({ main: 3, sub: 1 }))
    assert.ok(!s.has({ main: 3, sub: 0 }))
    assert.deepEqual(s.sorted(), [
      { main: 1, sub: 0 },
      { main: 3, sub: 1 },
    ])
    assert.ok(s.delete({ main: 1, sub: 0 }))
    assert.equal(s.size, 1)
  })
})
