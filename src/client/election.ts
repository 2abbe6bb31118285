/**
 * `store.election(name)`: the etcd3-style election handle, on etcd's election recipe.
 *
 * @module
 */
import { EventEmitter } from 'eventemitter3'
import { toBytes, toText } from '../api/bytes.js'
import type { ConcurrencyClient } from '../concurrency/client.js'
import { Election } from '../concurrency/election.js'
import type { ElectionWaitOptions, LeaderState } from '../concurrency/election.js'
import { isEtcdError, InvalidArgumentError } from '../errors.js'
import { Session } from '../concurrency/session.js'
import type { ElectionApi } from '../services/election-api.js'
import { errElectionNotLeader } from '../concurrency/errors.js'
import { checkKey, checkOptions, checkTtl } from './validate.js'

/** etcd3's default election TTL, in seconds. */
export const DEFAULT_ELECTION_TTL = 30

/** A leader as the typed layer reports it. */
export interface LeaderInfo {
  /** The value the leader proclaims (UTF-8). */
  value: string
  /** The leader's key (`<name>/<lease hex>`). */
  key: Uint8Array
  /** The create revision of the leader's key (its place in the queue). */
  createRevision: number
  /** The revision at which this value was set. */
  modRevision: number
  /** The leader's lease id. */
  lease: string
}

/** Events of a {@link Campaign}. */
export interface CampaignEvents {
  /** This candidate became the leader. */
  elected: (leader: LeaderInfo) => void
  /** An observer started by `observe()` saw a new leader or value. */
  changed: (leader: LeaderInfo) => void
  /** The session's lease was lost while campaigning or leading: leadership is gone. */
  lost: () => void
  /** A background observer failed. */
  error: (err: unknown) => void
}

function info(l: LeaderState): LeaderInfo {
  return { value: toText(l.kv.value), key: l.kv.key, createRevision: l.kv.createRevision, modRevision: l.kv.modRevision, lease: l.kv.lease }
}

/**
 * Leader election on a name for one candidate (the `etcd3` client's `Election` and
 * `Campaign`, on etcd's `concurrency.Election`): `campaign(value)` resolves (and emits
 * `elected`) once this candidate leads; `proclaim`, `resign`, `leader()` and `observe()`
 * work as in etcd.
 */
export class Campaign extends EventEmitter<CampaignEvents> {
  private leaseTtl = DEFAULT_ELECTION_TTL
  private session: Session | undefined
  private election: Election | undefined
  private leading = false
  private readonly observers = new Set<AbortController>()

  constructor(
    private readonly client: ConcurrencyClient,
    private readonly name: Uint8Array,
  ) {
    super()
  }

  /** Sets the TTL of the candidate's lease in seconds (default 30); only before campaigning. */
  ttl(seconds: number): this {
    if (this.session !== undefined) throw new InvalidArgumentError('pocket-etcd: cannot set an election TTL after campaigning', 'InvalidArgument', 'ErrInvalidRequest')
    if (typeof seconds !== 'number') checkTtl(seconds, 'seconds in election(name).ttl(seconds)')
    if (!(seconds > 0)) throw new InvalidArgumentError(`pocket-etcd: election TTL must be positive, got ${seconds}`, 'InvalidArgument', 'ErrInvalidRequest')
    this.leaseTtl = seconds
    return this
  }

  /** True while this candidate leads (until it resigns or its lease is lost). */
  get isLeader(): boolean {
    return this.leading
  }

  /** The candidate's lease id, while campaigning. */
  leaseId(): string | undefined {
    return this.session?.lease
  }

  /** Campaigns with `value`; resolves once elected (etcd `Campaign`). Campaigning again proclaims the new value. */
  async campaign(value: string | Uint8Array, options: ElectionWaitOptions = {}): Promise<this> {
    checkKey(value, 'value in campaign(value)')
    checkOptions(options, 'options in campaign(value, options)')
    if (this.session === undefined || this.session.isDone) {
      const s = await Session.create(this.client, { ttl: this.leaseTtl })
      this.session = s
      this.election = new Election(s, this.name)
      void s.done.then(() => {
        if (!s.isLost || this.session !== s) return
        this.leading = false
        this.emit('lost')
      })
    }
    await this.election!.campaign(value, options)
    this.leading = true
    this.emit('elected', { value: toText(toBytes(value)), key: this.election!.key, createRevision: this.election!.rev, modRevision: this.election!.header?.revision ?? 0, lease: this.session.lease })
    return this
  }

  /** Sets a new value without another election; `election: not leader` unless leading (etcd `Proclaim`). */
  async proclaim(value: string | Uint8Array): Promise<void> {
    checkKey(value, 'value in proclaim(value)')
    if (this.election === undefined) throw errElectionNotLeader()
    await this.election.proclaim(value)
  }

  /** Gives up leadership and the candidate's lease (etcd `Resign`, then the session's close). */
  async resign(): Promise<void> {
    const e = this.election
    const s = this.session
    this.leading = false
    this.election = undefined
    this.session = undefined
    if (e !== undefined) await e.resign()
    if (s !== undefined) await s.close()
  }

  /** The current leader's value, or undefined when nobody leads (etcd3 `Election.leader`). */
  async leader(): Promise<string | undefined> {
    const l = await this.currentLeader()
    return l?.value
  }

  /** The current leader in full, or undefined when nobody leads. */
  async currentLeader(): Promise<LeaderInfo | undefined> {
    try {
      return info(await new Election(await Session.orphaned(this.client, '-1'), this.name).leader())
    } catch (err) {
      if (isEtcdError(err) && err.code === 'ErrElectionNoLeader') return undefined
      throw err
    }
  }

  /**
   * Every leader and value in order (etcd `Observe`), as an async iterator; each is also
   * emitted as `changed` while the iterator is consumed. Stops when the loop breaks, `signal` aborts, or on `close()`.
   */
  async *observe(options: ElectionWaitOptions = {}): AsyncGenerator<LeaderInfo, void, undefined> {
    const ctrl = new AbortController()
    const onAbort = (): void => ctrl.abort(options.signal?.reason)
    options.signal?.addEventListener('abort', onAbort, { once: true })
    this.observers.add(ctrl)
    try {
      const s = await Session.orphaned(this.client, '-1')
      for await (const l of new Election(s, this.name).observe({ signal: ctrl.signal })) {
        const i = info(l)
        this.emit('changed', i)
        yield i
      }
    } finally {
      options.signal?.removeEventListener('abort', onAbort)
      this.observers.delete(ctrl)
      ctrl.abort()
    }
  }

  /** Stops observers and resigns. */
  async close(): Promise<void> {
    for (const c of this.observers) c.abort()
    await this.resign()
  }
}

/** Builds a {@link Campaign} on `name` (bytes or UTF-8). */
export function electionOn(client: ConcurrencyClient, name: string | Uint8Array): Campaign {
  return new Campaign(client, toBytes(checkKey(name, 'name in election(name)')))
}

/** `store.election`: etcd's Election service (`campaign`, `proclaim`, `leader`, `observe`, `resign`) and the handle `store.election(name)`. */
export type ElectionFacade = ((name: string | Uint8Array) => Campaign) & ElectionApi

/** Builds an {@link ElectionFacade} from the service and the client campaigns run on. */
export function electionFacade(api: ElectionApi, client: ConcurrencyClient): ElectionFacade {
  const f = ((name: string | Uint8Array) => electionOn(client, name)) as ElectionFacade
  f.campaign = (r, o) => api.campaign(r, o)
  f.proclaim = (r) => api.proclaim(r)
  f.leader = (r) => api.leader(r)
  f.observe = (r, o) => api.observe(r, o)
  f.resign = (r) => api.resign(r)
  return f
}
