/**
 * The Lease service (etcd's `v3rpc` LeaseServer): parses each request with zod, then hands it
 * to a member. Grants and revokes go through Raft; renewals and time-to-live are answered by
 * the leader (a member forwards them); a missing lease is reported as etcd's gateway does:
 * keep-alive `ttl` 0, time-to-live `ttl` -1.
 *
 * @module
 */
import type {
  LeaseGrantRequest,
  LeaseGrantResponse,
  LeaseKeepAliveResponse,
  LeaseLeasesResponse,
  LeaseRevokeRequest,
  LeaseRevokeResponse,
  LeaseTimeToLiveRequest,
  LeaseTimeToLiveResponse,
} from '../api/messages.js'
import { InvalidArgumentError, isEtcdError } from '../errors.js'
import { NO_TOKEN, type TokenSource } from '../auth/credentials.js'
import { parseRequest } from './kv-schema.js'
import type { LeaseApi, LeaseIdInput, LeaseKeepAliveStream } from './lease-api.js'
import { whileHeld } from '../sim/clock.js'
import {
  leaseGrantRequestSchema,
  leaseKeepAliveRequestSchema,
  leaseLeasesRequestSchema,
  leaseRevokeRequestSchema,
  leaseTimeToLiveRequestSchema,
} from './lease-schema.js'

/**
 * Builds a {@link LeaseKeepAliveStream} on top of single renewals: each `send` starts one
 * `once` call, and the stream yields the answers in the order sent.
 */
export function keepAliveStream(once: (request: { id: LeaseIdInput }) => Promise<LeaseKeepAliveResponse>): LeaseKeepAliveStream {
  const answers: Promise<LeaseKeepAliveResponse>[] = []
  let closed = false
  let wake: (() => void) | undefined
  const notify = () => {
    const w = wake
    wake = undefined
    w?.()
  }
  return {
    send: (request) => {
      if (closed) throw new InvalidArgumentError('pocket-etcd: send on a closed keep-alive stream', 'InvalidArgument', 'ErrInvalidRequest')
      const answer = once(request)
      // the iterator reports a failure in order; this only keeps an unread one from being "unhandled"
      answer.catch(() => undefined)
      answers.push(answer)
      notify()
    },
    close: () => {
      closed = true
      notify()
    },
    [Symbol.asyncIterator]: async function* () {
      for (;;) {
        const next = answers.shift()
        if (next !== undefined) {
          yield await next
          continue
        }
        if (closed) return
        await new Promise<void>((resolve) => (wake = resolve))
      }
    },
  }
}

/** What the Lease service needs from a member (etcd's `Lessor` side of `EtcdServer`). */
export interface LeaseServer {
  /** `token`: the sender's auth token, checked as etcd checks it (revoke needs WRITE on every attached key). */
  leaseGrant(r: LeaseGrantRequest, token?: string): Promise<LeaseGrantResponse>
  leaseRevoke(r: LeaseRevokeRequest, token?: string): Promise<LeaseRevokeResponse>
  /** Throws `LeaseNotFound` for an unknown lease. */
  leaseRenew(r: { id: string }): Promise<LeaseKeepAliveResponse>
  /** Throws `LeaseNotFound` for an unknown lease. */
  leaseTimeToLive(r: LeaseTimeToLiveRequest): Promise<LeaseTimeToLiveResponse>
  leaseLeases(): Promise<LeaseLeasesResponse>
}

/** etcd's Lease service in front of one member (or the cluster's leader). */
export class LeaseService implements LeaseApi {
  constructor(
    private readonly server: () => LeaseServer,
    /** Keeps the host alive while a request is in flight (see `Clock.hold`). */
    private readonly hold: () => () => void = () => () => undefined,
    /** The auth token grants and revokes carry (none by default). */
    private readonly tokens: TokenSource = NO_TOKEN,
  ) {}

  private held<T>(run: () => Promise<T>): Promise<T> {
    return whileHeld(this.hold, run)
  }

  /** Creates a lease (etcd `LeaseGrant`); the TTL granted is at least the cluster's minimum. */
  async grant(request: { ttl: number; id?: LeaseIdInput }): Promise<LeaseGrantResponse> {
    const r = parseRequest(leaseGrantRequestSchema, request, 'LeaseGrantRequest')
    return this.held(() => this.tokens.run((t) => this.server().leaseGrant(r, t)))
  }

  /** Revokes a lease, deleting its keys in one revision (etcd `LeaseRevoke`). */
  async revoke(request: { id: LeaseIdInput }): Promise<LeaseRevokeResponse> {
    const r = parseRequest(leaseRevokeRequestSchema, request, 'LeaseRevokeRequest')
    return this.held(() => this.tokens.run((t) => this.server().leaseRevoke(r, t)))
  }

  /** Renews a lease once (etcd `LeaseKeepAlive`); `ttl` 0 when the lease does not exist. */
  async keepAliveOnce(request: { id: LeaseIdInput }): Promise<LeaseKeepAliveResponse> {
    const r = parseRequest(leaseKeepAliveRequestSchema, request, 'LeaseKeepAliveRequest')
    const server = this.server()
    return this.held(async () => {
      try {
        return await server.leaseRenew(r)
      } catch (err) {
        if (!isEtcdError(err, 'LeaseNotFound')) throw err
        // etcd's keep-alive stream answers an unknown lease with TTL 0, not an error
        const { header } = await server.leaseLeases()
        return { header, id: r.id, ttl: 0 }
      }
    })
  }

  /** Opens a keep-alive stream (etcd's bidirectional `LeaseKeepAlive`); see {@link LeaseKeepAliveStream}. */
  keepAlive(): LeaseKeepAliveStream {
    return keepAliveStream((request) => this.keepAliveOnce(request))
  }

  /** A lease's remaining and granted TTL (etcd `LeaseTimeToLive`); `ttl` -1 when it does not exist. */
  async timeToLive(request: { id: LeaseIdInput; keys?: boolean }): Promise<LeaseTimeToLiveResponse> {
    const r = parseRequest(leaseTimeToLiveRequestSchema, request, 'LeaseTimeToLiveRequest')
    const server = this.server()
    return this.held(async () => {
      try {
        return await server.leaseTimeToLive(r)
      } catch (err) {
        if (!isEtcdError(err, 'LeaseNotFound')) throw err
        // etcd's LeaseServer turns a missing lease into TTL -1 with no keys
        const { header } = await server.leaseLeases()
        return { header, id: r.id, ttl: -1, grantedTtl: 0, keys: [] }
      }
    })
  }

  /** Every live lease (etcd `LeaseLeases`). */
  async leases(request?: Record<string, never>): Promise<LeaseLeasesResponse> {
    parseRequest(leaseLeasesRequestSchema, request, 'LeaseLeasesRequest')
    return this.held(() => this.server().leaseLeases())
  }
}
