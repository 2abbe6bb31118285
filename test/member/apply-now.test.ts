/**
 * The Applier's immediate path (`applyNow`, what a member uses for plain puts during group
 * commit) against its full path (`apply`): on two stores fed the same requests, the same
 * responses, events, errors and stored state, and `undefined` (nothing done) for requests
 * it leaves to the full path.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { MemoryLevel } from 'memory-level'
import { KVStore } from '../../src/mvcc/index.js'
import { Applier } from '../../src/member/apply.js'
import type { InternalRequest } from '../../src/member/internal-request.js'
import type { PutRequest } from '../../src/api/messages.js'
import { mulberry32 } from '../raft/prng.js'

const enc = (s: string) => new TextEncoder().encode(s)

async function openApplier(): Promise<{ kv: KVStore; applier: Applier; db: MemoryLevel<Uint8Array, Uint8Array> }> {
  const db = new MemoryLevel<Uint8Array, Uint8Array>({ keyEncoding: 'view', valueEncoding: 'view' })
  const kv = await KVStore.open(db)
  // lease 7 exists, every other lease does not
  const applier = new Applier(kv, { exists: (id) => id === '7' })
  return { kv, applier, db }
}

function putReq(n: number, p: Partial<PutRequest>): InternalRequest {
  return {
    header: { memberId: '1', id: `1.${n}` },
    put: { key: enc('k'), value: enc('v'), lease: '0', prevKv: false, ignoreValue: false, ignoreLease: false, ...p },
  }
}

type Settled = { ok: true; value: unknown } | { ok: false; error: string }

describe('Applier.applyNow', () => {
  it('applies random plain puts exactly as apply does: responses, events, errors, stored state', async (t) => {
    const seed = Number(process.env.SEED ?? 4242)
    t.diagnostic(`seed ${seed} (SEED=${seed} to replay)`)
    const rand = mulberry32(seed)
    const full = await openApplier()
    const now = await openApplier()
    let index = 0
    for (let batch = 0; batch < 20; batch++) {
      full.kv.beginBatch()
      now.kv.beginBatch()
      const n = 1 + Math.floor(rand() * 8)
      for (let i = 0; i < n; i++) {
        index++
        const req = putReq(index, {
          key: enc(`k${Math.floor(rand() * 5)}`),
          value: enc(`v${index}`),
          lease: rand() < 0.15 ? (rand() < 0.5 ? '7' : '99') : '0',
        })
        const a: Settled = await full.applier.apply(req, index).then(
          (r) => ({ ok: true as const, value: r }),
          (e: Error) => ({ ok: false as const, error: e.message }),
        )
        let b: Settled
        try {
          const r = now.applier.applyNow(req, index)
          assert.ok(r !== undefined, 'a plain put during group commit is applied at once')
          b = { ok: true, value: r }
        } catch (e) {
          b = { ok: false, error: (e as Error).message }
        }
        assert.deepEqual(b, a, `seed ${seed}, request ${index}`)
        if (!a.ok) {
          // the member stores the index of a failed request itself, on both paths
          await full.kv.write().end({ consistentIndex: index })
          now.kv.write().endBuffered({ consistentIndex: index })
        }
      }
      await full.kv.flush()
      await now.kv.flush()
    }
    const all = async (kv: KVStore) => (await kv.range(enc('k'), enc('l'), {})).kvs
    assert.deepEqual(await all(now.kv), await all(full.kv))
    await full.kv.close()
    await now.kv.close()
    // what was stored, reopened from the databases
    const a = await KVStore.open(full.db)
    const b = await KVStore.open(now.db)
    assert.equal(b.rev, a.rev)
    assert.equal(b.consistentIndex, a.consistentIndex)
    assert.equal(b.consistentIndex, index)
    assert.deepEqual(await all(b), await all(a))
    await a.close()
    await b.close()
  })

  it('applies random compare-and-swap txns exactly as apply does, and leaves other txns to it', async (t) => {
    const seed = Number(process.env.SEED ?? 777)
    t.diagnostic(`seed ${seed} (SEED=${seed} to replay)`)
    const rand = mulberry32(seed)
    const full = await openApplier()
    const now = await openApplier()
    const key = () => enc(`k${Math.floor(rand() * 4)}`)
    const putOp = (n: number) => ({ requestPut: { key: key(), value: enc(`v${n}`), lease: '0', prevKv: false, ignoreValue: false, ignoreLease: false } })
    let index = 0
    let fast = 0
    const outcomes = new Set<boolean>()
    for (let batch = 0; batch < 30; batch++) {
      full.kv.beginBatch()
      now.kv.beginBatch()
      for (let i = 0, n = 1 + Math.floor(rand() * 6); i < n; i++) {
        index++
        const compare = Array.from({ length: Math.floor(rand() * 3) }, () => ({
          result: (['EQUAL', 'GREATER', 'LESS', 'NOT_EQUAL'] as const)[Math.floor(rand() * 4)]!,
          target: (['MOD', 'VERSION', 'CREATE', 'VALUE'] as const)[Math.floor(rand() * (rand() < 0.9 ? 3 : 4))]!,
          key: key(),
          rangeEnd: rand() < 0.1 ? enc('l') : new Uint8Array(0),
          version: Math.floor(rand() * 4),
          createRevision: Math.floor(rand() * index),
          modRevision: Math.floor(rand() * index),
          value: enc('v1'),
          lease: '0',
        }))
        const branch = () => Array.from({ length: Math.floor(rand() * 3) }, () =>
          rand() < 0.9 ? putOp(index) : { requestRange: { key: key(), rangeEnd: new Uint8Array(0), limit: 0, revision: 0, sortOrder: 'NONE' as const, sortTarget: 'KEY' as const, serializable: false, keysOnly: false, countOnly: false, minModRevision: 0, maxModRevision: 0, minCreateRevision: 0, maxCreateRevision: 0 } })
        const req: InternalRequest = { header: { memberId: '1', id: `1.${index}` }, txn: { compare, success: branch(), failure: branch() } }
        const a = await full.applier.apply(req, index)
        let b = now.applier.applyNow(req, index)
        if (b === undefined) b = await now.applier.apply(req, index)
        else {
          fast++
          outcomes.add((b.response as { succeeded: boolean }).succeeded)
        }
        assert.deepEqual(b, a, `seed ${seed}, request ${index}`)
      }
      await full.kv.flush()
      await now.kv.flush()
    }
    t.diagnostic(`${fast} of ${index} txns applied at once`)
    assert.ok(fast > index / 3, 'most generated txns take the immediate path')
    assert.ok(fast < index, 'some take the full path')
    assert.equal(outcomes.size, 2, 'immediate txns both succeed and fail')
    const all = async (kv: KVStore) => (await kv.range(enc('k'), enc('l'), {})).kvs
    assert.deepEqual(await all(now.kv), await all(full.kv))
    assert.equal(now.kv.rev, full.kv.rev)
    await full.kv.close()
    await now.kv.close()
  })

  it('leaves requests that read first, other requests, and puts outside group commit to apply, doing nothing', async () => {
    const { kv, applier } = await openApplier()
    kv.beginBatch()
    for (const p of [{ prevKv: true }, { ignoreValue: true }, { ignoreLease: true }]) {
      assert.equal(applier.applyNow(putReq(1, p), 1), undefined, JSON.stringify(p))
    }
    const del: InternalRequest = { header: { memberId: '1', id: '1.2' }, deleteRange: { key: enc('k'), rangeEnd: new Uint8Array(0), prevKv: false } }
    assert.equal(applier.applyNow(del, 2), undefined)
    await kv.flush()
    assert.equal(applier.applyNow(putReq(3, {}), 3), undefined, 'not batching')
    assert.equal(kv.rev, 1)
    assert.equal(kv.consistentIndex, 0)
    await kv.close()
  })
})
