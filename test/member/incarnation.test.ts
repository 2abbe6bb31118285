// A member's proposals are answered by request id (<incarnation>.<counter>). The incarnation
// must be new on every start of a database, or a proposal of an earlier start that commits
// late would answer a new request of the restarted member with someone else's response.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { MemoryLevel } from 'memory-level'
import { RaftStorage } from '../../src/member/raft-storage.js'

test('every open of a member database gets a new incarnation, durably', async () => {
  const db = new MemoryLevel<Uint8Array, Uint8Array>({ keyEncoding: 'view', valueEncoding: 'view' })
  const seen: number[] = []
  for (let i = 0; i < 4; i++) {
    const { storage } = await RaftStorage.open(db)
    seen.push(await storage.nextIncarnation())
  }
  assert.deepEqual(seen, [1, 2, 3, 4])
  await db.close()
})
