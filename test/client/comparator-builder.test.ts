import assert from 'node:assert/strict'
import { afterEach, beforeEach, describe, it } from 'node:test'
import type { Namespace } from '../../src/client/index.js'
import type { ResponseOp } from '../../src/api/messages.js'
import { InvalidArgumentError, isEtcdError } from '../../src/errors.js'
import { openFixture, type Fixture } from './fixture.js'

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

describe('if(...): ComparatorBuilder', () => {
  it('create-if-absent: then runs when the compare holds, else when it does not', async () => {
    const create = () =>
      store.if('cfg', 'Version', '==', 0).then(store.put('cfg').value('v1')).else(store.get('cfg')).commit()
    const first = await create()
    assert.equal(first.succeeded, true)
    assert.equal(first.responses.length, 1)
    assert.ok(first.responses[0] && 'responsePut' in first.responses[0])
    const second = await create()
    assert.equal(second.succeeded, false)
    assert.deepEqual(rangeKeys(second.responses[0]), ['cfg'])
    assert.equal(await store.get('cfg'), 'v1')
    assert.equal(second.header.revision, first.header.revision, 'a read-only branch does not bump the revision')
  })

  it('compares every column with every comparator', async () => {
    const put = await store.put('k').value('m')
    const rev = put.header.revision
    const cases: [Parameters<Namespace['if']>, boolean][] = [
      [['k', 'Value', '==', 'm'], true],
      [['k', 'Value', '===', 'm'], true],
      [['k', 'Value', '!=', 'm'], false],
      [['k', 'Value', '!==', 'x'], true],
      [['k', 'Value', '<', 'n'], true],
      [['k', 'Value', '>', 'n'], false],
      [['k', 'Value', '==', new TextEncoder().encode('m')], true],
      [['k', 'Version', '==', 1], true],
      [['k', 'Version', '>', 1], false],
      [['k', 'Create', '==', rev], true],
      [['k', 'Create', '<', rev + 1], true],
      [['k', 'Mod', '==', rev], true],
      [['k', 'Mod', '>', rev], false],
      [['k', 'Lease', '==', 0], true],
      [['k', 'Lease', '!=', '0'], false],
      [['missing', 'Version', '==', 0], true],
      [['missing', 'Create', '==', 0], true],
    ]
    for (const [args, want] of cases) {
      const res = await store.if(...args).commit()
      assert.equal(res.succeeded, want, `if(${args.join(', ')})`)
    }
    await store.put('n').value(12)
    assert.equal((await store.if('n', 'Value', '==', 12).commit()).succeeded, true)
  })

  it('.and() adds compares that must all hold', async () => {
    await store.put('a').value('1')
    await store.put('b').value('2')
    const both = await store.if('a', 'Value', '==', '1').and('b', 'Value', '==', '2').then(store.put('ok').value('y')).commit()
    assert.equal(both.succeeded, true)
    const one = await store.if('a', 'Value', '==', '1').and('b', 'Value', '==', '3').then(store.put('no').value('y')).commit()
    assert.equal(one.succeeded, false)
    assert.equal((fx.kv.last('txn').compare ?? []).length, 2)
    assert.deepEqual(await store.getAll().keys(), ['a', 'b', 'ok'])
  })

  it('takes several operations of every kind per branch, in one revision', async () => {
    await store.put('old/1').value('x')
    await store.put('old/2').value('y')
    const res = await store
      .if('old/1', 'Version', '>', 0)
      .then(
        store.put('new').value('n'),
        store.delete().prefix('old/'),
        store.getAll(),
        store.get('new'),
      )
      .commit()
    assert.equal(res.succeeded, true)
    const [put, del, all, one] = res.responses
    assert.ok(put && 'responsePut' in put)
    assert.ok(del && 'responseDeleteRange' in del)
    assert.equal(del.responseDeleteRange.deleted, 2)
    assert.deepEqual(rangeKeys(all), ['new'])
    assert.deepEqual(rangeKeys(one), ['new'])
    const kv = await store.get('new').kv()
    assert.equal(kv?.modRevision, res.header.revision)
  })

  it('.then() and .else() append operations', async () => {
    const res = await store.if('x', 'Version', '==', 0).then(store.put('p').value('1')).then(store.put('q').value('2')).commit()
    assert.equal(res.responses.length, 2)
    assert.deepEqual(await store.getAll().keys(), ['p', 'q'])
  })

  it('a nested if(...) is an operation', async () => {
    await store.put('outer').value('1')
    const inner = store.if('inner', 'Version', '==', 0).then(store.put('inner').value('made'), store.get('outer'))
    const res = await store.if('outer', 'Value', '==', '1').then(inner).commit()
    assert.equal(res.succeeded, true)
    const nested = res.responses[0]
    assert.ok(nested && 'responseTxn' in nested)
    assert.equal(nested.responseTxn.succeeded, true)
    assert.deepEqual(rangeKeys(nested.responseTxn.responses[1]), ['outer'])
    assert.equal(await store.get('inner'), 'made')
  })

  it('is not a promise: awaiting it rejects and says to call .commit()', async () => {
    const b = store.if('k', 'Version', '==', 0).then(store.put('k').value('v'))
    await assert.rejects(
      (async () => await (b as unknown as PromiseLike<unknown>))(),
      /is not a promise: call \.commit\(\)/,
    )
    assert.equal(await store.get('k').exists(), false)
  })

  it('misuse anywhere in the chain rejects at commit() and sends nothing', async () => {
    const calls = fx.kv.calls.length
    const bad = [
      () => store.if('k', 'Size' as unknown as 'Value', '==', 'x'),
      () => store.if('k', 'Value', '<=' as unknown as '<', 'x'),
      () => store.if('k', 'Version', '==', 'one' as unknown as number),
      () => store.if('k', 'Value', '==', 'x').then(store.put('p')),
      () => store.if('k', 'Value', '==', 'x').else(store.delete()),
    ]
    for (const make of bad) {
      const b = make()
      await assert.rejects(b.commit(), InvalidArgumentError)
      assert.throws(() => b.op(), InvalidArgumentError)
    }
    await assert.rejects(store.if('k', 'Mod', '==', 1).and('k', 'Create', '>', 'x' as unknown as number).commit(), /compares Create with a string; expected a number/)
    assert.equal(fx.kv.calls.length, calls)
  })

  it('service errors pass through unchanged', async () => {
    await assert.rejects(
      store.if('k', 'Version', '==', 0).then(store.get('')).commit(),
      (err: unknown) => isEtcdError(err, 'EmptyKey'),
    )
    await assert.rejects(
      store.if('k', 'Version', '==', 0).then(store.put('d').value('1'), store.put('d').value('2')).commit(),
      (err: unknown) => isEtcdError(err, 'DuplicateKey'),
    )
  })
})
