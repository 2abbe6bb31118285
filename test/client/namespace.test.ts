import assert from 'node:assert/strict'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { DecodeError, KeyPrefix, Namespace, Range } from '../../src/client/index.js'
import type { ResponseOp } from '../../src/api/messages.js'
import { isEtcdError } from '../../src/errors.js'
import { bytes, openFixture, plain, type Fixture } from './fixture.js'

let fx: Fixture
let store: Namespace
beforeEach(async () => {
  fx = await openFixture()
  store = fx.store
})
afterEach(() => fx.close())

const text = (b: Uint8Array) => new TextDecoder().decode(b)

function rangeKeys(r: ResponseOp | undefined): string[] {
  assert.ok(r && 'responseRange' in r, 'expected a range response')
  return r.responseRange.kvs.map((kv) => text(kv.key))
}

describe('Namespace', () => {
  it('the root has the empty prefix; namespace() concatenates prefixes', () => {
    assert.deepEqual(store.prefix, new Uint8Array(0))
    const users = store.namespace('users/')
    assert.equal(text(users.prefix), 'users/')
    assert.equal(text(users.namespace('admins/').prefix), 'users/admins/')
    assert.ok(users.namespace('x') instanceof Namespace)
    assert.equal(new Namespace(fx.kv, 'p/').namespace('').prefix.length, 2)
    assert.equal(text(new Namespace(fx.kv, new KeyPrefix(new TextEncoder().encode('kp/'))).prefix), 'kp/')
  })

  it('prefixes every key sent and strips it from every key returned', async () => {
    const users = store.namespace('users/')
    await users.put('john').value('45')
    assert.equal(await store.get('users/john'), '45')
    assert.equal(await users.get('john'), '45')
    assert.equal(await users.get('users/john'), null)
    const kv = await users.get('john').kv()
    assert.equal(kv && text(kv.key), 'john')
    assert.deepEqual(await users.getAll(), { john: '45' })
    assert.deepEqual(await users.getAll().keys(), ['john'])
    assert.deepEqual(plain(await users.getAll().keyBuffers()), [new TextEncoder().encode('john')])
    const res = await users.getAll().exec()
    assert.deepEqual(res.kvs.map((k) => text(k.key)), ['john'])
    const prev = await users.put('john').value('46').getPrevious()
    assert.equal(prev && text(prev.key), 'john')
    const gone = await users.delete().key('john').getPrevious()
    assert.deepEqual(gone.map((k) => text(k.key)), ['john'])
  })

  it('ranges inside a namespace stay inside it', async () => {
    for (const k of ['a', 'users', 'users/ann', 'users/bob', 'users/bob/pet', 'users0', 'usersz', 'z']) {
      await store.put(k).value(k)
    }
    const users = store.namespace('users/')
    assert.deepEqual(await users.getAll().keys(), ['ann', 'bob', 'bob/pet'])
    assert.deepEqual(await users.getAll().all().keys(), ['ann', 'bob', 'bob/pet'])
    assert.equal(await users.getAll().count(), 3)
    assert.deepEqual(await users.getAll().prefix('bob').keys(), ['bob', 'bob/pet'])
    assert.deepEqual(await users.getAll().inRange('b', '\0').keys(), ['bob', 'bob/pet'])
    assert.deepEqual(await users.getAll().inRange('a', 'bob/').keys(), ['ann', 'bob'])
    assert.deepEqual(await users.getAll().inRange({ start: 'bob', end: bytes(0xff, 0xff) }).keys(), ['bob', 'bob/pet'])
    assert.deepEqual(await users.getAll().sort('Key', 'Descend').limit(1).keys(), ['bob/pet'])
    assert.deepEqual(await users.getAll().strings(), { ann: 'users/ann', bob: 'users/bob', 'bob/pet': 'users/bob/pet' })

    assert.equal((await users.delete().all()).deleted, 3)
    assert.deepEqual(await store.getAll().keys(), ['a', 'users', 'users0', 'usersz', 'z'])
  })

  it('delete() ranges stay inside the namespace', async () => {
    for (const k of ['n/a', 'n/b', 'n/c', 'o/a']) await store.put(k).value('1')
    const n = store.namespace('n/')
    assert.equal((await n.delete().range('b', '\0')).deleted, 2)
    assert.equal((await n.delete().prefix('')).deleted, 1)
    assert.deepEqual(await store.getAll().keys(), ['o/a'])
  })

  it('nested namespaces are isolated from their parents and siblings', async () => {
    const app = store.namespace('app/')
    const cfg = app.namespace('cfg/')
    const data = app.namespace('data/')
    await cfg.put('mode').value('fast')
    await data.put('mode').value('row')
    await app.put('top').value('t')
    assert.deepEqual(await store.getAll().keys(), ['app/cfg/mode', 'app/data/mode', 'app/top'])
    assert.deepEqual(await app.getAll().keys(), ['cfg/mode', 'data/mode', 'top'])
    assert.deepEqual(await cfg.getAll(), { mode: 'fast' })
    assert.deepEqual(await data.getAll(), { mode: 'row' })
    assert.equal(await app.namespace('cfg/').get('mode'), 'fast')
    assert.equal(await cfg.delete().all().then((r) => r.deleted), 1)
    assert.deepEqual(await app.getAll().keys(), ['data/mode', 'top'])
  })

  it('an empty key inside a namespace is etcd\'s empty-key error, as at the root', async () => {
    const ns = store.namespace('ns/')
    await assert.rejects(ns.get('').string(), (err: unknown) => isEtcdError(err, 'EmptyKey'))
    await assert.rejects(ns.put('').value('v').exec(), (err: unknown) => isEtcdError(err, 'EmptyKey'))
    await assert.rejects(ns.delete().key('').exec(), (err: unknown) => isEtcdError(err, 'EmptyKey'))
    await assert.rejects(ns.if('', 'Version', '==', 0).commit(), (err: unknown) => isEtcdError(err, 'EmptyKey'))
    assert.equal(await store.getAll().count(), 0)
  })

  it('transactions compare and act inside the namespace, and return stripped keys', async () => {
    const ns = store.namespace('tx/')
    await store.put('lock').value('outside')
    const res = await ns.if('lock', 'Create', '==', 0).then(ns.put('lock').value('me'), ns.getAll()).commit()
    assert.equal(res.succeeded, true)
    assert.deepEqual(rangeKeys(res.responses[1]), ['lock'])
    assert.equal(await store.get('tx/lock'), 'me')
    assert.equal(await store.get('lock'), 'outside')
    const again = await ns.if('lock', 'Create', '==', 0).then(ns.put('lock').value('me2')).else(ns.get('lock')).commit()
    assert.equal(again.succeeded, false)
    assert.deepEqual(rangeKeys(again.responses[0]), ['lock'])
  })

  it('a txn may mix operations from different namespaces; each response is stripped by its own', async () => {
    const a = store.namespace('a/')
    const b = store.namespace('b/')
    await a.put('x').value('1')
    await b.put('y').value('2')
    const nested = b.if('y', 'Value', '==', '2').then(b.getAll(), store.get('a/x'))
    const res = await a.if('x', 'Value', '==', '1').then(a.getAll(), b.getAll(), store.getAll(), nested).commit()
    assert.deepEqual(rangeKeys(res.responses[0]), ['x'])
    assert.deepEqual(rangeKeys(res.responses[1]), ['y'])
    assert.deepEqual(rangeKeys(res.responses[2]), ['a/x', 'b/y'])
    const n = res.responses[3]
    assert.ok(n && 'responseTxn' in n)
    assert.deepEqual(rangeKeys(n.responseTxn.responses[0]), ['y'])
    assert.deepEqual(rangeKeys(n.responseTxn.responses[1]), ['a/x'])
  })

  it('decode errors name the key as the namespace sees it', async () => {
    const ns = store.namespace('ns/')
    await ns.put('n').value('NaN!')
    await assert.rejects(ns.get('n').number(), (err: unknown) => {
      assert.ok(err instanceof DecodeError)
      assert.match(err.message, /key "n" is not a number/)
      return true
    })
  })

  it('binary prefixes, including 0xff bytes, strip exactly', async () => {
    const ns = store.namespace(bytes(0xff, 0xff))
    await ns.put(bytes(0x00, 0x80)).value(bytes(0xfe))
    await store.put(bytes(0xff)).value('outside')
    await store.put(bytes(0xfe, 0xff, 0xff)).value('outside')
    assert.deepEqual(plain(await ns.getAll().keyBuffers()), [bytes(0x00, 0x80)])
    assert.deepEqual(plain(await ns.get(bytes(0x00, 0x80)).buffer()), bytes(0xfe))
    assert.equal((await ns.delete().all()).deleted, 1)
    assert.equal(await store.getAll().count(), 2)
  })

  it('range() builds a Range (etcd3\'s namespace.range)', () => {
    const r = store.range({ prefix: 'a' })
    assert.ok(r instanceof Range)
    assert.ok(r.includes('abc'))
    assert.ok(!r.includes('b'))
    assert.ok(store.range('k').includes('k'))
    assert.ok(!store.range('k').includes('ka'))
    assert.ok(store.range({ start: 'k', end: '\0' }).includes('zzz'))
    assert.ok(!store.range({ start: 'k', end: 'm' }).includes('m'))
  })

  it('the Store itself is the root namespace (etcd3 code reads the same against it)', async () => {
    const store = fx.raw
    await store.put('user/john').value(JSON.stringify({ age: 45 }))
    assert.deepEqual(await store.get('user/john').json(), { age: 45 })
    assert.deepEqual(await store.getAll().prefix('user/').keys(), ['john'].map((k) => `user/${k}`))
    const res = await store.if('cfg', 'Version', '==', 0).then(store.put('cfg').value('v1')).commit()
    assert.equal(res.succeeded, true)
    assert.deepEqual(await store.namespace('user/').get('john').json(), { age: 45 })
    assert.equal((await store.delete().all()).deleted, 2)
  })

  it('a subclass can add services and keep its type through namespace()', async () => {
    class Extended extends Namespace {
      hello(): string {
        return `hello from ${text(this.keyPrefix.bytes)}`
      }
      override namespace(prefix: string): Extended {
        return new Extended(this.kv, this.keyPrefix.concat(new TextEncoder().encode(prefix)))
      }
    }
    const ext = new Extended(fx.kv).namespace('e/').namespace('f/')
    assert.equal(ext.hello(), 'hello from e/f/')
    await ext.put('k').value('v')
    assert.equal(await store.get('e/f/k'), 'v')
  })
})
