/**
 * Close and reopen from the same dataDir keeps leases: their ids, granted TTLs, attached
 * keys and remaining TTLs (a graceful close checkpoints them, as etcd 3.6 persists lease
 * checkpoints): the new leader's lessor is promoted and every lease resumes its remaining
 * TTL (plus the election timeout, etcd's `Promote(extend)`), then expires and deletes its
 * keys. Auth state is checked when `store.auth` exists.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Store } from '../../src/store.js'
import { assertConverged, text } from '../store/helpers.js'

let root: string
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'pocket-etcd-reopen-'))
})
after(async () => {
  await rm(root, { recursive: true, force: true })
})

const open = (dataDir: string): Promise<Store> => Store.open({ members: 3, clock: 'manual', seed: 9, dataDir })

describe('reopen preserves leases', () => {
  it('ids, granted TTLs and keys survive; the remaining TTL resumes, then the lease expires', async () => {
    const dir = join(root, 'leases')
    const first = await open(dir)
    let id: string
    try {
      id = (await first.lease.grant({ ttl: 30 })).id
      await first.kv.put({ key: 'held/1', value: 'a', lease: id })
      await first.kv.put({ key: 'held/2', value: 'b', lease: id })
      await first.sim.advance(20_000) // 20 s of the 30 s pass before the close
      const before = await first.lease.timeToLive({ id })
      assert.ok(before.ttl <= 10, `remaining before close: ${before.ttl}`)
    } finally {
      await first.close()
    }
    const again = await open(dir)
    try {
      await assertConverged(again)
      const t = await again.lease.timeToLive({ id, keys: true })
      assert.equal(t.grantedTtl, 30)
      assert.deepEqual(t.keys.map(text), ['held/1', 'held/2'])
      const electionMs = 10 * 10
      assert.ok(t.ttl >= 9 && t.ttl <= 10 + Math.ceil(electionMs / 1000), `the new leader resumes the remaining 10 s (etcd Promote with remainingTTL): ${t.ttl}`)
      await again.sim.advance((t.ttl + 2) * 1000)
      assert.equal((await again.kv.range({ key: 'held/', rangeEnd: 'held0' })).count, 0, 'the lease expired after the reopen and deleted its keys')
      assert.deepEqual((await again.lease.leases()).leases, [])
    } finally {
      await again.close()
    }
  })

  it('auth state survives a reopen (when store.auth exists)', async (t) => {
    const dir = join(root, 'auth')
    const first = await open(dir)
    const auth = (first as unknown as { auth?: { userAdd(r: object): Promise<unknown>; userList(r?: object): Promise<{ users: string[] }> } }).auth
    if (auth === undefined) {
      t.skip('store.auth is not there yet')
      await first.close()
      return
    }
    try {
      await auth.userAdd({ name: 'alice', password: 'pw' })
    } finally {
      await first.close()
    }
    const again = await open(dir)
    try {
      const users = await (again as unknown as { auth: typeof auth }).auth!.userList({})
      assert.ok(users.users.includes('alice'), `users after reopen: ${JSON.stringify(users.users)}`)
    } finally {
      await again.close()
    }
  })
})
