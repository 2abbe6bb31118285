/**
 * `Election` (etcd's `concurrency.Election`): leader election on a name. Candidates queue
 * like mutex waiters; the candidate whose key has the smallest create revision leads, and
 * its key's value is what it proclaims.
 *
 * @module
 */
import type { KeyValue, ResponseHeader } from '../api/messages.js'
import { prefixEnd, equalBytes, toBytes } from '../api/bytes.js'
import type { WatchStream } from '../services/watch-api.js'
import type { ConcurrencyClient } from './client.js'
import type { Session } from './session.js'
import { leaseKey, rangeKvs, recipePrefix } from './mutex.js'
import { sleep, waitDeletes } from './wait-deletes.js'
import { errCanceled, errElectionNoLeader, errElectionNotLeader } from './errors.js'

/** A leader as `leader()` and `observe()` report it (etcd's `GetResponse` with one kv). */
export interface LeaderState {
  /** The header of the read or watch response that reported it. */
  header: ResponseHeader
  /** The leader's key and its current value. */
  kv: KeyValue
}

/** Options of {@link Election.campaign} and {@link Election.observe}. */
export interface ElectionWaitOptions {
  /** Stops waiting when aborted (etcd's context). */
  signal?: AbortSignal
}

/** Pause before re-reading after a dropped watch or a failed read while observing. */
const OBSERVE_RETRY_MS = 50

/**
 * Leader election on a name (etcd's `concurrency.Election`). Keys live under `<name>/`; a
 * candidate's key is `<name>/<lease hex>` under its session's lease, its value is the
 * candidate's proclamation, and the leader is the key with the smallest create revision.
 */
export class Election {
  /** The session whose lease the candidate's key is attached to. */
  readonly session: Session
  private readonly keyPrefix: Uint8Array
  private leaderKey: Uint8Array = new Uint8Array(0)
  private leaderRev = 0
  private leaderSession: Session | undefined
  private hdr: ResponseHeader | undefined

  /** An election on `name` (etcd `NewElection(s, name)`). */
  constructor(session: Session, name: string | Uint8Array) {
    this.session = session
    this.keyPrefix = recipePrefix(name)
  }

  /** Resumes an election this session already leads, from its leader key and revision (etcd `ResumeElection`). */
  static resume(session: Session, name: string | Uint8Array, leaderKey: string | Uint8Array, leaderRev: number): Election {
    const e = new Election(session, name)
    e.leaderKey = toBytes(leaderKey)
    e.leaderRev = leaderRev
    e.leaderSession = session
    return e
  }

  /** The candidate's key (etcd `Election.Key`); empty when not campaigning. */
  get key(): Uint8Array {
    return this.leaderKey
  }

  /** The create revision of the candidate's key (etcd `Election.Rev`). */
  get rev(): number {
    return this.leaderRev
  }

  /** The header of the last campaign, proclaim or resign response (etcd `Election.Header`). */
  get header(): ResponseHeader | undefined {
    return this.hdr
  }

  /**
   * Puts `value` as a candidate and resolves once elected: when every candidate that
   * registered before it is gone (etcd `Election.Campaign`). Campaigning again on the same
   * session reuses its key, proclaiming `value` if it differs.
   */
  async campaign(value: string | Uint8Array, options: ElectionWaitOptions = {}): Promise<void> {
    const { signal } = options
    if (signal?.aborted) throw errCanceled(signal.reason)
    const s = this.session
    const client = s.client
    const val = toBytes(value)
    const k = leaseKey(this.keyPrefix, s.lease)
    const release = client.clock.hold?.()
    try {
      const resp = await client.kv.txn({
        compare: [{ key: k, target: 'CREATE', result: 'EQUAL', createRevision: 0 }],
        success: [{ requestPut: { key: k, value: val, lease: s.lease } }],
        failure: [{ requestRange: { key: k } }],
      })
      this.leaderKey = k
      this.leaderRev = resp.header.revision
      this.leaderSession = s
      if (!resp.succeeded) {
        const kv = rangeKvs(resp, 0)[0]!
        this.leaderRev = kv.createRevision
        if (!equalBytes(kv.value, val)) {
          try {
            await this.proclaim(val)
          } catch (err) {
            await this.resign().catch(() => {
              // best effort, as etcd's Campaign: the proclaim's error is the one to report
            })
            throw err
          }
        }
      }
      try {
        await waitDeletes(client, this.keyPrefix, this.leaderRev - 1, signal)
      } catch (err) {
        // clean up on cancel; otherwise forget the candidacy (its key stays until the lease goes)
        if (signal?.aborted) {
          await this.resign().catch(() => {
            // best effort: the cancellation is what the caller asked for
          })
        } else {
          this.leaderSession = undefined
        }
        throw err
      }
      this.hdr = resp.header
    } finally {
      release?.()
    }
  }

  /**
   * Sets the leader's value without another election (etcd `Election.Proclaim`); rejects
   * with `election: not leader` unless this candidate's key is still the one it created.
   */
  async proclaim(value: string | Uint8Array): Promise<void> {
    if (this.leaderSession === undefined) throw errElectionNotLeader()
    const resp = await this.session.client.kv.txn({
      compare: [{ key: this.leaderKey, target: 'CREATE', result: 'EQUAL', createRevision: this.leaderRev }],
      success: [{ requestPut: { key: this.leaderKey, value: toBytes(value), lease: this.leaderSession.lease } }],
      failure: [],
    })
    if (!resp.succeeded) {
      this.leaderKey = new Uint8Array(0)
      throw errElectionNotLeader()
    }
    this.hdr = resp.header
  }

  /** Gives up leadership (or candidacy) by deleting its key if it is still the one it created (etcd `Election.Resign`). */
  async resign(): Promise<void> {
    if (this.leaderSession === undefined) return
    try {
      const resp = await this.session.client.kv.txn({
        compare: [{ key: this.leaderKey, target: 'CREATE', result: 'EQUAL', createRevision: this.leaderRev }],
        success: [{ requestDeleteRange: { key: this.leaderKey } }],
        failure: [],
      })
      this.hdr = resp.header
    } finally {
      this.leaderKey = new Uint8Array(0)
      this.leaderSession = undefined
    }
  }

  /** The current leader's key and value (etcd `Election.Leader`); rejects with `election: no leader` when nobody leads. */
  async leader(): Promise<LeaderState> {
    const resp = await this.session.client.kv.range(firstCreate(this.keyPrefix))
    const kv = resp.kvs[0]
    if (kv === undefined) throw errElectionNoLeader()
    return { header: resp.header, kv }
  }

  /**
   * Every leader in turn, and every value each proclaims, in revision order (etcd
   * `Election.Observe`): first the current leader (or, if none, the first candidate to
   * appear), then its proclamations until its key is deleted, then the next leader.
   * Ends when `signal` aborts or the iterator is returned.
   */
  observe(options: ElectionWaitOptions = {}): AsyncGenerator<LeaderState, void, undefined> {
    return observeElection(this.session.client, this.keyPrefix, options.signal)
  }
}

function firstCreate(prefix: Uint8Array) {
  return { key: prefix, rangeEnd: prefixEnd(prefix), sortTarget: 'CREATE' as const, sortOrder: 'ASCEND' as const, limit: 1 }
}

/**
 * One watch whose stream is canceled when `signal` aborts; yields its responses and ends
 * on a canceled response. `lost` is set when the serving member dropped it.
 */
async function* watchUntil(client: ConcurrencyClient, req: Parameters<ConcurrencyClient['watch']['watch']>[0], signal: AbortSignal | undefined, out: { lost: boolean }) {
  let stream: WatchStream
  try {
    stream = await client.watch.watch(req)
  } catch (err) {
    if (signal?.aborted) return
    void err // no endpoint can serve the watch now: report it as lost, the caller re-reads and retries
    out.lost = true
    return
  }
  const onAbort = (): void => void stream.cancel()
  signal?.addEventListener('abort', onAbort, { once: true })
  try {
    for await (const wr of stream) {
      if (wr.canceled) {
        out.lost = !signal?.aborted
        if (wr.compactRevision > 0) out.lost = true
        return
      }
      yield wr
    }
    out.lost = !signal?.aborted
  } finally {
    signal?.removeEventListener('abort', onAbort)
    await stream.cancel()
  }
}

async function* observeElection(client: ConcurrencyClient, keyPrefix: Uint8Array, signal: AbortSignal | undefined): AsyncGenerator<LeaderState, void, undefined> {
  // the last state reported, so a re-read after a dropped watch does not report it twice
  let last: KeyValue | undefined
  const isNew = (kv: KeyValue): boolean =>
    last === undefined || !equalBytes(last.key, kv.key) || last.createRevision !== kv.createRevision || last.modRevision !== kv.modRevision
  while (!signal?.aborted) {
    let resp
    try {
      resp = await client.kv.range(firstCreate(keyPrefix))
    } catch {
      // no endpoint can serve the read now: try again after a pause (etcd's Observe would end; a resumable stream is kinder)
      if (signal?.aborted) return
      await sleep(client, OBSERVE_RETRY_MS, signal).catch(() => undefined)
      continue
    }
    let hdr: ResponseHeader | undefined
    let kv: KeyValue | undefined
    if (resp.kvs.length === 0) {
      // wait for the first key put under the prefix
      const out = { lost: false }
      for await (const wr of watchUntil(client, { key: keyPrefix, rangeEnd: prefixEnd(keyPrefix), startRevision: resp.header.revision }, signal, out)) {
        const put = wr.events.find((ev) => ev.type === 'PUT')
        if (put !== undefined) {
          // several puts may share a response: report the first one at its own revision
          hdr = { ...wr.header, revision: put.kv.modRevision }
          kv = put.kv
          break
        }
      }
      if (kv === undefined || hdr === undefined) {
        if (signal?.aborted) return
        await sleep(client, OBSERVE_RETRY_MS, signal).catch(() => undefined)
        continue
      }
    } else {
      hdr = resp.header
      kv = resp.kvs[0]!
    }
    if (isNew(kv)) {
      last = kv
      yield { header: hdr, kv }
    }
    // follow this leader's proclamations until its key is deleted
    let from = hdr.revision + 1
    let deleted = false
    while (!deleted && !signal?.aborted) {
      const out = { lost: false }
      for await (const wr of watchUntil(client, { key: kv.key, startRevision: from }, signal, out)) {
        for (const ev of wr.events) {
          if (ev.type === 'DELETE') {
            deleted = true
            break
          }
          from = ev.kv.modRevision + 1
          if (isNew(ev.kv)) {
            last = ev.kv
            yield { header: wr.header, kv: ev.kv }
          }
        }
        if (deleted) break
      }
      if (!deleted && out.lost) {
        // the watch was dropped: re-read from scratch, the leader may have changed meanwhile
        await sleep(client, OBSERVE_RETRY_MS, signal).catch(() => undefined)
        break
      }
    }
  }
}
