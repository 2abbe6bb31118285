/**
 * The Election service (etcd's `v3election` server): parses each request with zod, then
 * runs etcd's election recipe on the given lease, as etcd's server runs
 * `concurrency.Election` on an orphaned session (the caller keeps the lease alive).
 *
 * @module
 */
import { z } from 'zod'
import { toBytes } from '../api/bytes.js'
import type { ConcurrencyClient } from '../concurrency/client.js'
import { Election } from '../concurrency/election.js'
import { errMissingLeaderKey } from '../concurrency/errors.js'
import { Session } from '../concurrency/session.js'
import { bytesInput, idInput, normalizeId, parseRequest } from './kv-schema.js'
import type {
  CampaignRequestInput,
  CampaignResponse,
  ElectionApi,
  LeaderRequestInput,
  LeaderResponse,
  ProclaimRequestInput,
  ProclaimResponse,
  ResignRequestInput,
  ResignResponse,
} from './election-api.js'
import type { WaitOptions } from './lock-api.js'

const leaseField = idInput.optional().transform((v) => (v === undefined ? '0' : normalizeId(v)))
const valueField = bytesInput.optional().transform((v) => toBytes(v ?? ''))

/** v3electionpb.LeaderKey. */
export const leaderKeySchema = z.strictObject({
  name: bytesInput.transform((v) => toBytes(v)),
  key: bytesInput.transform((v) => toBytes(v)),
  rev: z.number().int().refine(Number.isSafeInteger, 'must be a safe integer'),
  lease: leaseField,
})

/** v3electionpb.CampaignRequest. */
export const campaignRequestSchema = z.strictObject({ name: bytesInput.transform((v) => toBytes(v)), lease: leaseField, value: valueField })
/** v3electionpb.ProclaimRequest (`leader` is checked separately, for etcd's error). */
export const proclaimRequestSchema = z.strictObject({ leader: leaderKeySchema.optional(), value: valueField })
/** v3electionpb.LeaderRequest. */
export const leaderRequestSchema = z.strictObject({ name: bytesInput.transform((v) => toBytes(v)) })
/** v3electionpb.ResignRequest (`leader` is checked separately, for etcd's error). */
export const resignRequestSchema = z.strictObject({ leader: leaderKeySchema.optional() })

/** The lease id etcd's election server uses for reads that need no lease (`es.session(ctx, -1)`). */
const NO_LEASE_NEEDED = '-1'

/** etcd's Election service in front of a client (the Store, or one member). */
export class ElectionService implements ElectionApi {
  constructor(private readonly client: () => ConcurrencyClient) {}

  /** Waits to lead `name` on `lease`, then returns the leadership's key (etcd `Election.Campaign`). */
  async campaign(request: CampaignRequestInput, options: WaitOptions = {}): Promise<CampaignResponse> {
    const r = parseRequest(campaignRequestSchema, request, 'CampaignRequest')
    const s = await Session.orphaned(this.client(), r.lease)
    const e = new Election(s, r.name)
    await e.campaign(r.value, options)
    return { header: e.header!, leader: { name: r.name, key: e.key, rev: e.rev, lease: s.lease } }
  }

  /** Updates the leader's value (etcd `Election.Proclaim`). */
  async proclaim(request: ProclaimRequestInput): Promise<ProclaimResponse> {
    const r = parseRequest(proclaimRequestSchema, request, 'ProclaimRequest')
    if (r.leader === undefined) throw errMissingLeaderKey()
    const s = await Session.orphaned(this.client(), r.leader.lease)
    const e = Election.resume(s, r.leader.name, r.leader.key, r.leader.rev)
    await e.proclaim(r.value)
    return { header: e.header! }
  }

  /** The current leader (etcd `Election.Leader`). */
  async leader(request: LeaderRequestInput): Promise<LeaderResponse> {
    const r = parseRequest(leaderRequestSchema, request, 'LeaderRequest')
    const s = await Session.orphaned(this.client(), NO_LEASE_NEEDED)
    const l = await new Election(s, r.name).leader()
    return { header: l.header, kv: l.kv }
  }

  /** Every leader and proclamation in order (etcd `Election.Observe`). */
  observe(request: LeaderRequestInput, options: WaitOptions = {}): AsyncIterable<LeaderResponse> {
    const r = parseRequest(leaderRequestSchema, request, 'LeaderRequest')
    const client = this.client
    return {
      async *[Symbol.asyncIterator]() {
        const s = await Session.orphaned(client(), NO_LEASE_NEEDED)
        for await (const l of new Election(s, r.name).observe(options)) yield { header: l.header, kv: l.kv }
      },
    }
  }

  /** Gives up leadership (etcd `Election.Resign`). */
  async resign(request: ResignRequestInput): Promise<ResignResponse> {
    const r = parseRequest(resignRequestSchema, request, 'ResignRequest')
    if (r.leader === undefined) throw errMissingLeaderKey()
    const s = await Session.orphaned(this.client(), r.leader.lease)
    const e = Election.resume(s, r.leader.name, r.leader.key, r.leader.rev)
    await e.resign()
    return { header: e.header! }
  }
}
