/**
 * `Session` (etcd's `concurrency.Session`): a lease kept alive for as long as its owner
 * lives. Locks and elections put their keys under the session's lease, so a client that
 * dies (or is cut off from the quorum) loses them once the lease expires.
 *
 * @module
 */
import type { TimerHandle } from '../sim/clock.js'
import { etcdError, isEtcdError } from '../errors.js'
import type { ConcurrencyClient } from './client.js'

/** etcd's `defaultSessionTTL`, in seconds. */
export const DEFAULT_SESSION_TTL = 60

/** How long to wait before resending an unanswered keep-alive (etcd's client retries every 500 ms). */
const KEEPALIVE_RETRY_MS = 500

/** Options of {@link Session.create} (etcd's `SessionOption`s). */
export interface SessionOptions {
  /** TTL of the session's lease in seconds (etcd `WithTTL`); <= 0 or omitted means 60. */
  ttl?: number
  /** Reuse an existing lease instead of granting one (etcd `WithLease`). */
  lease?: string
}

/**
 * A lease kept alive on the client's clock (etcd's `concurrency.Session`). A keep-alive is
 * sent every TTL/3; `done` resolves when the session is orphaned, closed, or its lease is
 * lost: revoked, expired on the server, or not renewed in time.
 *
 * The client-side deadline runs from the time each answered keep-alive was *sent* (etcd's
 * client counts from the answer's arrival): the server renewed the lease no earlier than
 * that, so a session never believes it holds a lease the cluster has already expired.
 */
export class Session {
  /** The client the session's requests go to (etcd `Session.Client`). */
  readonly client: ConcurrencyClient
  /** The session's lease id, a decimal string (etcd `Session.Lease`). */
  readonly lease: string
  /** The lease's TTL in seconds, as granted. */
  readonly ttl: number
  /** Resolves when the lease is no longer refreshed: orphaned, closed, revoked or expired (etcd `Session.Done`). */
  readonly done: Promise<void>
  private resolveDone!: () => void
  private ticker: TimerHandle | undefined
  private deadlineTimer: TimerHandle | undefined
  private deadline = 0
  private nextKeepAlive = 0
  private state: 'alive' | 'orphaned' | 'lost' = 'alive'

  private constructor(client: ConcurrencyClient, lease: string, ttl: number, keepAlive: boolean, remaining = ttl) {
    this.client = client
    this.lease = lease
    this.ttl = ttl
    this.done = new Promise((resolve) => {
      this.resolveDone = resolve
    })
    if (!keepAlive) {
      this.state = 'orphaned'
      this.resolveDone()
      return
    }
    const now = client.clock.now()
    const periodMs = (ttl * 1000) / 3
    this.nextKeepAlive = now + periodMs
    this.extend(now + remaining * 1000)
    this.ticker = client.clock.every(Math.min(KEEPALIVE_RETRY_MS, periodMs), () => this.tick(periodMs))
  }

  /**
   * Grants a lease (or adopts `options.lease`) and starts keeping it alive (etcd
   * `NewSession`). Rejects if the grant fails.
   */
  static async create(client: ConcurrencyClient, options: SessionOptions = {}): Promise<Session> {
    const ttl = options.ttl !== undefined && options.ttl > 0 ? options.ttl : DEFAULT_SESSION_TTL
    if (options.lease !== undefined && options.lease !== '0') {
      // adopt the lease with the TTL it was granted, and its remaining time as the first deadline
      const live = await client.lease.timeToLive({ id: options.lease })
      if (live.ttl < 0) throw etcdError('LeaseNotFound')
      return new Session(client, options.lease, live.grantedTtl, true, live.ttl)
    }
    const granted = await client.lease.grant({ ttl })
    return new Session(client, granted.id, granted.ttl, true)
  }

  /**
   * A session on an existing lease that nobody here keeps alive (etcd's servers do
   * `NewSession(WithLease(id))` then `Orphan()`): the lease's owner keeps it alive. Lease
   * `'0'` grants a new lease of the default TTL, as etcd's `NewSession` does for `NoLease`.
   */
  static async orphaned(client: ConcurrencyClient, lease: string): Promise<Session> {
    if (lease === '0') {
      const granted = await client.lease.grant({ ttl: DEFAULT_SESSION_TTL })
      return new Session(client, granted.id, granted.ttl, false)
    }
    return new Session(client, lease, 0, false)
  }

  /** True once the session stopped refreshing its lease (for whatever reason). */
  get isDone(): boolean {
    return this.state !== 'alive'
  }

  /** True when the lease was lost (expired, revoked or not renewed in time), not merely orphaned or closed. */
  get isLost(): boolean {
    return this.state === 'lost'
  }

  /** Stops refreshing the lease without revoking it; it expires on its own (etcd `Session.Orphan`). */
  orphan(): void {
    this.stop('orphaned')
  }

  /** Orphans the session and revokes its lease, deleting every key attached to it (etcd `Session.Close`). */
  async close(): Promise<void> {
    const wasLost = this.state === 'lost'
    this.orphan()
    if (wasLost) return
    try {
      await this.client.lease.revoke({ id: this.lease })
    } catch (err) {
      // a lease that is already gone has nothing left to revoke
      if (!isEtcdError(err, 'LeaseNotFound')) throw err
    }
  }

  private stop(state: 'orphaned' | 'lost'): void {
    if (this.state !== 'alive') return
    this.state = state
    this.ticker?.cancel()
    this.deadlineTimer?.cancel()
    this.ticker = undefined
    this.deadlineTimer = undefined
    this.resolveDone()
  }

  /** Moves the client-side deadline later, never earlier. */
  private extend(until: number): void {
    if (until <= this.deadline) return
    this.deadline = until
    this.deadlineTimer?.cancel()
    this.deadlineTimer = this.client.clock.setTimer(until - this.client.clock.now(), () => this.stop('lost'))
  }

  private tick(periodMs: number): void {
    if (this.state !== 'alive') return
    const sentAt = this.client.clock.now()
    if (sentAt < this.nextKeepAlive) return
    // resend after the retry interval unless an answer moves the next keep-alive to TTL/3 from now
    this.nextKeepAlive = sentAt + Math.min(KEEPALIVE_RETRY_MS, periodMs)
    // fire-and-forget: the answer (or failure) is handled in the callbacks; the deadline timer covers silence
    void this.client.lease.keepAliveOnce({ id: this.lease }).then(
      (res) => {
        if (this.state !== 'alive') return
        if (res.ttl <= 0) return this.stop('lost')
        this.nextKeepAlive = Math.max(this.nextKeepAlive, sentAt + periodMs)
        this.extend(sentAt + res.ttl * 1000)
      },
      (err: unknown) => {
        if (this.state !== 'alive') return
        if (isEtcdError(err, 'LeaseNotFound')) this.stop('lost')
        else if (isEtcdError(err, 'StoreClosed')) this.stop('orphaned')
        // other failures (timeouts, no leader, a stopped member) are retried on the next tick
      },
    )
  }
}
