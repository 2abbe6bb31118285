/**
 * Software transactional memory over etcd (etcd's `concurrency/stm.go`): run a function
 * that reads and writes keys; its writes commit atomically in one txn if what it read is
 * still current, and it is re-run on a conflict.
 *
 * @module
 */
import type { RangeResponse, TxnResponse } from '../api/messages.js'
import { fromBinaryString, toBinaryString, toBytes, toText } from '../api/bytes.js'
import type { KVApi } from '../services/kv-api.js'
import type { CompareInput, RequestOpInput } from '../services/kv-schema.js'
import { errCanceled } from './errors.js'

/**
 * How an STM transaction isolates its reads (etcd's `Isolation`):
 * - `SerializableSnapshot` (default): every read sees the revision of the first read; the
 *   commit fails if any key read or written changed since then.
 * - `Serializable`: reads also see the first read's revision; the commit fails if any key
 *   read changed (keys only written are not checked).
 * - `RepeatableReads`: each key is read once (serializable reads); the commit fails if any
 *   key read changed.
 * - `ReadCommitted`: reads are never checked; writes commit unconditionally.
 */
export type Isolation = 'SerializableSnapshot' | 'Serializable' | 'RepeatableReads' | 'ReadCommitted'

/** The operations an STM function may use (etcd's `STM` interface). */
export interface STM {
  /** The value of the first of `keys` that is written in this transaction or exists; `''` when none (etcd `Get`). */
  get(...keys: (string | Uint8Array)[]): Promise<string>
  /** As {@link STM.get}, the raw bytes; `undefined` when the key does not exist. */
  getBytes(key: string | Uint8Array): Promise<Uint8Array | undefined>
  /** Buffers a write of `key`, applied at commit (etcd `Put`). */
  put(key: string | Uint8Array, value: string | Uint8Array, options?: { lease?: string }): void
  /** The key's mod revision as read in this transaction, 0 when it does not exist (etcd `Rev`). */
  rev(key: string | Uint8Array): Promise<number>
  /** Buffers a delete of `key`, applied at commit (etcd `Del`). */
  del(key: string | Uint8Array): void
}

/** Options of {@link stm} (etcd's `stmOption`s). */
export interface STMOptions {
  /** Isolation level (etcd `WithIsolation`); default `SerializableSnapshot`. */
  isolation?: Isolation
  /** Keys read at the start of every attempt, in one request (etcd `WithPrefetch`). */
  prefetch?: (string | Uint8Array)[]
  /** Aborts the transaction between attempts and reads (etcd `WithAbortContext`). */
  abort?: AbortSignal
  /** Stop after this many attempts with the last conflict's error; default unlimited, as etcd. */
  maxAttempts?: number
}

/** The result of {@link stm}: what `apply` returned on the committed attempt, the txn's response, the attempts made. */
export interface STMResult<T> {
  /** What `apply` returned on the attempt that committed. */
  value: T
  /** The response of the txn that committed the writes. */
  response: TxnResponse
  /** Attempts made (1 when there was no conflict). */
  attempts: number
}

/** Raised by {@link stm} when `maxAttempts` ran out on conflicts. */
export class STMConflictError extends Error {
  constructor(attempts: number) {
    super(`pocket-etcd: stm: still conflicting after ${attempts} attempts`)
    this.name = 'STMConflictError'
  }
}

interface Write {
  value: Uint8Array
  op: RequestOpInput
}

/** The shared state of one attempt: reads (by binary key) and buffered writes. */
class Attempt implements STM {
  rset = new Map<string, RangeResponse>()
  wset = new Map<string, Write>()
  /** Options of the range ops reads use (etcd's `getOpts`): serializable and, for a snapshot, the first read's revision. */
  getRevision = 0
  getSerializable: boolean
  prefetched = new Map<string, RangeResponse>()

  constructor(
    private readonly kv: KVApi,
    readonly isolation: Isolation,
    private readonly abort: AbortSignal | undefined,
  ) {
    this.getSerializable = isolation === 'RepeatableReads' || isolation === 'ReadCommitted'
  }

  private get snapshot(): boolean {
    return this.isolation === 'SerializableSnapshot' || this.isolation === 'Serializable'
  }

  reset(): void {
    this.rset = new Map()
    this.wset = new Map()
    if (!this.snapshot) return
    this.getRevision = 0
    this.getSerializable = false
  }

  async get(...keys: (string | Uint8Array)[]): Promise<string> {
    const b = await this.getBytesOf(keys)
    return b === undefined ? '' : toText(b)
  }

  async getBytes(key: string | Uint8Array): Promise<Uint8Array | undefined> {
    return this.getBytesOf([key])
  }

  private async getBytesOf(keys: (string | Uint8Array)[]): Promise<Uint8Array | undefined> {
    const bkeys = keys.map((k) => toBinaryString(toBytes(k)))
    for (const k of bkeys) {
      const w = this.wset.get(k)
      if (w !== undefined) return w.value
    }
    const resp = await this.read(bkeys)
    return resp?.kvs[0]?.value
  }

  /** etcd's `stmSerializable.Get` / `stm.fetch`: prefetched reads move into the read set; the first read fixes the snapshot. */
  private async read(bkeys: string[]): Promise<RangeResponse | undefined> {
    if (bkeys.length === 0) return undefined
    if (!this.snapshot) return this.fetch(bkeys)
    const firstRead = this.rset.size === 0
    for (const k of bkeys) {
      const p = this.prefetched.get(k)
      if (p !== undefined) {
        this.prefetched.delete(k)
        this.rset.set(k, p)
      }
    }
    const resp = await this.fetch(bkeys)
    if (firstRead && resp !== undefined) {
      // the txn's base revision is defined by the first read
      this.getRevision = resp.header.revision
      this.getSerializable = true
    }
    return resp
  }

  /** Reads `keys` in one txn unless the first is already in the read set (etcd `stm.fetch`). */
  async fetch(bkeys: string[]): Promise<RangeResponse | undefined> {
    if (bkeys.length === 0) return undefined
    const ops: RequestOpInput[] = []
    for (const k of bkeys) {
      const have = this.rset.get(k)
      if (have !== undefined) return have
      ops.push({ requestRange: { key: fromBinaryString(k), revision: this.getRevision, serializable: this.getSerializable } })
    }
    if (this.abort?.aborted) throw errCanceled(this.abort.reason)
    const resp = await this.kv.txn({ compare: [], success: ops, failure: [] })
    this.addReads(bkeys, resp)
    const first = resp.responses[0]
    return first !== undefined && 'responseRange' in first ? first.responseRange : undefined
  }

  addReads(bkeys: string[], resp: TxnResponse): void {
    resp.responses.forEach((r, i) => {
      const k = bkeys[i]
      if (k !== undefined && 'responseRange' in r) this.rset.set(k, r.responseRange)
    })
  }

  put(key: string | Uint8Array, value: string | Uint8Array, options: { lease?: string } = {}): void {
    const k = toBytes(key)
    const v = toBytes(value)
    this.wset.set(toBinaryString(k), { value: v, op: { requestPut: { key: k, value: v, lease: options.lease ?? '0' } } })
  }

  del(key: string | Uint8Array): void {
    const k = toBytes(key)
    this.wset.set(toBinaryString(k), { value: new Uint8Array(0), op: { requestDeleteRange: { key: k } } })
  }

  async rev(key: string | Uint8Array): Promise<number> {
    const bkey = toBinaryString(toBytes(key))
    // a serializable STM's Rev reads through Get, so the snapshot revision is fixed first
    const resp = this.snapshot ? (await this.read([bkey]), this.rset.get(bkey)) : await this.fetch([bkey])
    return resp?.kvs[0]?.modRevision ?? 0
  }

  /** The read set's guards: each key read still has the mod revision it was read at (etcd `readSet.cmps`). */
  private readCmps(): CompareInput[] {
    const out: CompareInput[] = []
    for (const [k, r] of this.rset) {
      out.push({ key: fromBinaryString(k), target: 'MOD', result: 'EQUAL', modRevision: r.kvs[0]?.modRevision ?? 0 })
    }
    return out
  }

  /** The lowest revision any read was served at (etcd `readSet.first`). */
  private firstRev(): number {
    let ret = Number.MAX_SAFE_INTEGER - 1
    for (const r of this.rset.values()) ret = Math.min(ret, r.header.revision)
    return ret
  }

  /** The conflict compares of this isolation level (etcd's `conflicts`). */
  private conflicts(): CompareInput[] {
    switch (this.isolation) {
      case 'SerializableSnapshot': {
        // no key written may have changed after the first read either (etcd `writeSet.cmps(first+1)`)
        const rev = this.firstRev() + 1
        const writes: CompareInput[] = [...this.wset.keys()].map((k) => ({ key: fromBinaryString(k), target: 'MOD', result: 'LESS', modRevision: rev }))
        return [...this.readCmps(), ...writes]
      }
      case 'Serializable':
      case 'RepeatableReads':
        return this.readCmps()
      case 'ReadCommitted':
        return []
    }
  }

  /** Commits the writes if the conflict compares hold; undefined on a conflict (etcd `commit`). */
  async commit(): Promise<TxnResponse | undefined> {
    const puts = [...this.wset.values()].map((w) => w.op)
    if (!this.snapshot) {
      const resp = await this.kv.txn({ compare: this.conflicts(), success: puts, failure: [] })
      return resp.succeeded ? resp : undefined
    }
    // use the failure branch to re-read the read set on a conflict, saving a round trip
    const keys = [...this.rset.keys()]
    const gets: RequestOpInput[] = keys.map((k) => ({ requestRange: { key: fromBinaryString(k) } }))
    const resp = await this.kv.txn({ compare: this.conflicts(), success: puts, failure: gets })
    if (resp.succeeded) return resp
    // the next attempt starts from what the failure branch read
    const fresh = new Map<string, RangeResponse>()
    resp.responses.forEach((r, i) => {
      const k = keys[i]
      if (k !== undefined && 'responseRange' in r) fresh.set(k, r.responseRange)
    })
    this.prefetched = fresh
    return undefined
  }
}

/**
 * Runs `apply` as a software transaction (etcd `concurrency.NewSTM`): its reads go through
 * the {@link STM} handle, its writes are buffered, and at the end they commit in one txn
 * guarded by the isolation level's compares. On a conflict the attempt is discarded and
 * `apply` runs again. An error thrown by `apply` aborts without writing and is rethrown.
 */
export async function stm<T>(kv: KVApi, apply: (s: STM) => T | Promise<T>, options: STMOptions = {}): Promise<STMResult<T>> {
  const isolation = options.isolation ?? 'SerializableSnapshot'
  const attempt = new Attempt(kv, isolation, options.abort)
  const prefetch = (options.prefetch ?? []).map((k) => toBytes(k))
  for (let n = 1; ; n++) {
    if (options.abort?.aborted) throw errCanceled(options.abort.reason)
    if (options.maxAttempts !== undefined && n > options.maxAttempts) throw new STMConflictError(n - 1)
    attempt.reset()
    if (prefetch.length > 0) await attempt.get(...prefetch)
    const value = await apply(attempt)
    if (options.abort?.aborted) throw errCanceled(options.abort.reason)
    const response = await attempt.commit()
    if (response !== undefined) return { value, response, attempts: n }
  }
}
