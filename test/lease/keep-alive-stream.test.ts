// etcd's LeaseKeepAlive stream: each send renews once, answers come out in order, close ends
// the stream after pending answers, and a failure ends it by throwing from the iterator.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Store } from '../../src/index.js'
import type { LeaseKeepAliveResponse } from '../../src/index.js'

test('a keep-alive stream answers every send in order, with ttl 0 for a missing lease', async () => {
  const store = await Store.open({ members: 3, clock: 'manual', seed: 7 })
  try {
    const a = await store.lease.grant({ ttl: 5 })
    const b = await store.lease.grant({ ttl: 9 })
    const stream = store.lease.keepAlive()
    stream.send({ id: a.id })
    stream.send({ id: b.id })
    stream.send({ id: '123456' })
    stream.send({ id: a.id })
    stream.close()
    const got: LeaseKeepAliveResponse[] = []
    for await (const r of stream) got.push(r)
    assert.deepEqual(got.map((r) => [r.id, r.ttl]), [[a.id, 5], [b.id, 9], ['123456', 0], [a.id, 5]])
    assert.throws(() => stream.send({ id: a.id }), /closed keep-alive stream/)
  } finally {
    await store.close()
  }
})

test('the stream renews: a lease kept alive through it outlives its TTL, one left alone expires', async () => {
  const store = await Store.open({ members: 3, clock: 'manual', seed: 8 })
  try {
    const kept = await store.lease.grant({ ttl: 2 })
    const left = await store.lease.grant({ ttl: 2 })
    await store.kv.put({ key: 'kept', lease: kept.id })
    await store.kv.put({ key: 'left', lease: left.id })
    const stream = store.lease.keepAlive()
    const reader = (async () => {
      let n = 0
      for await (const r of stream) {
        assert.equal(r.ttl, 2)
        n++
      }
      return n
    })()
    for (let i = 0; i < 8; i++) {
      stream.send({ id: kept.id })
      await store.sim.advance(700)
    }
    stream.close()
    assert.equal(await reader, 8)
    assert.equal((await store.kv.range({ key: 'kept' })).count, 1, 'the renewed lease keeps its key')
    assert.equal((await store.kv.range({ key: 'left' })).count, 0, 'the other lease expired and took its key')
  } finally {
    await store.close()
  }
})

test('a failure ends the stream by throwing from the iterator', async () => {
  const store = await Store.open({ members: 1, clock: 'manual', seed: 9 })
  const l = await store.lease.grant({ ttl: 5 })
  const stream = store.lease.keepAlive()
  await store.close()
  stream.send({ id: l.id })
  await assert.rejects(async () => {
    for await (const _ of stream) assert.fail('no answer expected')
  }, /closed|stopped/)
})
