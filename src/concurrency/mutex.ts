/**
 * `Mutex` (etcd's `concurrency.Mutex`): a distributed lock whose waiters queue in the order
 * their keys were created, each watching only its predecessor.
 *
 * @module
 */
import type { KeyValue, ResponseHeader, TxnResponse } from '../api/messages.js'
import { prefixEnd, toBytes } from '../api/bytes.js'
import type { CompareInput } from '../services/kv-schema.js'
import type { Session } from './session.js'
import { waitDeletes } from './wait-deletes.js'
import { errCanceled, errLocked, errSessionExpired } from './errors.js'

const SLASH = 0x2f
const SESSION_LOST = Symbol('session lost')
const WAIT_OVER = Symbol('wait over')

/** `prefix + "/"` as bytes (etcd's recipes keep their keys under `<name>/`). */
export function recipePrefix(name: string | Uint8Array): Uint8Array {
  const n = toBytes(name)
  const out = new Uint8Array(n.length + 1)
  out.set(n)
  out[n.length] = SLASH
  return out
}

/** `prefix + hex(lease)`, etcd's `fmt.Sprintf("%s%x", pfx, lease)`. */
export function leaseKey(prefix: Uint8Array, lease: string): Uint8Array {
  const hex = new TextEncoder().encode(BigInt.asUintN(64, BigInt(lease)).toString(16))
  const out = new Uint8Array(prefix.length + hex.length)
  out.set(prefix)
  out.set(hex, prefix.length)
  return out
}

/** Options of {@link Mutex.lock}. */
export interface LockOptions {
  /** Gives up waiting when aborted (etcd's context): the waiter's key is deleted and `lock()` rejects. */
  signal?: AbortSignal
}

/**
 * A distributed mutex on a name (etcd's `concurrency.Mutex`). Locking creates the key
 * `<name>/<lease hex>` under the session's lease; the holder is the key with the smallest
 * create revision under `<name>/`, and each waiter watches the deletion of the newest key
 * created before its own. The lock is lost when the session's lease is.
 */
export class Mutex {
  /** The session whose lease the lock key is attached to. */
  readonly session: Session
  private readonly pfx: Uint8Array
  private myKey: Uint8Array = new Uint8Array(0)
  private myRev = -1
  private hdr: ResponseHeader | undefined

  /** A mutex on `name` (etcd `NewMutex(s, name)`: keys live under `name + "/"`). */
  constructor(session: Session, name: string | Uint8Array) {
    this.session = session
    this.pfx = recipePrefix(name)
  }

  /** The lock key while locked or waiting (etcd `Mutex.Key`); `"\0"` after unlock, empty before the first lock. */
  get key(): Uint8Array {
    return this.myKey
  }

  /** The create revision of the lock key (etcd's `myRev`); -1 when not locked. */
  get revision(): number {
    return this.myRev
  }

  /** The header of the response that granted the lock (etcd `Mutex.Header`). */
  get header(): ResponseHeader | undefined {
    return this.hdr
  }

  /** A compare that holds while this mutex owns the lock, to guard writes in a txn (etcd `Mutex.IsOwner`). */
  isOwner(): CompareInput {
    return { key: this.myKey, target: 'CREATE', result: 'EQUAL', createRevision: this.myRev }
  }

  /**
   * Locks the mutex if nobody else holds it; otherwise deletes the waiter key it created and
   * rejects with `mutex: Locked by another session` (etcd `Mutex.TryLock`).
   */
  async tryLock(): Promise<void> {
    const resp = await this.tryAcquire()
    if (this.ownsPer(resp)) {
      this.hdr = resp.header
      return
    }
    await this.session.client.kv.deleteRange({ key: this.myKey })
    this.reset()
    throw errLocked()
  }

  /**
   * Locks the mutex, waiting until every earlier waiter has released it (etcd `Mutex.Lock`).
   * Rejects with `mutex: session is expired` if the session's lease ran out while waiting;
   * on abort or any failure while waiting, deletes its waiter key first.
   */
  async lock(options: LockOptions = {}): Promise<void> {
    const { signal } = options
    if (signal?.aborted) throw errCanceled(signal.reason)
    const client = this.session.client
    const release = client.clock.hold?.()
    try {
      const resp = await this.tryAcquire()
      if (this.ownsPer(resp)) {
        this.hdr = resp.header
        return
      }
      // stop waiting early when the session's lease is lost, which etcd's Lock does not do (it
      // waits on); the waiter's key went with the lease, so there is nothing to delete
      const waiting = new AbortController()
      const onAbort = (): void => waiting.abort(signal?.reason)
      signal?.addEventListener('abort', onAbort, { once: true })
      void this.session.done.then(() => {
        if (this.session.isLost) waiting.abort(SESSION_LOST)
      })
      try {
        await waitDeletes(client, this.pfx, this.myRev - 1, waiting.signal)
      } catch (err) {
        if (waiting.signal.reason === SESSION_LOST) {
          this.reset()
          throw errSessionExpired()
        }
        await this.unlock().catch(() => {
          // best effort, as etcd's Lock: the key goes with the lease anyway; the wait's error is the one to report
        })
        throw err
      } finally {
        signal?.removeEventListener('abort', onAbort)
        // a wait that ended normally must not be aborted later by the session's end
        if (!waiting.signal.aborted) waiting.abort(WAIT_OVER)
      }
      // make sure the session is not expired, and the owner key still exists
      let got
      try {
        got = await client.kv.range({ key: this.myKey })
      } catch (err) {
        await this.unlock().catch(() => {
          // best effort, as above
        })
        throw err
      }
      if (got.kvs.length === 0) throw errSessionExpired()
      this.hdr = got.header
    } finally {
      release?.()
    }
  }

  /** Releases the lock (or gives up waiting) by deleting the lock key (etcd `Mutex.Unlock`). */
  async unlock(): Promise<void> {
    await this.session.client.kv.deleteRange({ key: this.myKey })
    this.reset()
  }

  private reset(): void {
    this.myKey = new Uint8Array([0])
    this.myRev = -1
  }

  /** True when the owner read of `tryAcquire` shows this mutex holds the lock. */
  private ownsPer(resp: TxnResponse): boolean {
    const owner = rangeKvs(resp, 1)
    return owner.length === 0 || owner[0]!.createRevision === this.myRev
  }

  /** Creates the waiter key if absent (or reuses this session's), reading the current owner in the same txn. */
  private async tryAcquire(): Promise<TxnResponse> {
    const s = this.session
    const myKey = leaseKey(this.pfx, s.lease)
    this.myKey = myKey
    const getOwner = { requestRange: { key: this.pfx, rangeEnd: prefixEnd(this.pfx), sortTarget: 'CREATE' as const, sortOrder: 'ASCEND' as const, limit: 1 } }
    const resp = await s.client.kv.txn({
      compare: [{ key: myKey, target: 'CREATE', result: 'EQUAL', createRevision: 0 }],
      success: [{ requestPut: { key: myKey, value: '', lease: s.lease } }, getOwner],
      failure: [{ requestRange: { key: myKey } }, getOwner],
    })
    this.myRev = resp.header.revision
    if (!resp.succeeded) this.myRev = rangeKvs(resp, 0)[0]!.createRevision
    return resp
  }
}

/** The kvs of the range response at `index` in a txn's responses. */
export function rangeKvs(resp: TxnResponse, index: number): KeyValue[] {
  const r = resp.responses[index]
  return r !== undefined && 'responseRange' in r ? r.responseRange.kvs : []
}
