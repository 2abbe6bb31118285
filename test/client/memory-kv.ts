/**
 * A small in-memory KVApi for developing the client layer before `Store` exists. It keeps
 * every revision of every key in one event list (slow, simple) and validates requests with
 * the service's own zod schemas. Not a reference implementation: only what the client
 * tests observe.
 */
import type {
  Compare,
  CompactionResponse,
  DeleteRangeRequest,
  DeleteRangeResponse,
  KeyValue,
  PutRequest,
  PutResponse,
  RangeRequest,
  RangeResponse,
  RequestOp,
  ResponseHeader,
  ResponseOp,
  TxnRequest,
  TxnResponse,
} from '../../src/api/messages.js'
import { EMPTY, ZERO, compareBytes, equalBytes, toBinaryString } from '../../src/api/bytes.js'
import { etcdError } from '../../src/errors.js'
import type { KVApi } from '../../src/services/kv-api.js'
import {
  compactionRequestSchema,
  deleteRangeRequestSchema,
  parseRequest,
  putRequestSchema,
  rangeRequestSchema,
  txnRequestSchema,
  type CompactionRequestInput,
  type DeleteRangeRequestInput,
  type PutRequestInput,
  type RangeRequestInput,
  type TxnRequestInput,
} from '../../src/services/kv-schema.js'

interface Event {
  rev: number
  key: string
  kv: KeyValue | null
}

export class MemoryKV implements KVApi {
  private rev = 1
  private readonly events: Event[] = []

  async range(input: RangeRequestInput): Promise<RangeResponse> {
    const req = parseRequest(rangeRequestSchema, input, 'RangeRequest')
    return this.doRange(req)
  }

  async put(input: PutRequestInput): Promise<PutResponse> {
    const req = parseRequest(putRequestSchema, input, 'PutRequest')
    if (req.key.length === 0) throw etcdError('EmptyKey')
    this.rev++
    return this.doPut(req, this.rev)
  }

  async deleteRange(input: DeleteRangeRequestInput): Promise<DeleteRangeResponse> {
    const req = parseRequest(deleteRangeRequestSchema, input, 'DeleteRangeRequest')
    if (req.key.length === 0) throw etcdError('EmptyKey')
    const res = this.doDelete(req, this.rev + 1)
    if (res.deleted > 0) this.rev++
    return { ...res, header: this.header() }
  }

  async txn(input: TxnRequestInput): Promise<TxnResponse> {
    const req = parseRequest(txnRequestSchema, input, 'TxnRequest')
    const before = this.events.length
    const res = this.doTxn(req, this.rev + 1)
    if (this.events.length > before) this.rev++
    return { ...res, header: this.header() }
  }

  async compact(input: CompactionRequestInput): Promise<CompactionResponse> {
    parseRequest(compactionRequestSchema, input, 'CompactionRequest')
    return { header: this.header() }
  }

  private header(): ResponseHeader {
    return { clusterId: '1', memberId: '1', revision: this.rev, raftTerm: 1 }
  }

  private snapshot(rev: number): Map<string, KeyValue> {
    const m = new Map<string, KeyValue>()
    for (const e of this.events) {
      if (e.rev > rev) break
      if (e.kv === null) m.delete(e.key)
      else m.set(e.key, e.kv)
    }
    return m
  }

  private inRange(kv: KeyValue, key: Uint8Array, end: Uint8Array): boolean {
    if (end.length === 0) return equalBytes(kv.key, key)
    if (compareBytes(kv.key, key) < 0) return false
    return equalBytes(end, ZERO) || compareBytes(kv.key, end) < 0
  }

  private doRange(req: RangeRequest, pending = this.rev): RangeResponse {
    if (req.key.length === 0) throw etcdError('EmptyKey')
    if (req.revision > this.rev) throw etcdError('FutureRev')
    const at = req.revision > 0 ? req.revision : pending
    let kvs = [...this.snapshot(at).values()].filter((kv) => this.inRange(kv, req.key, req.rangeEnd))
    kvs.sort((a, b) => compareBytes(a.key, b.key))
    if (req.minModRevision) kvs = kvs.filter((kv) => kv.modRevision >= req.minModRevision)
    if (req.maxModRevision) kvs = kvs.filter((kv) => kv.modRevision <= req.maxModRevision)
    if (req.minCreateRevision) kvs = kvs.filter((kv) => kv.createRevision >= req.minCreateRevision)
    if (req.maxCreateRevision) kvs = kvs.filter((kv) => kv.createRevision <= req.maxCreateRevision)
    const count = kvs.length
    const order = req.sortOrder === 'NONE' && req.sortTarget !== 'KEY' ? 'ASCEND' : req.sortOrder
    if (order !== 'NONE') {
      const by = (kv: KeyValue): number | Uint8Array =>
        ({ KEY: kv.key, VERSION: kv.version, CREATE: kv.createRevision, MOD: kv.modRevision, VALUE: kv.value })[req.sortTarget]
      const cmp = (a: KeyValue, b: KeyValue): number => {
        const x = by(a)
        const y = by(b)
        return typeof x === 'number' && typeof y === 'number' ? x - y : compareBytes(x as Uint8Array, y as Uint8Array)
      }
      kvs.sort((a, b) => (order === 'DESCEND' ? -cmp(a, b) : cmp(a, b)))
    }
    const more = req.limit > 0 && kvs.length > req.limit
    if (req.limit > 0) kvs = kvs.slice(0, req.limit)
    if (req.countOnly) kvs = []
    if (req.keysOnly) kvs = kvs.map((kv) => ({ ...kv, value: EMPTY }))
    return { header: this.header(), kvs, more, count }
  }

  private doPut(req: PutRequest, rev: number): PutResponse {
    const id = toBinaryString(req.key)
    const prev = this.snapshot(rev).get(id)
    if ((req.ignoreValue || req.ignoreLease) && prev === undefined) throw etcdError('KeyNotFound')
    const kv: KeyValue = {
      key: req.key,
      createRevision: prev?.createRevision ?? rev,
      modRevision: rev,
      version: (prev?.version ?? 0) + 1,
      value: req.ignoreValue ? prev!.value : req.value,
      lease: req.ignoreLease ? prev!.lease : req.lease,
    }
    this.events.push({ rev, key: id, kv })
    const res: PutResponse = { header: this.header() }
    if (req.prevKv && prev) res.prevKv = prev
    if (rev > this.rev) res.header = { ...res.header, revision: rev }
    return res
  }

  private doDelete(req: DeleteRangeRequest, rev: number): DeleteRangeResponse {
    const gone = [...this.snapshot(rev).values()].filter((kv) => this.inRange(kv, req.key, req.rangeEnd))
    gone.sort((a, b) => compareBytes(a.key, b.key))
    for (const kv of gone) this.events.push({ rev, key: toBinaryString(kv.key), kv: null })
    return { header: this.header(), deleted: gone.length, prevKvs: req.prevKv ? gone : [] }
  }

  private holds(c: Compare, rev: number): boolean {
    const kv = this.snapshot(rev).get(toBinaryString(c.key))
    let d: number
    switch (c.target) {
      case 'VALUE':
        if (kv === undefined) return false
        d = compareBytes(kv.value, c.value)
        break
      case 'VERSION':
        d = (kv?.version ?? 0) - c.version
        break
      case 'CREATE':
        d = (kv?.createRevision ?? 0) - c.createRevision
        break
      case 'MOD':
        d = (kv?.modRevision ?? 0) - c.modRevision
        break
      case 'LEASE':
        d = Number(BigInt(kv?.lease ?? '0') - BigInt(c.lease))
        break
    }
    return { EQUAL: d === 0, NOT_EQUAL: d !== 0, LESS: d < 0, GREATER: d > 0 }[c.result]
  }

  private doTxn(req: TxnRequest, rev: number): TxnResponse {
    const succeeded = req.compare.every((c) => this.holds(c, rev))
    const ops = succeeded ? req.success : req.failure
    const responses = ops.map((op) => this.doOp(op, rev))
    return { header: this.header(), succeeded, responses }
  }

  private doOp(op: RequestOp, rev: number): ResponseOp {
    if ('requestRange' in op) return { responseRange: this.doRange(op.requestRange, rev) }
    if ('requestPut' in op) {
      if (op.requestPut.key.length === 0) throw etcdError('EmptyKey')
      return { responsePut: this.doPut(op.requestPut, rev) }
    }
    if ('requestDeleteRange' in op) return { responseDeleteRange: this.doDelete(op.requestDeleteRange, rev) }
    return { responseTxn: this.doTxn(op.requestTxn, rev) }
  }
}
