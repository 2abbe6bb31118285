/**
 * etcd's permission checks on key requests (`authApplierV3` and the server's serialized
 * reads): which key ranges a put, delete, txn or lease revoke reads and writes, checked
 * against the sender's credentials before anything is read or written.
 *
 * @module
 */
import type { DeleteRangeRequest, PutRequest, RangeRequest, RequestOp, TxnRequest } from '../api/messages.js'
import { EMPTY } from '../api/bytes.js'
import type { AuthInfo } from './auth-request.js'
import type { AuthStore } from './auth-store.js'

/** The lease lookups a lease permission check needs: a lease's attached keys. */
export interface LeaseKeys {
  exists(id: string): boolean
  sortedKeys(id: string): Uint8Array[]
}

/** A range (etcd `IsRangePermitted` on [key, rangeEnd)). */
export function checkRange(auth: AuthStore, ai: AuthInfo, r: Pick<RangeRequest, 'key' | 'rangeEnd'>): void {
  auth.checkOp(ai, r.key, r.rangeEnd, 'READ')
}

/** etcd `checkLeasePuts`: the sender must be able to write every key already attached to the lease (root always can). */
export function checkLeasePuts(auth: AuthStore, leases: LeaseKeys | undefined, ai: AuthInfo, id: string): void {
  if (id === '0' || leases === undefined || !leases.exists(id)) return
  if (auth.isAdmin(ai)) return
  for (const key of leases.sortedKeys(id)) auth.checkOp(ai, key, EMPTY, 'WRITE')
}

/** A put (etcd `authApplierV3.Put`): WRITE on the key, the lease's keys, READ on the key for `prevKv`. */
export function checkPut(auth: AuthStore, leases: LeaseKeys | undefined, ai: AuthInfo, r: PutRequest): void {
  auth.checkOp(ai, r.key, EMPTY, 'WRITE')
  checkLeasePuts(auth, leases, ai, r.lease)
  if (r.prevKv) auth.checkOp(ai, r.key, EMPTY, 'READ')
}

/** A delete (etcd `authApplierV3.DeleteRange`): WRITE on the range, READ too for `prevKv`. */
export function checkDeleteRange(auth: AuthStore, ai: AuthInfo, r: DeleteRangeRequest): void {
  auth.checkOp(ai, r.key, r.rangeEnd, 'WRITE')
  if (r.prevKv) auth.checkOp(ai, r.key, r.rangeEnd, 'READ')
}

function checkOps(auth: AuthStore, ai: AuthInfo, ops: RequestOp[]): void {
  for (const op of ops) {
    if ('requestRange' in op) auth.checkOp(ai, op.requestRange.key, op.requestRange.rangeEnd, 'READ')
    else if ('requestPut' in op) {
      auth.checkOp(ai, op.requestPut.key, EMPTY, 'WRITE')
      // stricter than etcd (whose checkTxnReqsPermission skips it): a put's prevKv is a read of the key
      if (op.requestPut.prevKv) auth.checkOp(ai, op.requestPut.key, EMPTY, 'READ')
    } else if ('requestDeleteRange' in op) {
      const d = op.requestDeleteRange
      if (d.prevKv) auth.checkOp(ai, d.key, d.rangeEnd, 'READ')
      auth.checkOp(ai, d.key, d.rangeEnd, 'WRITE')
    } else checkTxn(auth, ai, op.requestTxn)
  }
}

/**
 * A txn (etcd `checkTxnAuth`): READ on every compared range, then every op of both
 * branches, nested txns included, whichever branch would run. Stricter than etcd 3.4 in two
 * ways, both so that no txn returns a key outside the sender's READ grant: nested txns are
 * checked, and a put with `prevKv` needs READ on its key as a plain put does.
 */
export function checkTxn(auth: AuthStore, ai: AuthInfo, r: TxnRequest): void {
  for (const c of r.compare) auth.checkOp(ai, c.key, c.rangeEnd, 'READ')
  checkOps(auth, ai, r.success)
  checkOps(auth, ai, r.failure)
}
