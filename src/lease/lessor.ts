/**
 * The lessor (etcd's `lease.lessor`): one member's replicated lease state — every lease's
 * id, granted TTL and attached keys — plus the leader-local part, each lease's expiry.
 * Grants and revokes are applied on every member in log order; expiry is tracked only by the
 * primary (the leader), which proposes revokes for expired leases. Followers keep every
 * lease "forever" until they are promoted.
 *
 * @module
 */
import { toBinaryString, fromBinaryString } from '../api/bytes.js'
import { assert, etcdError } from '../errors.js'
import type { Backend, BackendOp, Bucket } from '../mvcc/backend.js'
import type { Event, KVStore } from '../mvcc/index.js'

/** The largest TTL a lease may be granted, in seconds (etcd's `MaxLeaseTTL`). */
export const MAX_LEASE_TTL = 9_000_000_000

/** How many expired leases the primary revokes per round (etcd: `leaseRevokeRate / 2`). */
export const REVOKE_PER_ROUND = 500

/** How long the primary waits before proposing a revoke for the same expired lease again (etcd's `expiredLeaseRetryInterval`). */
export const EXPIRED_RETRY_MS = 3000

/** What etcd reports as the remaining TTL of a lease without expiry (`math.MaxInt64` nanoseconds, in seconds). */
export const FOREVER_SECONDS = 9_223_372_036

/** A lease as the lessor holds it. */
export interface LeaseState {
  /** The lease id, a decimal int64 string. */
  readonly id: string
  /** The granted TTL in seconds, after the minimum-TTL rule. */
  readonly ttl: number
  /** Clock time (ms) at which the lease expires; `Infinity` on a non-primary ("forever"). */
  expiry: number
  /** Attached keys, as binary strings. */
  readonly keys: Set<string>
}

/** The persisted form of a lease (etcd's `leasepb.Lease`: ID and TTL). */
interface LeaseRecord {
  id: string
  ttl: number
}

/** The lease's bucket key: its id as 8 big-endian bytes (etcd's `int64ToBytes`). */
function leaseKey(id: string): Uint8Array {
  const out = new Uint8Array(8)
  new DataView(out.buffer).setBigInt64(0, BigInt(id))
  return out
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** Raised by {@link Lessor.renew} on a member that is not the primary (etcd's `ErrNotPrimary`, internal). */
export class NotPrimaryError extends Error {
  constructor() {
    super('not a primary lessor')
    this.name = 'NotPrimaryError'
  }
}

/** Raised by {@link Lessor.renew} for a lease that expired and awaits its revoke (etcd waits for it). */
export class LeaseExpiredError extends Error {
  constructor() {
    super('lease expired, revoke pending')
    this.name = 'LeaseExpiredError'
  }
}

/**
 * One member's leases. Mutations happen while applying committed entries (one at a time);
 * each returns the backend ops that persist it, which the caller writes in the same batch
 * as the entry's consistent index.
 */
export class Lessor {
  private readonly leases = new Map<string, LeaseState>()
  /** key (binary string) → lease id: the lease each key is attached to (etcd's `itemMap`). */
  private readonly items = new Map<string, string>()
  /** Leases whose revoke the primary proposed, and when it may propose again. */
  private readonly revoking = new Map<string, number>()
  private primary = false
  private readonly bucket: Bucket

  private constructor(
    backend: Backend,
    /** The smallest TTL granted, in seconds (etcd's `minLeaseTTL`). */
    readonly minTtl: number,
  ) {
    this.bucket = backend.sublevel('lease')
  }

  /**
   * Loads the leases persisted in `kv`'s backend and attaches the keys whose latest version
   * carries a lease (etcd's `initFromBackend` and MVCC's restore). Every lease starts
   * "forever": only a promotion gives leases an expiry.
   */
  static async open(kv: KVStore, minTtl: number): Promise<Lessor> {
    assert(Number.isSafeInteger(minTtl) && minTtl >= 1, 'minimum lease TTL must be a positive integer')
    const l = new Lessor(kv.backend, minTtl)
    for await (const v of l.bucket.values() as AsyncIterable<Uint8Array>) {
      const rec = JSON.parse(decoder.decode(v)) as LeaseRecord
      l.leases.set(rec.id, { id: rec.id, ttl: Math.max(rec.ttl, minTtl), expiry: Infinity, keys: new Set() })
    }
    const all = await kv.range(new Uint8Array([0]), new Uint8Array(0), {})
    for (const item of all.kvs) {
      if (item.lease !== '0') l.attach(item.lease, toBinaryString(item.key))
    }
    return l
  }

  /** Does lease `id` exist? (for the applier's checks) */
  exists(id: string): boolean {
    return this.leases.has(id)
  }

  /** Lease `id`, if it exists. */
  lookup(id: string): LeaseState | undefined {
    return this.leases.get(id)
  }

  /** True while this lessor is the primary (its member leads and has promoted it). */
  get isPrimary(): boolean {
    return this.primary
  }

  /**
   * Checks a grant without changing anything (etcd `lessor.Grant`'s checks): id 0 is
   * refused as not found, a TTL above {@link MAX_LEASE_TTL} and an existing id are refused.
   */
  checkGrant(id: string, ttl: number): void {
    if (id === '0') throw etcdError('LeaseNotFound')
    if (ttl > MAX_LEASE_TTL) throw etcdError('LeaseTTLTooLarge')
    if (this.leases.has(id)) throw etcdError('LeaseExist')
  }

  /**
   * Grants lease `id` (after {@link checkGrant}); a TTL under the minimum is raised to it.
   * On the primary the lease expires `ttl` seconds from `now`. Returns the lease and the op
   * persisting it.
   */
  grant(id: string, ttl: number, now: number): { lease: LeaseState; ops: BackendOp[] } {
    this.checkGrant(id, ttl)
    const granted = Math.max(ttl, this.minTtl)
    const lease: LeaseState = { id, ttl: granted, expiry: this.primary ? now + granted * 1000 : Infinity, keys: new Set() }
    this.leases.set(id, lease)
    const rec: LeaseRecord = { id, ttl: granted }
    return { lease, ops: [{ type: 'put', bucket: this.bucket, key: leaseKey(id), value: encoder.encode(JSON.stringify(rec)) }] }
  }

  /** The keys attached to `id`, in byte order (etcd sorts them before deleting on revoke). */
  sortedKeys(id: string): Uint8Array[] {
    const lease = this.leases.get(id)
    if (lease === undefined) return []
    return [...lease.keys].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).map(fromBinaryString)
  }

  /**
   * Removes lease `id` (its keys must have been deleted by the caller in the same write) and
   * returns the op deleting its record. Throws `LeaseNotFound` when it does not exist.
   */
  revoke(id: string): BackendOp[] {
    const lease = this.leases.get(id)
    if (lease === undefined) throw etcdError('LeaseNotFound')
    for (const k of lease.keys) this.items.delete(k)
    this.leases.delete(id)
    this.revoking.delete(id)
    return [{ type: 'del', bucket: this.bucket, key: leaseKey(id) }]
  }

  /**
   * Follows the attachments of a write's changes (MVCC's put/delete attach and detach): a
   * put detaches the key from its old lease and attaches it to its new one; a delete
   * detaches it.
   */
  applyEvents(events: readonly Event[]): void {
    for (const e of events) {
      const k = toBinaryString(e.kv.key)
      this.detach(k)
      if (e.type === 'PUT' && e.kv.lease !== '0') this.attach(e.kv.lease, k)
    }
  }

  private attach(id: string, key: string): void {
    const lease = this.leases.get(id)
    // MVCC only writes leases the applier checked; a key restored with an unknown lease stays detached, as in etcd
    if (lease === undefined) return
    lease.keys.add(key)
    this.items.set(key, id)
  }

  private detach(key: string): void {
    const id = this.items.get(key)
    if (id === undefined) return
    this.items.delete(key)
    this.leases.get(id)?.keys.delete(key)
  }

  /**
   * Makes this lessor the primary (etcd `Promote`): every lease expires its TTL plus
   * `extendMs` from `now`, so no lease expires because leadership moved.
   */
  promote(now: number, extendMs: number): void {
    this.primary = true
    this.revoking.clear()
    for (const l of this.leases.values()) l.expiry = now + extendMs + l.ttl * 1000
  }

  /** Stops expiring leases (etcd `Demote`): every lease lives "forever" on a non-primary. */
  demote(): void {
    this.primary = false
    this.revoking.clear()
    for (const l of this.leases.values()) l.expiry = Infinity
  }

  /**
   * Renews lease `id` on the primary (etcd `Renew`): it now expires its TTL from `now`.
   * Returns the TTL. Throws {@link NotPrimaryError} off the primary, `LeaseNotFound` for an
   * unknown lease and {@link LeaseExpiredError} for one whose revoke is pending.
   */
  renew(id: string, now: number): number {
    if (!this.primary) throw new NotPrimaryError()
    const lease = this.leases.get(id)
    if (lease === undefined) throw etcdError('LeaseNotFound')
    if (lease.expiry <= now) throw new LeaseExpiredError()
    lease.expiry = now + lease.ttl * 1000
    this.revoking.delete(id)
    return lease.ttl
  }

  /** Remaining whole seconds of lease `id` at `now` (Go's `int64(Remaining().Seconds())`: truncated). */
  remaining(lease: LeaseState, now: number): number {
    // etcd: a "forever" lease's Remaining() is the largest Duration, 9223372036 whole seconds
    if (lease.expiry === Infinity) return FOREVER_SECONDS
    return Math.trunc((lease.expiry - now) / 1000)
  }

  /**
   * The expired leases whose revoke the primary should propose now (at most
   * {@link REVOKE_PER_ROUND}); each is not offered again for {@link EXPIRED_RETRY_MS}.
   */
  takeExpired(now: number): string[] {
    if (!this.primary) return []
    const out: string[] = []
    for (const l of this.leases.values()) {
      if (out.length >= REVOKE_PER_ROUND) break
      if (l.expiry > now) continue
      const retryAt = this.revoking.get(l.id)
      if (retryAt !== undefined && retryAt > now) continue
      this.revoking.set(l.id, now + EXPIRED_RETRY_MS)
      out.push(l.id)
    }
    return out
  }

  /** Every lease, soonest expiry first (etcd `Leases`, sorted by expiry); ties keep grant order. */
  list(): LeaseState[] {
    return [...this.leases.values()].sort((a, b) => (a.expiry < b.expiry ? -1 : a.expiry > b.expiry ? 1 : 0))
  }
}
