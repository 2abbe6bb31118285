/**
 * The typed lease (etcd3's `Lease`): a lease granted on creation and kept alive
 * automatically until revoked, released or lost, with keys attached through `put(key)`.
 *
 * @module
 */
import { EventEmitter } from 'eventemitter3'
import type { LeaseKeepAliveResponse, LeaseTimeToLiveResponse } from '../api/messages.js'
import { EtcdError, etcdError } from '../errors.js'
import type { Clock, TimerHandle } from '../sim/clock.js'
import type { KVApi } from '../services/kv-api.js'
import type { LeaseApi } from '../services/lease-api.js'
import type { KeyPrefix } from './key-prefix.js'
import { PutBuilder } from './put-builder.js'
import type { KeyInput } from './range.js'
import { checkBool, checkOptions, checkTtl } from './validate.js'

/** Options of a typed {@link Lease}. */
export interface LeaseOptions {
  /** Renew the lease every third of its TTL (default true), as etcd3 does. */
  autoKeepAlive?: boolean
}

/** Events of a {@link Lease} (etcd3's lease events). */
export interface LeaseEvents {
  /** A keep-alive is about to be sent. */
  keepaliveFired: () => void
  /** The lease was renewed. */
  keepaliveSucceeded: (res: LeaseKeepAliveResponse) => void
  /** A keep-alive failed (the lease may still be alive: it is retried until it expires). */
  keepaliveFailed: (err: unknown) => void
  /** The lease is gone: revoked elsewhere, expired, or never granted. Fired once; keep-alive stops. */
  lost: (err: EtcdError) => void
}

type State = 'alive' | 'revoked' | 'lost' | 'released'

/**
 * A lease held by this process (etcd3's `Lease`, from `store.lease(ttl)`). It is granted at
 * once; with `autoKeepAlive` (the default) it is renewed every `ttl / 3` on the store's
 * clock. Its timers never keep the process alive by themselves (the store's real clock
 * unreferences them), only a request in flight does.
 */
export class Lease extends EventEmitter<LeaseEvents> {
  private readonly leaseId: Promise<string>
  private grantedTtl: number
  private state: State = 'alive'
  private timer: TimerHandle | undefined
  /** Clock time of the last successful grant or renewal. */
  private lastAlive: number

  constructor(
    private readonly api: LeaseApi,
    private readonly kvApi: KVApi,
    private readonly keyPrefix: KeyPrefix,
    private readonly clock: Clock,
    /** The TTL asked for, in seconds. */
    readonly ttl: number,
    private readonly options: LeaseOptions = {},
    private readonly onDone: (lease: Lease) => void = () => undefined,
  ) {
    super()
    this.grantedTtl = ttl
    this.lastAlive = clock.now()
    this.leaseId = this.api.grant({ ttl }).then(
      (res) => {
        this.grantedTtl = res.ttl
        this.lastAlive = this.clock.now()
        this.schedule()
        return res.id
      },
      (err: unknown) => {
        this.lose(err instanceof EtcdError ? err : etcdError('LeaseNotFound', { cause: err }))
        throw err
      },
    )
    // a failed grant is reported by 'lost' and by every method that needs the id
    this.leaseId.catch(() => undefined)
  }

  /** The lease's id (a decimal string) once granted; rejects if the grant failed. */
  grant(): Promise<string> {
    return this.leaseId
  }

  /** True once the lease was revoked through this object. */
  revoked(): boolean {
    return this.state === 'revoked'
  }

  /** Revokes the lease (its keys are deleted in one revision) and stops keep-alive. */
  async revoke(): Promise<void> {
    const id = await this.leaseId
    this.stop('revoked')
    await this.api.revoke({ id })
  }

  /** Stops keep-alive without revoking: the lease expires after its TTL unless renewed elsewhere. */
  release(): void {
    this.stop('released')
  }

  /** Renews the lease once; a lease that is gone (`ttl` 0) makes the lease 'lost'. */
  async keepaliveOnce(): Promise<LeaseKeepAliveResponse> {
    const id = await this.leaseId
    const res = await this.api.keepAliveOnce({ id })
    if (res.ttl <= 0) {
      this.lose(etcdError('LeaseNotFound'))
      throw etcdError('LeaseNotFound')
    }
    this.lastAlive = this.clock.now()
    this.grantedTtl = res.ttl
    return res
  }

  /** The lease's remaining TTL and attached keys (etcd `LeaseTimeToLive`). */
  async timeToLive(keys = false): Promise<LeaseTimeToLiveResponse> {
    return this.api.timeToLive({ id: await this.leaseId, keys })
  }

  /** Starts a put of `key` attached to this lease (waits for the grant): `lease.put('k').value('v')`. */
  put(key: KeyInput): PutBuilder {
    const kv: KVApi = {
      range: (r) => this.kvApi.range(r),
      deleteRange: (r) => this.kvApi.deleteRange(r),
      txn: (r) => this.kvApi.txn(r),
      compact: (r) => this.kvApi.compact(r),
      put: async (r) => this.kvApi.put({ ...r, lease: await this.leaseId }),
    }
    return new PutBuilder(kv, this.keyPrefix, key)
  }

  private schedule(): void {
    if (this.state !== 'alive' || this.options.autoKeepAlive === false) return
    this.timer = this.clock.setTimer((this.grantedTtl * 1000) / 3, () => {
      this.timer = undefined
      void this.fire() // fire and forget: its outcome is reported by events
    })
  }

  private async fire(): Promise<void> {
    if (this.state !== 'alive') return
    this.emit('keepaliveFired')
    try {
      const res = await this.keepaliveOnce()
      if (this.state !== 'alive') return
      this.emit('keepaliveSucceeded', res)
    } catch (err) {
      if (this.state !== 'alive') return
      this.emit('keepaliveFailed', err)
      if (this.clock.now() - this.lastAlive >= this.grantedTtl * 1000) {
        this.lose(err instanceof EtcdError ? err : etcdError('LeaseNotFound', { cause: err }))
        return
      }
    }
    this.schedule()
  }

  private lose(err: EtcdError): void {
    if (this.state !== 'alive') return
    this.stop('lost')
    this.emit('lost', err)
  }

  private stop(state: State): void {
    if (this.state !== 'alive') return
    this.state = state
    this.timer?.cancel()
    this.timer = undefined
    this.onDone(this)
  }
}

/**
 * `store.lease`: etcd's Lease service (`store.lease.grant({ ttl })`, ...) that is also the
 * factory of typed leases (`store.lease(10)`, as etcd3's `client.lease(ttl)`).
 */
export type LeaseFacade = LeaseApi & ((ttl: number, options?: LeaseOptions) => Lease)

/** Builds a {@link LeaseFacade} from the service and a typed-lease factory. */
export function leaseFacade(api: LeaseApi, create: (ttl: number, options?: LeaseOptions) => Lease): LeaseFacade {
  const f = ((ttl: number, options?: LeaseOptions) => {
    checkTtl(ttl, 'ttl in lease(ttl)')
    if (checkOptions(options, 'options in lease(ttl, options)')?.autoKeepAlive !== undefined) checkBool(options?.autoKeepAlive, 'autoKeepAlive in lease(ttl, options)')
    return create(ttl, options)
  }) as LeaseFacade
  f.grant = (r) => api.grant(r)
  f.revoke = (r) => api.revoke(r)
  f.keepAliveOnce = (r) => api.keepAliveOnce(r)
  f.keepAlive = () => api.keepAlive()
  f.timeToLive = (r) => api.timeToLive(r)
  f.leases = (r) => api.leases(r)
  return f
}
