/**
 * The reference side of the differential tests, checked by hand: exact answers of a real
 * etcd 3.4 through {@link EtcdGateway} for a few requests, including the quirks the
 * differential relies on (nested txn headers, count/more with limits and filters,
 * header revision of historical reads, negative limit/revision, compaction boundary).
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import type { KeyValue } from '../../src/api/messages.js'
import { nestedHeader } from '../../src/api/messages.js'
import { toBytes } from '../../src/api/bytes.js'
import { EtcdError } from '../../src/errors.js'
import { EtcdGateway } from '../support/etcd-gateway.js'
import { etcdBinaryOrSkip, findEtcdBinary, startEtcd, type EtcdProcess } from '../support/etcd-process.js'

function kv(key: string, createRevision: number, modRevision: number, version: number, value: string): KeyValue {
  return { key: toBytes(key), createRevision, modRevision, version, value: toBytes(value), lease: '0' }
}

async function rejects(p: Promise<unknown>, message: string, grpcCode: string, code?: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof EtcdError, `expected an EtcdError, got ${String(err)}`)
    assert.equal(err.message, message)
    assert.equal(err.grpcCode, grpcCode)
    if (code !== undefined) assert.equal(err.code, code)
    return true
  })
}

describe('EtcdGateway against etcd 3.4', () => {
  let etcd: EtcdProcess | undefined
  let kvApi: EtcdGateway

  before(async () => {
    if (findEtcdBinary() === undefined) return
    etcd = await startEtcd()
    kvApi = new EtcdGateway(etcd.clientUrl)
  })
  after(async () => {
    await etcd?.stop()
  })

  test('put, range and the response header', async (t) => {
    if (etcdBinaryOrSkip(t) === undefined) return
    const p1 = await kvApi.put({ key: 'a', value: 'x' })
    assert.equal(p1.header.revision, 2)
    assert.match(p1.header.clusterId, /^[1-9][0-9]*$/)
    assert.match(p1.header.memberId, /^[1-9][0-9]*$/)
    assert.ok(p1.header.raftTerm >= 1)
    assert.equal('prevKv' in p1, false)

    const p2 = await kvApi.put({ key: 'a', value: 'y', prevKv: true })
    assert.deepEqual(p2.prevKv, kv('a', 2, 2, 1, 'x'))
    assert.equal(p2.header.revision, 3)

    // prevKv asked for a key that did not exist: no prevKv at all.
    const p3 = await kvApi.put({ key: new Uint8Array([0x62, 0xff]), value: '', prevKv: true })
    assert.equal(p3.prevKv, undefined)

    const r = await kvApi.range({ key: 'a' })
    assert.deepEqual(r, { header: { ...r.header, revision: 4 }, kvs: [kv('a', 2, 3, 2, 'y')], more: false, count: 1 })
    const missing = await kvApi.range({ key: 'zz' })
    assert.deepEqual({ ...missing, header: undefined }, { header: undefined, kvs: [], more: false, count: 0 })
    const bytesKey = await kvApi.range({ key: new Uint8Array([0x62, 0xff]) })
    assert.deepEqual(bytesKey.kvs, [{ key: new Uint8Array([0x62, 0xff]), createRevision: 4, modRevision: 4, version: 1, value: new Uint8Array(), lease: '0' }])
  })

  test('limit, count, more, filters, keysOnly, countOnly', async (t) => {
    if (etcdBinaryOrSkip(t) === undefined) return
    for (const k of ['c1', 'c2', 'c3', 'c4']) await kvApi.put({ key: k, value: 'v' }) // revisions 5..8
    const limited = await kvApi.range({ key: 'c', rangeEnd: 'd', limit: 2, keysOnly: true })
    assert.deepEqual(limited.kvs.map((k) => [new TextDecoder().decode(k.key), k.value.length]), [['c1', 0], ['c2', 0]])
    assert.equal(limited.more, true)
    assert.equal(limited.count, 4, 'count is the size of the whole range, before limit')

    // Filters apply after counting: count stays 4; `more` is judged after filtering.
    const filtered = await kvApi.range({ key: 'c', rangeEnd: 'd', limit: 2, minModRevision: 7 })
    assert.deepEqual(filtered.kvs.map((k) => k.modRevision), [7, 8])
    assert.equal(filtered.more, false)
    assert.equal(filtered.count, 4)

    const counted = await kvApi.range({ key: 'c', rangeEnd: 'd', limit: 1, countOnly: true })
    assert.deepEqual({ ...counted, header: undefined }, { header: undefined, kvs: [], more: false, count: 4 })

    // Negative limit and negative revision mean "no limit" and "latest".
    const neg = await kvApi.range({ key: 'c', rangeEnd: 'd', limit: -1, revision: -3 })
    assert.equal(neg.kvs.length, 4)
    assert.equal(neg.header.revision, 8)

    // A reversed range (rangeEnd < key) is empty.
    const reversed = await kvApi.range({ key: 'd', rangeEnd: 'c' })
    assert.deepEqual([reversed.kvs, reversed.count], [[], 0])

    // Sorting by a non-key target with sortOrder NONE sorts ascending.
    const byMod = await kvApi.range({ key: 'c', rangeEnd: 'd', sortTarget: 'MOD', sortOrder: 'DESCEND' })
    assert.deepEqual(byMod.kvs.map((k) => k.modRevision), [8, 7, 6, 5])
  })

  test('historical reads report the current revision in their header', async (t) => {
    if (etcdBinaryOrSkip(t) === undefined) return
    const r = await kvApi.range({ key: 'c', rangeEnd: 'd', revision: 6 })
    assert.deepEqual(r.kvs.map((k) => k.modRevision), [5, 6])
    assert.equal(r.count, 2)
    assert.equal(r.header.revision, 8)
    await rejects(kvApi.range({ key: 'a', revision: 9 }), 'etcdserver: mvcc: required revision is a future revision', 'OutOfRange', 'ErrFutureRev')
  })

  test('deleteRange', async (t) => {
    if (etcdBinaryOrSkip(t) === undefined) return
    const d = await kvApi.deleteRange({ key: 'c3', rangeEnd: '\0', prevKv: true })
    assert.equal(d.header.revision, 9)
    assert.equal(d.deleted, 2)
    assert.deepEqual(d.prevKvs, [kv('c3', 7, 7, 1, 'v'), kv('c4', 8, 8, 1, 'v')])
    const none = await kvApi.deleteRange({ key: 'nothing', prevKv: true })
    assert.deepEqual({ ...none, header: undefined }, { header: undefined, deleted: 0, prevKvs: [] })
    assert.equal(none.header.revision, 9, 'deleting nothing does not bump the revision')
  })

  test('txn: nested response headers carry only the revision; a nested txn header is empty', async (t) => {
    if (etcdBinaryOrSkip(t) === undefined) return
    const r = await kvApi.txn({
      compare: [{ key: 'a', target: 'VERSION', result: 'EQUAL', version: 2 }],
      success: [
        { requestRange: { key: 'a' } },
        { requestPut: { key: 'b', value: 'v' } },
        { requestDeleteRange: { key: 'nothing' } },
        { requestTxn: { success: [{ requestRange: { key: 'b' } }] } },
      ],
    })
    assert.equal(r.header.revision, 10)
    assert.equal(r.succeeded, true)
    assert.deepEqual(r.responses, [
      { responseRange: { header: nestedHeader(9), kvs: [kv('a', 2, 3, 2, 'y')], more: false, count: 1 } },
      { responsePut: { header: nestedHeader(10) } },
      { responseDeleteRange: { header: nestedHeader(10), deleted: 0, prevKvs: [] } },
      {
        responseTxn: {
          header: nestedHeader(0),
          succeeded: true,
          responses: [{ responseRange: { header: nestedHeader(10), kvs: [kv('b', 10, 10, 1, 'v')], more: false, count: 1 } }],
        },
      },
    ])
    // A compare on VALUE against an empty value is a real comparison (the union is set).
    const empty = await kvApi.txn({ compare: [{ key: new Uint8Array([0x62, 0xff]), target: 'VALUE', result: 'EQUAL', value: '' }] })
    assert.equal(empty.succeeded, true)
    // An empty txn succeeds without a write.
    const noop = await kvApi.txn({})
    assert.deepEqual([noop.succeeded, noop.responses, noop.header.revision], [true, [], 10])
  })

  test('errors carry etcd messages and gRPC codes', async (t) => {
    if (etcdBinaryOrSkip(t) === undefined) return
    const invalid = 'InvalidArgument'
    await rejects(kvApi.put({ key: '', value: 'x' }), 'etcdserver: key is not provided', invalid, 'ErrEmptyKey')
    await rejects(kvApi.range({ key: '' }), 'etcdserver: key is not provided', invalid)
    await rejects(kvApi.deleteRange({}), 'etcdserver: key is not provided', invalid)
    await rejects(kvApi.put({ key: 'missing', ignoreValue: true }), 'etcdserver: key not found', invalid, 'ErrKeyNotFound')
    await rejects(kvApi.put({ key: 'a', value: 'x', ignoreValue: true }), 'etcdserver: value is provided', invalid, 'ErrValueProvided')
    await rejects(kvApi.put({ key: 'a', lease: 5, ignoreLease: true }), 'etcdserver: lease is provided', invalid, 'ErrLeaseProvided')
    await rejects(kvApi.put({ key: 'a', lease: 5 }), 'etcdserver: requested lease not found', 'NotFound', 'ErrLeaseNotFound')
    await rejects(
      kvApi.txn({ success: [{ requestPut: { key: 'k' } }, { requestPut: { key: 'k' } }] }),
      'etcdserver: duplicate key given in txn request',
      invalid,
      'ErrDuplicateKey',
    )
    await rejects(
      kvApi.txn({ failure: [{ requestDeleteRange: { key: 'k', rangeEnd: 'l' } }, { requestPut: { key: 'k2' } }] }),
      'etcdserver: duplicate key given in txn request',
      invalid,
    )
    // etcd 3.4 quirk: a from-key delete (rangeEnd '\0') is an empty interval to the
    // duplicate check, so a put under it in the same branch is accepted.
    const fromKey = await kvApi.txn({ failure: [{ requestDeleteRange: { key: 'k', rangeEnd: '\0' } }, { requestPut: { key: 'k2' } }] })
    assert.equal(fromKey.succeeded, true)
    await rejects(
      kvApi.txn({ success: Array.from({ length: 129 }, () => ({ requestRange: { key: 'a' } })) }),
      'etcdserver: too many operations in txn request',
      invalid,
      'ErrTooManyOps',
    )
    await kvApi.txn({ success: Array.from({ length: 128 }, () => ({ requestRange: { key: 'a' } })) })
    await rejects(kvApi.txn({ compare: [{ key: '', target: 'VALUE', result: 'EQUAL' }] }), 'etcdserver: key is not provided', invalid)
    const after = await kvApi.range({ key: 'a' })
    assert.equal(after.header.revision, 10, 'refused requests change nothing')
  })

  test('compaction: boundary, already compacted, future', async (t) => {
    if (etcdBinaryOrSkip(t) === undefined) return
    const c = await kvApi.compact({ revision: 6 })
    assert.equal(c.header.revision, 10)
    const compacted = 'etcdserver: mvcc: required revision has been compacted'
    await rejects(kvApi.compact({ revision: 6 }), compacted, 'OutOfRange', 'ErrCompacted')
    await rejects(kvApi.compact({ revision: 0 }), compacted, 'OutOfRange')
    await rejects(kvApi.compact({ revision: -1 }), compacted, 'OutOfRange')
    await rejects(kvApi.compact({ revision: 11 }), 'etcdserver: mvcc: required revision is a future revision', 'OutOfRange')
    // Reading at the compaction revision itself still works; one below does not.
    const at = await kvApi.range({ key: 'c', rangeEnd: 'd', revision: 6 })
    assert.deepEqual(at.kvs.map((k) => k.modRevision), [5, 6])
    await rejects(kvApi.range({ key: 'a', revision: 5 }), compacted, 'OutOfRange')
    await rejects(kvApi.txn({ success: [{ requestRange: { key: 'a', revision: 5 } }] }), compacted, 'OutOfRange')
    // Compacting the current revision is allowed.
    await kvApi.compact({ revision: 10, physical: true })
  })
})
