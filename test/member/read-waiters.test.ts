// A linearizable read whose ReadIndex answer arrived before its member applied up to the read
// index waits for that apply. If the member stops meanwhile (here: it applied its own removal),
// the read must fail with etcd's "server stopped", never hang (found by the nemesis'
// membership fault, seed 13).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Store } from '../../src/index.js'

test('reads waiting on a member that stops are failed, not left hanging', async () => {
  const store = await Store.open({ members: 3, clock: 'manual', seed: 13, requestTimeoutMs: 1000 })
  try {
    await store.put('a').value('1')
    const m3 = store.member('m3')
    const id3 = (await store.cluster.memberList()).members.find((m) => m.name === 'm3')!.id
    const outcomes: string[] = []
    const settle = (p: Promise<unknown>) => p.then(() => outcomes.push('ok'), (e: Error) => outcomes.push(e.message))
    // requests in flight while the removal commits, and right after it (the reproduction)
    const removal = store.cluster.memberRemove({ id: id3 })
    const reads = [settle(m3.kv.put({ key: 'x', value: 'y' })), settle(m3.kv.range({ key: 'a' }))]
    await removal
    reads.push(settle(m3.kv.put({ key: 'x2', value: 'y' })), settle(m3.kv.range({ key: 'a' })))
    for (let i = 0; i < 30 && outcomes.length < reads.length; i++) await store.sim.advance(100)
    assert.equal(outcomes.length, reads.length, `every read settles within the request timeout, got ${JSON.stringify(outcomes)}`)
    for (const o of outcomes) assert.ok(o === 'ok' || o === 'etcdserver: server stopped' || o === 'etcdserver: request timed out', o)
  } finally {
    await store.close()
  }
})
