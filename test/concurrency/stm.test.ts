/**
 * STM (etcd's concurrency/stm.go) on a 3-member cluster: each isolation level against a
 * concurrent conflicting writer. Conflicts make an attempt retry; the isolation level
 * decides what counts as a conflict. Bank transfers keep the total constant.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { Store } from '../../src/store.js'
import { stm } from '../../src/concurrency/stm.js'
import type { Isolation, STM } from '../../src/concurrency/stm.js'
import { isEtcdError } from '../../src/errors.js'

const text = (b: Uint8Array) => new TextDecoder().decode(b)

async function withStore(fn: (store: Store) => Promise<void>): Promise<void> {
  const store = await Store.open({ clock: 'manual', seed: 5 })
  try {
    await fn(store)
  } finally {
    await store.close()
  }
}

async function value(store: Store, key: string): Promise<string | undefined> {
  const r = await store.kv.range({ key })
  return r.kvs[0] === undefined ? undefined : text(r.kvs[0].value)
}

const ALL: Isolation[] = ['SerializableSnapshot', 'Serializable', 'RepeatableReads', 'ReadCommitted']

describe('stm', () => {
  for (const isolation of ALL) {
    test(`${isolation}: a write to a key read, made between the read and the commit, ${isolation === 'ReadCommitted' ? 'does not cause' : 'causes'} a retry`, async () => {
      await withStore(async (store) => {
        await store.kv.put({ key: 'x', value: '1' })
        let runs = 0
        const r = await stm(
          store.kv,
          async (s) => {
            runs++
            const x = Number(await s.get('x'))
            // the conflicting writer strikes once, after the first read
            if (runs === 1) await store.kv.put({ key: 'x', value: '100' })
            s.put('y', String(x + 1))
          },
          { isolation },
        )
        if (isolation === 'ReadCommitted') {
          assert.equal(r.attempts, 1)
          assert.equal(await value(store, 'y'), '2', 'read committed commits on the stale read')
        } else {
          assert.equal(r.attempts, 2, 'one conflict, one retry')
          assert.equal(await value(store, 'y'), '101', 'the retry saw the writer')
        }
        assert.equal(r.value, undefined)
        assert.ok(r.response.succeeded)
      })
    })
  }

  test('SerializableSnapshot also rejects a write to a key only written, after the first read; Serializable does not', async () => {
    for (const isolation of ['SerializableSnapshot', 'Serializable'] as const) {
      await withStore(async (store) => {
        await store.kv.put({ key: 'a', value: '1' })
        let runs = 0
        const r = await stm(
          store.kv,
          async (s) => {
            runs++
            await s.get('a')
            if (runs === 1) await store.kv.put({ key: 'w', value: 'other' })
            s.put('w', 'mine')
          },
          { isolation },
        )
        assert.equal(r.attempts, isolation === 'SerializableSnapshot' ? 2 : 1, isolation)
        assert.equal(await value(store, 'w'), 'mine')
      })
    }
  })

  test('snapshot isolation: every read sees the first read\'s revision; RepeatableReads sees newer keys but repeats reads', async () => {
    await withStore(async (store) => {
      await store.kv.put({ key: 'a', value: 'a1' })
      await store.kv.put({ key: 'b', value: 'b1' })
      const seen: Record<string, string[]> = {}
      for (const isolation of ['SerializableSnapshot', 'RepeatableReads'] as const) {
        let runs = 0
        await stm(
          store.kv,
          async (s) => {
            runs++
            const a = await s.get('a')
            if (runs === 1) await store.kv.put({ key: 'b', value: `b-${isolation}` })
            const b = await s.get('b')
            // a second read of a key returns what the first read saw
            if (runs === 1) await store.kv.put({ key: 'a', value: `a-${isolation}` })
            const a2 = await s.get('a')
            seen[isolation] = [...(seen[isolation] ?? []), `${a}|${b}|${a2}`]
          },
          { isolation },
        )
      }
      // snapshot: attempt 1 reads b at a's revision (b1); RepeatableReads reads the newer b
      assert.deepEqual(seen['SerializableSnapshot'], ['a1|b1|a1', 'a-SerializableSnapshot|b-SerializableSnapshot|a-SerializableSnapshot'])
      assert.deepEqual(seen['RepeatableReads'], ['a-SerializableSnapshot|b-RepeatableReads|a-SerializableSnapshot', 'a-RepeatableReads|b-RepeatableReads|a-RepeatableReads'])
    })
  })

  test('reads see the transaction\'s own writes; del; rev; prefetch; an error thrown aborts without writing', async () => {
    await withStore(async (store) => {
      await store.kv.put({ key: 'k', value: 'v' })
      const { value: got } = await stm(
        store.kv,
        async (s: STM) => {
          const rev = await s.rev('k')
          assert.ok(rev > 0)
          assert.equal(await s.rev('missing'), 0)
          assert.equal(await s.get('missing'), '')
          assert.equal(await s.getBytes('missing'), undefined)
          s.put('k', 'v2')
          assert.equal(await s.get('k'), 'v2')
          s.del('k')
          assert.equal(await s.get('k'), '')
          s.put('n', 'new')
          return 'done'
        },
        { prefetch: ['k', 'missing'] },
      )
      assert.equal(got, 'done')
      assert.equal(await value(store, 'k'), undefined)
      assert.equal(await value(store, 'n'), 'new')
      const before = (await store.kv.range({ key: 'n' })).header.revision
      await assert.rejects(
        stm(store.kv, async (s) => {
          s.put('n', 'never')
          throw new Error('changed my mind')
        }),
        /changed my mind/,
      )
      assert.equal(await value(store, 'n'), 'new')
      assert.equal((await store.kv.range({ key: 'n' })).header.revision, before)
      const ctrl = new AbortController()
      ctrl.abort()
      await assert.rejects(stm(store.kv, () => undefined, { abort: ctrl.signal }), (e: unknown) => isEtcdError(e) && e.code === 'ErrCanceled')
    })
  })

  for (const isolation of ['SerializableSnapshot', 'Serializable', 'RepeatableReads'] as const) {
    test(`${isolation}: concurrent bank transfers keep the total constant`, async () => {
      await withStore(async (store) => {
        const accounts = ['acct/a', 'acct/b', 'acct/c', 'acct/d']
        for (const a of accounts) await store.kv.put({ key: a, value: '100' })
        let conflicts = 0
        const transfer = async (i: number): Promise<void> => {
          const from = accounts[i % 4]!
          const to = accounts[(i * 3 + 1) % 4]!
          if (from === to) return
          const r = await stm(
            store.kv,
            async (s) => {
              const f = Number(await s.get(from))
              const t = Number(await s.get(to))
              const amount = Math.min(f, 7 + (i % 5))
              s.put(from, String(f - amount))
              s.put(to, String(t + amount))
            },
            { isolation },
          )
          conflicts += r.attempts - 1
        }
        await Promise.all(Array.from({ length: 24 }, (_, i) => transfer(i)))
        let total = 0
        for (const a of accounts) total += Number(await value(store, a))
        assert.equal(total, 400, 'money is neither created nor destroyed')
        assert.ok(conflicts > 0, 'concurrent transfers conflicted and retried')
      })
    })
  }

  test('ReadCommitted transfers lose updates under contention (why the stronger levels exist)', async () => {
    await withStore(async (store) => {
      await store.kv.put({ key: 'ctr', value: '0' })
      await Promise.all(
        Array.from({ length: 10 }, () =>
          stm(store.kv, async (s) => {
            s.put('ctr', String(Number(await s.get('ctr')) + 1))
          }, { isolation: 'ReadCommitted' }),
        ),
      )
      assert.ok(Number(await value(store, 'ctr')) < 10, 'concurrent increments overwrote each other')
    })
  })
})
