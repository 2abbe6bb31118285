import assert from 'node:assert/strict'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { z } from 'zod'
import { DecodeError, Range, type Namespace } from '../../src/client/index.js'
import { InvalidArgumentError, isEtcdError } from '../../src/errors.js'
import { bytes, openFixture, plain, type Fixture } from './fixture.js'

const User = z.object({ name: z.string(), age: z.number().int() })

let fx: Fixture
let store: Namespace
beforeEach(async () => {
  fx = await openFixture()
  store = fx.store
})
afterEach(() => fx.close())

describe('get(key): SingleRangeBuilder', () => {
  it('awaiting the builder gives the value as a string', async () => {
    await store.put('a').value('hello')
    assert.equal(await store.get('a'), 'hello')
  })

  it('every result method resolves to null for a missing key', async () => {
    assert.equal(await store.get('nope'), null)
    assert.equal(await store.get('nope').string(), null)
    assert.equal(await store.get('nope').number(), null)
    assert.equal(await store.get('nope').buffer(), null)
    assert.equal(await store.get('nope').json(), null)
    assert.equal(await store.get('nope').json(User), null)
    assert.equal(await store.get('nope').kv(), null)
    assert.equal(await store.get('nope').exists(), false)
    assert.deepEqual((await store.get('nope').exec()).kvs, [])
  })

  it('.string(), .number(), .buffer() decode the value', async () => {
    await store.put('n').value(42.5)
    assert.equal(await store.get('n').string(), '42.5')
    assert.equal(await store.get('n').number(), 42.5)
    assert.deepEqual(plain(await store.get('n').buffer()), new TextEncoder().encode('42.5'))
  })

  it('.number() rejects a value that is not a number, naming the key', async () => {
    await store.put('cfg/x').value('forty')
    await assert.rejects(store.get('cfg/x').number(), (err: unknown) => {
      assert.ok(err instanceof DecodeError)
      assert.match(err.message, /"cfg\/x" is not a number/)
      assert.equal(err.code, 'ErrDecode')
      return true
    })
    await store.put('cfg/y').value('')
    await assert.rejects(store.get('cfg/y').number(), DecodeError)
  })

  it('.json(schema) validates and types the value', async () => {
    await store.put('user/john').value(JSON.stringify({ name: 'John', age: 45 }))
    const john = await store.get('user/john').json(User)
    assert.deepEqual(john, { name: 'John', age: 45 })
    // Typed: `age` is a number to the compiler.
    const age: number | undefined = john?.age
    assert.equal(age, 45)
  })

  it('.json(schema) rejects a value that fails the schema, naming the key and the field', async () => {
    await store.put('user/jane').value(JSON.stringify({ name: 'Jane', age: 'old' }))
    await assert.rejects(store.get('user/jane').json(User), (err: unknown) => {
      assert.ok(err instanceof DecodeError)
      assert.match(err.message, /^pocket-etcd: value of key "user\/jane" does not match the schema: age: /)
      assert.deepEqual(plain(err.key), new TextEncoder().encode('user/jane'))
      assert.ok(err.cause instanceof z.ZodError)
      return true
    })
  })

  it('.json() without a schema parses; invalid JSON rejects naming the key', async () => {
    await store.put('j').value('{"a":[1,2]}')
    assert.deepEqual(await store.get('j').json<{ a: number[] }>(), { a: [1, 2] })
    await store.put('bad').value('{nope')
    await assert.rejects(store.get('bad').json(), /value of key "bad" is not valid JSON/)
  })

  it('.exists() is a count-only read', async () => {
    await store.put('e').value('v')
    assert.equal(await store.get('e').exists(), true)
    assert.equal(fx.kv.last('range').countOnly, true)
  })

  it('.kv() and .exec() give revisions and versions', async () => {
    const r1 = await store.put('k').value('1')
    const r2 = await store.put('k').value('2')
    const kv = await store.get('k').kv()
    assert.ok(kv)
    assert.equal(kv.createRevision, r1.header.revision)
    assert.equal(kv.modRevision, r2.header.revision)
    assert.equal(kv.version, 2)
    const res = await store.get('k').exec()
    assert.equal(res.count, 1)
    assert.equal(res.header.revision, r2.header.revision)
  })

  it('.revision(n) reads the past; a future revision is the service error, unchanged', async () => {
    const first = await store.put('k').value('old')
    await store.put('k').value('new')
    assert.equal(await store.get('k').revision(first.header.revision), 'old')
    assert.equal(await store.get('k'), 'new')
    await assert.rejects(store.get('k').revision(first.header.revision + 100).string(), (err: unknown) =>
      isEtcdError(err, 'FutureRev'),
    )
  })

  it('.serializable() sets a serializable read', async () => {
    await store.put('s').value('v')
    assert.equal(await store.get('s').serializable(), 'v')
    assert.equal(fx.kv.last('range').serializable, true)
    await store.get('s').serializable(false).string()
    assert.equal(fx.kv.last('range').serializable, false)
  })

  it('min/max mod/create revision filters are sent', async () => {
    await store.put('f').value('v')
    await store.get('f').minModRevision(1).maxModRevision(100).minCreateRevision(2).maxCreateRevision(99).string()
    const req = fx.kv.last('range')
    assert.deepEqual(
      [req.minModRevision, req.maxModRevision, req.minCreateRevision, req.maxCreateRevision],
      [1, 100, 2, 99],
    )
  })

  it('builders are thenables: catch and finally run the request too; every await runs it again', async () => {
    assert.equal(await store.get('').catch((err: unknown) => (isEtcdError(err, 'EmptyKey') ? 'caught' : 'other')), 'caught')
    let settled = false
    assert.equal(await store.get('x').finally(() => (settled = true)), null)
    assert.ok(settled)
    const b = store.get('x')
    assert.equal(await b, null)
    await store.put('x').value('now')
    assert.equal(await b, 'now')
  })

  it('an empty key is the service error, unchanged', async () => {
    await assert.rejects(store.get('').string(), (err: unknown) => isEtcdError(err, 'EmptyKey'))
  })
})

describe('getAll(): MultiRangeBuilder', () => {
  beforeEach(async () => {
    for (const [k, v] of [['a', '3'], ['b/1', '1'], ['b/2', '22'], ['b/3', '2'], ['c', '10']] as const) {
      await store.put(k).value(v)
    }
  })

  it('awaiting reads every key as strings, in key order', async () => {
    const all = await store.getAll()
    assert.deepEqual(all, { a: '3', 'b/1': '1', 'b/2': '22', 'b/3': '2', c: '10' })
    assert.deepEqual(Object.keys(all), ['a', 'b/1', 'b/2', 'b/3', 'c'])
    assert.deepEqual(await store.getAll().all().keys(), ['a', 'b/1', 'b/2', 'b/3', 'c'])
  })

  it('.prefix(), .inRange(start, end), .inRange({...})', async () => {
    assert.deepEqual(await store.getAll().prefix('b/').keys(), ['b/1', 'b/2', 'b/3'])
    assert.deepEqual(await store.getAll().inRange('b/2', 'c').keys(), ['b/2', 'b/3'])
    assert.deepEqual(await store.getAll().inRange({ start: 'a', end: 'b/2' }).keys(), ['a', 'b/1'])
    assert.deepEqual(await store.getAll().inRange({ prefix: 'b' }).keys(), ['b/1', 'b/2', 'b/3'])
    assert.deepEqual(await store.getAll().inRange(new Range('b/3', '\0')).keys(), ['b/3', 'c'])
    assert.deepEqual(await store.getAll().inRange('c').keys(), ['c'])
  })

  it('.keys() and .keyBuffers() are keys-only reads', async () => {
    assert.deepEqual(plain(await store.getAll().prefix('b/').keyBuffers()), ['b/1', 'b/2', 'b/3'].map((k) => new TextEncoder().encode(k)))
    assert.equal(fx.kv.last('range').keysOnly, true)
  })

  it('.strings(), .buffers(), .numbers(), .count()', async () => {
    const b = store.getAll().prefix('b/')
    assert.deepEqual(await b.strings(), { 'b/1': '1', 'b/2': '22', 'b/3': '2' })
    assert.deepEqual(await b.numbers(), { 'b/1': 1, 'b/2': 22, 'b/3': 2 })
    assert.deepEqual(plain(await b.buffers()), { 'b/1': bytes(0x31), 'b/2': bytes(0x32, 0x32), 'b/3': bytes(0x32) })
    assert.equal(await b.count(), 3)
    assert.equal(fx.kv.last('range').countOnly, true)
    // Result methods do not change the builder: it still reads values after keys() and count().
    assert.deepEqual(await b.keys(), ['b/1', 'b/2', 'b/3'])
    assert.deepEqual(await b, { 'b/1': '1', 'b/2': '22', 'b/3': '2' })
  })

  it('.numbers() rejects on the first value that is not a number', async () => {
    await store.put('b/x').value('x')
    await assert.rejects(store.getAll().prefix('b/').numbers(), /"b\/x" is not a number/)
  })

  it('.json(schema) types every value; one bad value rejects naming its key', async () => {
    await store.put('u/ann').value(JSON.stringify({ name: 'Ann', age: 30 }))
    await store.put('u/bob').value(JSON.stringify({ name: 'Bob', age: 40 }))
    const users = await store.getAll().prefix('u/').json(User)
    assert.deepEqual(users, { 'u/ann': { name: 'Ann', age: 30 }, 'u/bob': { name: 'Bob', age: 40 } })
    const ages: number[] = Object.values(users).map((u) => u.age)
    assert.deepEqual(ages, [30, 40])
    assert.deepEqual(await store.getAll().prefix('u/').json(), users)
    await store.put('u/cid').value(JSON.stringify({ name: 'Cid' }))
    await assert.rejects(store.getAll().prefix('u/').json(User), (err: unknown) => {
      assert.ok(err instanceof DecodeError)
      assert.match(err.message, /"u\/cid" does not match the schema: age: /)
      return true
    })
  })

  it('.limit(n) cuts the result; count and more report the whole range', async () => {
    const res = await store.getAll().limit(2).exec()
    assert.deepEqual(res.kvs.map((kv) => new TextDecoder().decode(kv.key)), ['a', 'b/1'])
    assert.equal(res.more, true)
    assert.equal(res.count, 5)
    assert.deepEqual(await store.getAll().limit(10).keys(), ['a', 'b/1', 'b/2', 'b/3', 'c'])
    assert.equal((await store.getAll().limit(Infinity).exec()).more, false)
  })

  it('.sort(target, order) for every target', async () => {
    await store.put('a').value('3') // a: version 2, latest mod revision
    const cases: [Parameters<ReturnType<Namespace['getAll']>['sort']>, string[]][] = [
      [['Key', 'Descend'], ['c', 'b/3', 'b/2', 'b/1', 'a']],
      [['Key', 'Ascend'], ['a', 'b/1', 'b/2', 'b/3', 'c']],
      [['Value', 'Ascend'], ['b/1', 'c', 'b/3', 'b/2', 'a']],
      [['Value', 'Descend'], ['a', 'b/2', 'b/3', 'c', 'b/1']],
      [['Mod', 'Descend'], ['a', 'c', 'b/3', 'b/2', 'b/1']],
      [['Create', 'Ascend'], ['a', 'b/1', 'b/2', 'b/3', 'c']],
      [['Create', 'Descend'], ['c', 'b/3', 'b/2', 'b/1', 'a']],
      [['Version', 'Descend'], ['a']],
    ]
    for (const [args, want] of cases) {
      const got = await store.getAll().sort(...args).keys()
      assert.deepEqual(got.slice(0, want.length), want, `sort(${args.join(', ')})`)
    }
    const req = fx.kv.last('range')
    assert.deepEqual([req.sortTarget, req.sortOrder], ['VERSION', 'DESCEND'])
    assert.deepEqual(await store.getAll().sort('Key', 'None').keys(), ['a', 'b/1', 'b/2', 'b/3', 'c'])
    assert.deepEqual(await store.getAll().sort('Mod').limit(1).keys(), ['b/1'])
  })

  it('.sort() with an unknown name throws InvalidArgumentError listing the names', () => {
    const b = store.getAll()
    assert.throws(() => b.sort('Size' as unknown as 'Key'), (err: unknown) => {
      assert.ok(err instanceof InvalidArgumentError)
      assert.match(err.message, /unexpected "Size" as sort target.*"Key", "Version", "Create", "Mod", "Value"/)
      return true
    })
    assert.throws(() => b.sort('Key', 'Up' as unknown as 'Ascend'), InvalidArgumentError)
  })

  it('.revision(n) reads the past', async () => {
    const rev = (await store.get('a').exec()).header.revision
    await store.put('b/4').value('4')
    await store.delete().key('a')
    assert.deepEqual(await store.getAll().revision(rev).keys(), ['a', 'b/1', 'b/2', 'b/3', 'c'])
    assert.deepEqual(await store.getAll().keys(), ['b/1', 'b/2', 'b/3', 'b/4', 'c'])
    assert.equal(await store.getAll().serializable().count(), 5)
  })

  it('a key named __proto__ is a plain entry of the result', async () => {
    await store.put('__proto__').value('p')
    const all = await store.getAll().prefix('__').strings()
    assert.deepEqual(Object.entries(all), [['__proto__', 'p']])
    assert.equal(Object.getPrototypeOf(all), Object.prototype)
  })
})

describe('bytes', () => {
  it('non-UTF-8 keys and values round-trip exactly', async () => {
    const key = bytes(0xff, 0x00, 0x80, 0xfe)
    const value = bytes(0xc3, 0x28, 0xa0, 0xa1, 0xff, 0x00)
    await store.put(key).value(value)
    assert.deepEqual(plain(await store.get(key).buffer()), value)
    assert.deepEqual(plain(await store.getAll().keyBuffers()), [key])
    const res = await store.getAll().prefix(bytes(0xff)).exec()
    assert.deepEqual(plain(res.kvs.map((kv) => [kv.key, kv.value])), [[key, value]])
    assert.equal(await store.getAll().prefix(bytes(0xff, 0x00)).count(), 1)
    assert.equal(await store.getAll().prefix(bytes(0xfe)).count(), 0)
  })

  it('prefix ranges of 0xff bytes run to the end of the keyspace', async () => {
    await store.put(bytes(0xff)).value('1')
    await store.put(bytes(0xff, 0xff)).value('2')
    await store.put(bytes(0xfe, 0xff)).value('3')
    assert.deepEqual(plain(await store.getAll().prefix(bytes(0xff)).keyBuffers()), [bytes(0xff), bytes(0xff, 0xff)])
  })
})
