/**
 * The applier: executes one committed KV request against a member's MVCC store, with
 * etcd's exact semantics (etcd's `applierV3backend`). Every member applies the same
 * committed requests in the same order and so reaches the same state.
 *
 * @module
 */
import type {
  Compare,
  CompactionRequest,
  CompactionResponse,
  DeleteRangeRequest,
  LeaseGrantRequest,
  LeaseGrantResponse,
  LeaseRevokeRequest,
  LeaseRevokeResponse,
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
} from '../api/messages.js'
import { nestedHeader } from '../api/messages.js'
import { EMPTY, compareBytes } from '../api/bytes.js'
import { assert, etcdError } from '../errors.js'
import type { KVStore, TxnWrite, RangeResult, Event } from '../mvcc/index.js'
import type { InternalRequest } from './internal-request.js'
import type { LeaseCheckpoint, Lessor } from '../lease/lessor.js'
import type { AuthStore } from '../auth/auth-store.js'
import { checkDeleteRange, checkLeasePuts, checkPut, checkTxn } from '../auth/permissions.js'

/** Something that answers MVCC ranges: the store itself or a write txn (which sees its own writes). */
interface RangeReader {
  range(key: Uint8Array, end: Uint8Array | undefined, opts: { limit?: number; rev?: number; count?: boolean; keysOnly?: boolean }): Promise<RangeResult>
}

/** Looks leases up while applying; `exists('0')` is never asked. */
export interface LeaseLookup {
  exists(id: string): boolean
}

/** The lease state the applier changes: a {@link Lessor} (grant, revoke, attachments). */
export type LeaseState = Pick<Lessor, 'exists' | 'grant' | 'revoke' | 'sortedKeys' | 'applyEvents' | 'checkpoint'>

/** What applying one request produced: the response, or etcd's error, and the MVCC events. */
export interface ApplyResult<R> {
  response: R
  events: readonly Event[]
}

/** Maps a request's `rangeEnd` to MVCC's end: empty → single key, `[0]` → to the end of the keyspace (etcd's mkGteRange). */
export function mvccEnd(rangeEnd: Uint8Array): Uint8Array | undefined {
  if (rangeEnd.length === 0) return undefined
  if (rangeEnd.length === 1 && rangeEnd[0] === 0) return EMPTY
  return rangeEnd
}

/** A put op with nothing to read first and no lease to check (what {@link Applier.applyNow} takes). */
function isPlainPut(op: RequestOp): boolean {
  if (!('requestPut' in op)) return false
  const p = op.requestPut
  return !p.prevKv && !p.ignoreValue && !p.ignoreLease && p.lease === '0'
}

/** Who sent `req`, as the auth checks take it. */
function authInfo(req: InternalRequest): { username: string; revision: number } {
  return { username: req.header.username ?? '', revision: req.header.authRevision ?? 0 }
}

function meta(index: number | undefined): { consistentIndex?: number } {
  return index === undefined ? {} : { consistentIndex: index }
}

function compareNum(a: number, b: number): number {
  return a < b ? -1 : a > b ? 1 : 0
}

function compareLease(a: string, b: string): number {
  const x = BigInt(a)
  const y = BigInt(b)
  return x < y ? -1 : x > y ? 1 : 0
}

const SORTERS: Record<RangeRequest['sortTarget'], (a: KeyValue, b: KeyValue) => number> = {
  KEY: (a, b) => compareBytes(a.key, b.key),
  VERSION: (a, b) => compareNum(a.version, b.version),
  CREATE: (a, b) => compareNum(a.createRevision, b.createRevision),
  MOD: (a, b) => compareNum(a.modRevision, b.modRevision),
  VALUE: (a, b) => compareBytes(a.value, b.value),
}

/** The zero KeyValue etcd compares against when a compared key does not exist. */
const ZERO_KV: KeyValue = { key: EMPTY, createRevision: 0, modRevision: 0, version: 0, value: EMPTY, lease: '0' }

function compareKV(c: Compare, kv: KeyValue): boolean {
  let result: number
  switch (c.target) {
    case 'VALUE':
      result = compareBytes(kv.value, c.value)
      break
    case 'CREATE':
      result = compareNum(kv.createRevision, c.createRevision)
      break
    case 'MOD':
      result = compareNum(kv.modRevision, c.modRevision)
      break
    case 'VERSION':
      result = compareNum(kv.version, c.version)
      break
    case 'LEASE':
      result = compareLease(kv.lease, c.lease)
      break
  }
  switch (c.result) {
    case 'EQUAL':
      return result === 0
    case 'NOT_EQUAL':
      return result !== 0
    case 'GREATER':
      return result > 0
    case 'LESS':
      return result < 0
  }
}

/** Is this txn free of writes on every branch, nested ones included (etcd's isTxnReadonly)? */
export function isTxnReadonly(r: TxnRequest): boolean {
  const ro = (ops: RequestOp[]) =>
    ops.every((op) => ('requestRange' in op ? true : 'requestTxn' in op ? isTxnReadonly(op.requestTxn) : false))
  return ro(r.success) && ro(r.failure)
}

/**
 * Applies KV requests to one member's {@link KVStore}. Callers serialize applies: one at a
 * time, in log order. Reads (`range`) may run concurrently with an apply.
 */
export class Applier {
  constructor(
    private readonly kv: KVStore,
    private readonly leases: LeaseLookup = { exists: () => false },
    /** The member's lessor; without it lease requests cannot be applied and keys attach to nothing. */
    private readonly lessor?: LeaseState,
    /** The member's clock time, for the expiry of a lease granted on the primary. */
    private readonly now: () => number = () => 0,
    /** The member's auth store; with it, requests are checked against their sender's permissions and auth requests applied. */
    private readonly auth?: AuthStore,
  ) {}

  private attach(events: readonly Event[]): void {
    if (events.length > 0) this.lessor?.applyEvents(events)
  }

  /** A range outside any txn, at the store's current state (or `request.revision`). */
  range(r: RangeRequest): Promise<RangeResponse> {
    return this.rangeOn(this.kv, r)
  }

  private async rangeOn(reader: RangeReader, r: RangeRequest): Promise<RangeResponse> {
    let limit = r.limit
    if (r.sortOrder !== 'NONE' || r.minModRevision !== 0 || r.maxModRevision !== 0 || r.minCreateRevision !== 0 || r.maxCreateRevision !== 0) {
      limit = 0 // fetch everything; sort and truncate afterwards
    }
    if (limit > 0) limit += 1 // one extra for the 'more' flag
    // keys_only drops values after sorting, as etcd: sorting by value still reads them
    const keysOnly = r.keysOnly && r.sortTarget !== 'VALUE'
    const rr = await reader.range(r.key, mvccEnd(r.rangeEnd), { limit, rev: r.revision, count: r.countOnly, keysOnly })
    let kvs = rr.kvs
    if (r.maxModRevision !== 0) kvs = kvs.filter((kv) => !(kv.modRevision > r.maxModRevision))
    if (r.minModRevision !== 0) kvs = kvs.filter((kv) => !(kv.modRevision < r.minModRevision))
    if (r.maxCreateRevision !== 0) kvs = kvs.filter((kv) => !(kv.createRevision > r.maxCreateRevision))
    if (r.minCreateRevision !== 0) kvs = kvs.filter((kv) => !(kv.createRevision < r.minCreateRevision))

    let sortOrder = r.sortOrder
    // MVCC returns keys in ascending order, so etcd sorts by default only when the target is not KEY.
    if (r.sortTarget !== 'KEY' && sortOrder === 'NONE') sortOrder = 'ASCEND'
    if (sortOrder !== 'NONE') {
      const cmp = SORTERS[r.sortTarget]
      // Stable sort: ties keep key order. (etcd's Go sort is not stable; ties may come in another order there.)
      kvs = sortOrder === 'ASCEND' ? [...kvs].sort(cmp) : [...kvs].sort((a, b) => cmp(b, a))
    }
    let more = false
    if (r.limit > 0 && kvs.length > r.limit) {
      kvs = kvs.slice(0, r.limit)
      more = true
    }
    if (r.keysOnly) kvs = kvs.map((kv) => ({ ...kv, value: EMPTY }))
    return { header: nestedHeader(rr.rev), kvs, more, count: rr.count }
  }

  /**
   * Applies one committed request at log index `index`; the index is written in the same
   * batch as the request's changes, so a restart neither skips nor repeats it. An etcd
   * error (key not found, lease not found, compacted...) means nothing was written.
   */
  async apply(req: InternalRequest, index: number): Promise<ApplyResult<unknown>> {
    if (this.auth !== undefined) {
      // etcd's authApplierV3: the sender's permissions are checked before anything is read or written
      const ai = authInfo(req)
      if ('put' in req) checkPut(this.auth, this.lessor, ai, req.put)
      else if ('deleteRange' in req) checkDeleteRange(this.auth, ai, req.deleteRange)
      else if ('txn' in req) checkTxn(this.auth, ai, req.txn)
      else if ('leaseRevoke' in req) checkLeasePuts(this.auth, this.lessor, ai, req.leaseRevoke.id)
      else if ('auth' in req) {
        const { response, ops } = this.auth.apply(req.auth, ai, index)
        await this.kv.write().end({ ...meta(index), extra: ops })
        return { response: { header: nestedHeader(this.kv.rev), ...response }, events: [] }
      }
    }
    if ('put' in req) return this.put(req.put, index)
    if ('deleteRange' in req) return this.deleteRange(req.deleteRange, index)
    if ('txn' in req) return this.txn(req.txn, index)
    if ('leaseGrant' in req) return { response: await this.leaseGrant(req.leaseGrant, index), events: [] }
    if ('leaseRevoke' in req) return this.leaseRevoke(req.leaseRevoke, index)
    if ('leaseCheckpoint' in req) return { response: await this.leaseCheckpoint(req.leaseCheckpoint.checkpoints, index), events: [] }
    assert(!('auth' in req), 'auth request applied without an auth store')
    // cluster requests (alarms, member updates) are applied by the member itself
    assert(!('alarm' in req) && !('memberUpdate' in req), 'cluster request handed to the KV applier')
    return { response: await this.compaction(req.compaction, index), events: [] }
  }

  /**
   * {@link apply} done at once, for the requests a member applies most, while the store is
   * in group commit: a plain put (no `prevKv`, `ignoreValue` or `ignoreLease`, which read
   * first) and a compare-and-swap txn ({@link txnNowApplies}). The same checks in the same
   * order, the same write, the same errors (thrown). Returns `undefined`, having done
   * nothing, for any other request: use {@link apply}.
   */
  applyNow(req: InternalRequest, index: number): ApplyResult<unknown> | undefined {
    if (!this.kv.batching) return undefined
    if ('txn' in req) {
      if (!this.txnNowApplies(req.txn)) return undefined
      if (this.auth !== undefined) checkTxn(this.auth, authInfo(req), req.txn)
      return this.txnNow(req.txn, index)
    }
    if (!('put' in req)) return undefined
    const p = req.put
    if (p.prevKv || p.ignoreValue || p.ignoreLease) return undefined
    if (this.auth !== undefined) checkPut(this.auth, this.lessor, authInfo(req), p)
    if (p.lease !== '0' && !this.leases.exists(p.lease)) throw etcdError('LeaseNotFound')
    const txn = this.kv.write()
    const rev = txn.put(p.key, p.value, p.lease)
    const events = txn.changes()
    txn.endBuffered(meta(index))
    this.attach(events)
    return { response: { header: nestedHeader(rev) }, events }
  }

  /**
   * {@link txn} done at once for a compare-and-swap ({@link txnNowApplies}): compares of
   * single keys on CREATE, MOD or VERSION (read from the index), and both branches plain
   * puts without a lease.
   */
  private txnNowApplies(rt: TxnRequest): boolean {
    for (const c of rt.compare) {
      if (c.rangeEnd.length !== 0 || (c.target !== 'MOD' && c.target !== 'VERSION' && c.target !== 'CREATE')) return false
    }
    return rt.success.every(isPlainPut) && rt.failure.every(isPlainPut)
  }

  private txnNow(rt: TxnRequest, index: number): ApplyResult<TxnResponse> {
    let succeeded = true
    for (const c of rt.compare) {
      const state = this.kv.currentKeyState(c.key)
      if (!compareKV(c, state === undefined ? ZERO_KV : { ...ZERO_KV, ...state })) {
        succeeded = false
        break // as etcd: the first failed compare decides
      }
    }
    const ops = succeeded ? rt.success : rt.failure
    const txn = this.kv.write()
    const responses: ResponseOp[] = []
    for (const op of ops) {
      const p = (op as { requestPut: PutRequest }).requestPut
      responses.push({ responsePut: { header: nestedHeader(txn.put(p.key, p.value, p.lease)) } })
    }
    const events = txn.changes()
    const response: TxnResponse = { header: nestedHeader(txn.beginRev + (events.length > 0 ? 1 : 0)), succeeded, responses }
    txn.endBuffered(meta(index))
    this.attach(events)
    return { response, events }
  }

  /** Applies a put (etcd `applierV3backend.Put`). */
  async put(p: PutRequest, index?: number): Promise<ApplyResult<PutResponse>> {
    if (p.lease !== '0' && !this.leases.exists(p.lease)) throw etcdError('LeaseNotFound')
    const txn = this.kv.write()
    let response: PutResponse
    try {
      response = await this.putIn(txn, p)
    } catch (err) {
      await txn.end() // nothing was written; end the txn as etcd's deferred End() does
      throw err
    }
    const events = txn.changes()
    await txn.end(meta(index))
    this.attach(events)
    return { response, events }
  }

  private async putIn(txn: TxnWrite, p: PutRequest): Promise<PutResponse> {
    let value = p.value
    let lease = p.lease
    let prev: KeyValue | undefined
    if (p.ignoreValue || p.ignoreLease || p.prevKv) {
      const rr = await txn.range(p.key, undefined, {})
      prev = rr.kvs[0]
    }
    if (p.ignoreValue || p.ignoreLease) {
      // ignore_{value,lease} expect a previous key-value pair
      if (prev === undefined) throw etcdError('KeyNotFound')
      if (p.ignoreValue) value = prev.value
      if (p.ignoreLease) lease = prev.lease
    }
    const rev = txn.put(p.key, value, lease)
    const response: PutResponse = { header: nestedHeader(rev) }
    if (p.prevKv && prev !== undefined) response.prevKv = prev
    return response
  }

  /** Applies a delete of a key or range (etcd `applierV3backend.DeleteRange`). */
  async deleteRange(dr: DeleteRangeRequest, index?: number): Promise<ApplyResult<DeleteRangeResponse>> {
    const txn = this.kv.write()
    const response = await this.deleteIn(txn, dr)
    const events = txn.changes()
    await txn.end(meta(index))
    this.attach(events)
    return { response, events }
  }

  private async deleteIn(txn: TxnWrite, dr: DeleteRangeRequest): Promise<DeleteRangeResponse> {
    const end = mvccEnd(dr.rangeEnd)
    let prevKvs: KeyValue[] = []
    if (dr.prevKv) prevKvs = (await txn.range(dr.key, end, {})).kvs
    const { deleted, rev } = await txn.deleteRange(dr.key, end)
    return { header: nestedHeader(rev), deleted, prevKvs }
  }

  /**
   * Applies a txn (etcd `applierV3backend.Txn`): every compare on every taken branch is
   * evaluated against the state before the txn; then the chosen ops' preconditions are
   * checked (leases exist, ignore_* keys exist, range revisions valid) so that a failing txn
   * changes nothing; then the ops run in one write, all at one new revision.
   */
  async txn(rt: TxnRequest, index?: number): Promise<ApplyResult<TxnResponse>> {
    const path = await this.compareToPath(rt)
    if (hasCheckedOps(rt)) {
      const write = !isTxnReadonly(rt)
      if (write) await this.checkRequests(rt, path.slice(), (op) => this.checkPut(op))
      await this.checkRequests(rt, path.slice(), (op) => this.checkRange(op))
    }

    const txn = this.kv.write()
    const cursor = { path, at: 0 }
    const response = await this.applyTxn(txn, rt, cursor)
    const events = txn.changes()
    response.header = nestedHeader(txn.beginRev + (events.length > 0 ? 1 : 0))
    await txn.end(meta(index))
    this.attach(events)
    return { response, events }
  }

  private async compareToPath(rt: TxnRequest): Promise<boolean[]> {
    let ok = true
    for (const c of rt.compare) {
      if (!(await this.applyCompare(c))) {
        ok = false
        break
      }
    }
    const path = [ok]
    for (const op of ok ? rt.success : rt.failure) {
      if ('requestTxn' in op) path.push(...(await this.compareToPath(op.requestTxn)))
    }
    return path
  }

  private async applyCompare(c: Compare): Promise<boolean> {
    // only a VALUE compare reads values: the others need the revisions, version and lease
    const rr = await this.kv.range(c.key, mvccEnd(c.rangeEnd), { keysOnly: c.target !== 'VALUE' })
    if (rr.kvs.length === 0) {
      // Comparing the value of a key that does not exist always fails: no value is not the empty value.
      if (c.target === 'VALUE') return false
      return compareKV(c, ZERO_KV)
    }
    return rr.kvs.every((kv) => compareKV(c, kv))
  }

  /** Walks the ops of the taken branches (etcd's checkRequests), calling `check` on each non-txn op. */
  private async checkRequests(rt: TxnRequest, path: boolean[], check: (op: RequestOp) => Promise<void>): Promise<number> {
    let txns = 0
    const ops = path[0] ? rt.success : rt.failure
    let rest = path.slice(1)
    for (const op of ops) {
      if ('requestTxn' in op) {
        const n = await this.checkRequests(op.requestTxn, rest, check)
        txns += n + 1
        rest = rest.slice(n + 1)
        continue
      }
      await check(op)
    }
    return txns
  }

  private async checkPut(op: RequestOp): Promise<void> {
    if (!('requestPut' in op)) return
    const p = op.requestPut
    if (p.ignoreValue || p.ignoreLease) {
      const rr = await this.kv.range(p.key, undefined, {})
      if (rr.kvs.length === 0) throw etcdError('KeyNotFound')
    }
    if (p.lease !== '0' && !this.leases.exists(p.lease)) throw etcdError('LeaseNotFound')
  }

  private async checkRange(op: RequestOp): Promise<void> {
    if (!('requestRange' in op)) return
    const rev = op.requestRange.revision
    if (rev === 0) return
    if (rev > this.kv.rev) throw etcdError('FutureRev')
    if (rev < this.kv.compactRev) throw etcdError('Compacted')
  }

  private async applyTxn(txn: TxnWrite, rt: TxnRequest, cursor: { path: boolean[]; at: number }): Promise<TxnResponse> {
    const succeeded = cursor.path[cursor.at++]!
    const responses: ResponseOp[] = []
    for (const op of succeeded ? rt.success : rt.failure) {
      if ('requestRange' in op) responses.push({ responseRange: await this.rangeOn(txn, op.requestRange) })
      else if ('requestPut' in op) responses.push({ responsePut: await this.putIn(txn, op.requestPut) })
      else if ('requestDeleteRange' in op) responses.push({ responseDeleteRange: await this.deleteIn(txn, op.requestDeleteRange) })
      else responses.push({ responseTxn: await this.applyTxn(txn, op.requestTxn, cursor) })
    }
    // A nested txn's header stays empty in etcd; the top-level caller overwrites its own.
    return { header: nestedHeader(0), succeeded, responses }
  }

  /**
   * Applies a lease grant (etcd `applierV3backend.LeaseGrant`): the lease record is stored
   * in the same batch as the entry's index. Errors (exists, TTL too large) change nothing.
   */
  async leaseGrant(r: LeaseGrantRequest, index?: number): Promise<LeaseGrantResponse> {
    assert(this.lessor !== undefined, 'lease request applied without a lessor')
    const { lease, ops } = this.lessor.grant(r.id, r.ttl, this.now())
    await this.kv.write().end({ ...meta(index), extra: ops })
    return { header: nestedHeader(this.kv.rev), id: lease.id, ttl: lease.ttl, error: '' }
  }

  /**
   * Applies a lease revoke (etcd `lessor.Revoke`): every attached key is deleted, in key
   * order, in one write (one revision), and the lease record is removed in the same batch.
   */
  async leaseRevoke(r: LeaseRevokeRequest, index?: number): Promise<ApplyResult<LeaseRevokeResponse>> {
    assert(this.lessor !== undefined, 'lease request applied without a lessor')
    if (!this.lessor.exists(r.id)) throw etcdError('LeaseNotFound')
    const txn = this.kv.write()
    for (const key of this.lessor.sortedKeys(r.id)) await txn.deleteRange(key, undefined)
    const events = txn.changes()
    const ops = this.lessor.revoke(r.id)
    await txn.end({ ...meta(index), extra: ops })
    this.attach(events)
    return { response: { header: nestedHeader(this.kv.rev) }, events }
  }

  /**
   * Applies lease checkpoints (etcd `applierV3backend.LeaseCheckpoint`): each known lease's
   * remaining TTL is recorded and persisted in the same batch as the entry's index; unknown
   * (revoked) leases are skipped. No revision, no events.
   */
  async leaseCheckpoint(checkpoints: readonly LeaseCheckpoint[], index?: number): Promise<{ header: ResponseHeader }> {
    assert(this.lessor !== undefined, 'lease request applied without a lessor')
    const now = this.now()
    const ops = checkpoints.flatMap((c) => this.lessor!.checkpoint(c.id, c.remainingTtl, now))
    await this.kv.write().end({ ...meta(index), extra: ops })
    return { header: nestedHeader(this.kv.rev) }
  }

  /** Applies a compaction (etcd `applierV3backend.Compaction`). */
  async compaction(c: CompactionRequest, index?: number): Promise<CompactionResponse> {
    await this.kv.compact(c.revision)
    if (index !== undefined) await this.kv.write().end(meta(index))
    return { header: nestedHeader(this.kv.rev) }
  }
}

/**
 * True when an op of `rt` (either branch, nested txns included) is one the pre-checks look
 * at: a put with `ignoreValue`, `ignoreLease` or a lease, or a range at a revision. Most txns
 * (a compare-and-swap) have none, and skip the checks' walk.
 */
function hasCheckedOps(rt: TxnRequest): boolean {
  for (const branch of [rt.success, rt.failure]) {
    for (const op of branch) {
      if ('requestPut' in op) {
        const p = op.requestPut
        if (p.ignoreValue || p.ignoreLease || p.lease !== '0') return true
      } else if ('requestRange' in op) {
        if (op.requestRange.revision !== 0) return true
      } else if ('requestTxn' in op && hasCheckedOps(op.requestTxn)) return true
    }
  }
  return false
}
