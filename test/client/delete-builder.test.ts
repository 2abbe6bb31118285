import assert from 'node:assert/strict'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { Range, type Namespace } from '../../src/client/index.js'
import { InvalidArgumentError } from '../../src/errors.js'
import { openFixture, type Fixture } from './fixture.js'

let fx: Fixture
let store: Namespace
beforeEach(async () => {
  fx = await openFixture()
  store = fx.store
  for (const k of ['a', 'b/1', 'b/2', 'b/3', 'c']) await store.put(k).value(`v-${k}`)
})
afterEach(() => fx.close())

const text = (b: Uint8Array) => new TextDecoder().decode(b)

describe('delete(): DeleteBuilder', () => {
  it('.key() deletes one key; awaiting gives the DeleteRangeResponse', async () => {
    const res = await store.delete().key('b/2')
    assert.equal(res.deleted, 1)
    assert.deepEqual(res.prevKvs, [])
    assert.deepEqual(await store.getAll().keys(), ['a', 'b/1', 'b/3', 'c'])
    assert.equal((await store.delete().key('b/2').exec()).deleted, 0)
  })

  it('.prefix() deletes the keys under a prefix', async () => {
    assert.equal((await store.delete().prefix('b/')).deleted, 3)
    assert.deepEqual(await store.getAll().keys(), ['a', 'c'])
  })

  it('.range(start, end), .range(Range), .inRange({start, end})', async () => {
    assert.equal((await store.delete().range('b/1', 'b/3')).deleted, 2)
    assert.deepEqual(await store.getAll().keys(), ['a', 'b/3', 'c'])
    assert.equal((await store.delete().range(new Range('b', '\0'))).deleted, 2)
    assert.deepEqual(await store.getAll().keys(), ['a'])
    await store.put('x').value('1')
    await store.put('y').value('1')
    assert.equal((await store.delete().inRange({ start: 'a', end: 'y' })).deleted, 2)
    assert.deepEqual(await store.getAll().keys(), ['y'])
    assert.equal((await store.delete().inRange('y', 'z')).deleted, 1)
  })

  it('.all() deletes every key', async () => {
    assert.equal((await store.delete().all()).deleted, 5)
    assert.equal(await store.getAll().count(), 0)
  })

  it('.getPrevious() gives the deleted KeyValues', async () => {
    const prev = await store.delete().prefix('b/').getPrevious()
    assert.deepEqual(prev.map((kv) => [text(kv.key), text(kv.value)]), [['b/1', 'v-b/1'], ['b/2', 'v-b/2'], ['b/3', 'v-b/3']])
    assert.deepEqual(await store.delete().key('a').getPrevious().then((kvs) => kvs.length), 1)
    assert.deepEqual(await store.delete().key('a').getPrevious(), [])
  })

  it('a delete with no key or range is refused before anything is sent', async () => {
    const calls = fx.kv.calls.length
    await assert.rejects(store.delete().exec(), (err: unknown) => {
      assert.ok(err instanceof InvalidArgumentError)
      assert.match(err.message, /delete\(\) has no key or range/)
      return true
    })
    await assert.rejects(Promise.resolve(store.delete()), InvalidArgumentError)
    assert.throws(() => store.delete().op(), InvalidArgumentError)
    assert.equal(fx.kv.calls.length, calls)
    assert.equal(await store.getAll().count(), 5)
  })

  it('a range end given with a range is refused', () => {
    assert.throws(() => store.delete().range(new Range('a', 'b') as never, 'c'), InvalidArgumentError)
  })
})
