import assert from 'node:assert/strict'
import { afterEach, beforeEach, describe, it } from 'node:test'
import type { Namespace } from '../../src/client/index.js'
import { EtcdError, InvalidArgumentError, isEtcdError } from '../../src/errors.js'
import { bytes, openFixture, plain, type Fixture } from './fixture.js'

let fx: Fixture
let store: Namespace
beforeEach(async () => {
  fx = await openFixture()
  store = fx.store
})
afterEach(() => fx.close())

describe('put(key): PutBuilder', () => {
  it('awaiting runs the put and gives the PutResponse; each put bumps the revision', async () => {
    const r1 = await store.put('k').value('v1')
    const r2 = await store.put('k').value('v2')
    assert.equal(r2.header.revision, r1.header.revision + 1)
    assert.equal(r1.prevKv, undefined)
    assert.equal(await store.get('k'), 'v2')
  })

  it('.exec() runs the put', async () => {
    const res = await store.put('k').value('v').exec()
    assert.ok(res.header.revision > 0)
    assert.equal(await store.get('k'), 'v')
  })

  it('.value() takes a string, bytes or a number', async () => {
    await store.put('s').value('text')
    await store.put('b').value(bytes(1, 2, 255))
    await store.put('n').value(-12.5)
    assert.equal(await store.get('s'), 'text')
    assert.deepEqual(plain(await store.get('b').buffer()), bytes(1, 2, 255))
    assert.equal(await store.get('n'), '-12.5')
    assert.equal(await store.get('n').number(), -12.5)
  })

  it('a put without a value is refused before anything is sent', async () => {
    const calls = fx.kv.calls.length
    await assert.rejects(store.put('k').exec(), (err: unknown) => {
      assert.ok(err instanceof InvalidArgumentError)
      assert.match(err.message, /put\("k"\) has no value: call \.value\(v\)/)
      return true
    })
    await assert.rejects(Promise.resolve(store.put('k')), InvalidArgumentError)
    await assert.rejects(store.put('k').getPrevious(), InvalidArgumentError)
    assert.throws(() => store.put('k').op(), InvalidArgumentError)
    assert.equal(fx.kv.calls.length, calls)
    assert.equal(await store.get('k').exists(), false)
  })

  it('.getPrevious() gives null for a new key, then the previous KeyValue', async () => {
    assert.equal(await store.put('k').value('one').getPrevious(), null)
    const prev = await store.put('k').value('two').getPrevious()
    assert.ok(prev)
    assert.equal(new TextDecoder().decode(prev.key), 'k')
    assert.equal(new TextDecoder().decode(prev.value), 'one')
    assert.equal(prev.version, 1)
    assert.equal(await store.get('k'), 'two')
  })

  it('.ignoreValue() and .touch() keep the value and bump the version', async () => {
    await store.put('k').value('keep')
    await store.put('k').ignoreValue()
    await store.put('k').touch()
    const kv = await store.get('k').kv()
    assert.equal(kv && new TextDecoder().decode(kv.value), 'keep')
    assert.equal(kv?.version, 3)
    // The last of value()/ignoreValue() wins.
    await store.put('k').ignoreValue().value('new')
    assert.equal(await store.get('k'), 'new')
    await store.put('k').value('dropped').ignoreValue()
    assert.equal(await store.get('k'), 'new')
  })

  it('.ignoreValue() on a missing key is the service error, unchanged', async () => {
    await assert.rejects(store.put('missing').ignoreValue().exec(), (err: unknown) => isEtcdError(err, 'KeyNotFound'))
    await assert.rejects(store.put('missing').value('v').ignoreLease().exec(), (err: unknown) => isEtcdError(err, 'KeyNotFound'))
    assert.equal(await store.get('missing').exists(), false)
  })

  it('.lease() and .ignoreLease() are sent as etcd fields', async () => {
    await store.put('k').value('v')
    await store.put('k').value('w').ignoreLease()
    assert.equal(fx.kv.last('put').ignoreLease, true)
    const kv = await store.get('k').kv()
    assert.equal(kv?.lease, '0')
    const op = store.put('k').value('v').lease(7n).op()
    assert.ok('requestPut' in op)
    assert.equal(op.requestPut.lease, 7n)
    assert.equal(op.requestPut.ignoreLease, undefined)
  })

  it('a service validation error passes through unchanged', async () => {
    // a malformed lease id is refused by the builder itself, before anything is sent
    assert.throws(() => store.put('k').value('v').lease('not-a-number'), (err: unknown) => {
      assert.ok(err instanceof EtcdError)
      assert.equal(err.grpcCode, 'InvalidArgument')
      assert.match(err.message, /^pocket-etcd: invalid lease id in put\(key\)\.lease\(id\)/)
      return true
    })
    await assert.rejects(store.put('').value('v').exec(), (err: unknown) => isEtcdError(err, 'EmptyKey'))
  })
})
