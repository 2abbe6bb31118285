/**
 * The lessor (etcd's `lease.lessor`): one member's replicated lease state — every lease's
 * id, granted TTL and attached keys — plus the leader-local part, each lease's expiry.
 * Grants and revokes are applied on every member in log order; expiry is tracked only by the
 * primary (the leader), which proposes revokes for expired leases. Followers keep every
 * lease "forever" until they are promoted.
 *
 * Checkpoints (etcd's lease checkpointing, persisted as in etcd 3.6): the primary
 * periodically proposes each long lease's remaining TTL through Raft; every member records
 * it (in memory and in the lease's record), and a promotion (a new leader, or a restart
 * from disk) gives a checkpointed lease that remaining TTL instead of its full TTL.
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

/** How often the primary checkpoints a lease's remaining TTL, in ms (etcd's `defaultLeaseCheckpointInterval`: 5 minutes). */
export const DEFAULT_CHECKPOINT_INTERVAL_MS = 300_000

/** The most checkpoints one proposal carries (etcd's `maxLeaseCheckpointBatchSize`). */
export const MAX_CHECKPOINT_BATCH = 1000

/** The most checkpoint proposals per 500 ms round (etcd: `leaseCheckpointRate / 2`). */
export const CHECKPOINT_BATCHES_PER_ROUND = 500

/** One lease's checkpointed remaining TTL (etcd's `LeaseCheckpoint`); 0 clears it (the full TTL applies again). */
export interface LeaseCheckpoint {
  /** The lease id, a decimal int64 string. */
  id: string
  /** Remaining whole seconds (rounded up, as etcd does); 0: none. */
  remainingTtl: number
}

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
  /** The last checkpointed remaining TTL in seconds, 0 when none (etcd's `remainingTTL`); a promotion starts from it. */
  remainingTtl: number
}

/** The persisted form of a lease (etcd's `leasepb.Lease`: ID, TTL and, since 3.5, RemainingTTL). */
interface LeaseRecord {
  id: string
  ttl: number
  /** Absent in records written before checkpoints, and when 0. */
  remainingTtl?: number
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
  /** On the primary: lease id → clock time (ms) its next checkpoint is due (etcd's `leaseCheckpointHeap`). */
  private readonly checkpointDue = new Map<string, number>()
  /** On the primary: leases whose checkpoint was taken for a proposal and not yet applied. */
  private readonly checkpointsInFlight = new Set<string>()

  private constructor(
    backend: Backend,
    /** The smallest TTL granted, in seconds (etcd's `minLeaseTTL`). */
    readonly minTtl: number,
    /** Time between a lease's checkpoints, in ms (etcd's `--experimental-lease-checkpoint-interval`). */
    readonly checkpointIntervalMs: number = DEFAULT_CHECKPOINT_INTERVAL_MS,
  ) {
    this.bucket = backend.sublevel('lease')
  }

  /**
   * Loads the leases persisted in `kv`'s backend and attaches the keys whose latest version
   * carries a lease (etcd's `initFromBackend` and MVCC's restore). Every lease starts
   * "forever": only a promotion gives leases an expiry (from their checkpointed remaining
   * TTL when they have one).
   */
  static async open(kv: KVStore, minTtl: number, checkpointIntervalMs: number = DEFAULT_CHECKPOINT_INTERVAL_MS): Promise<Lessor> {
    assert(Number.isSafeInteger(minTtl) && minTtl >= 1, 'minimum lease TTL must be a positive integer')
    assert(checkpointIntervalMs > 0, 'lease checkpoint interval must be positive')
    const l = new Lessor(kv.backend, minTtl, checkpointIntervalMs)
    for await (const v of l.bucket.values() as AsyncIterable<Uint8Array>) {
      const rec = JSON.parse(decoder.decode(v)) as LeaseRecord
      l.leases.set(rec.id, { id: rec.id, ttl: Math.max(rec.ttl, minTtl), expiry: Infinity, keys: new Set(), remainingTtl: rec.remainingTtl ?? 0 })
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
    const lease: LeaseState = { id, ttl: granted, expiry: this.primary ? now + granted * 1000 : Infinity, keys: new Set(), remainingTtl: 0 }
    this.leases.set(id, lease)
    if (this.primary) this.scheduleCheckpoint(lease, now)
    return { lease, ops: [this.persist(lease)] }
  }

  /** The op writing `lease`'s record (etcd `persistTo`). */
  private persist(lease: LeaseState): BackendOp {
    const rec: LeaseRecord = { id: lease.id, ttl: lease.ttl }
    if (lease.remainingTtl > 0) rec.remainingTtl = lease.remainingTtl
    return { type: 'put', bucket: this.bucket, key: leaseKey(lease.id), value: encoder.encode(JSON.stringify(rec)) }
  }

  /**
   * Records a checkpoint of lease `id` (etcd `Checkpoint`, applied on every member): its
   * remaining TTL becomes `remainingTtl` (0 clears it), which only a later promotion uses;
   * the expiry the primary tracks does not change. On the primary the next checkpoint is
   * scheduled. An unknown (revoked) lease is ignored. Returns the op persisting the record.
   */
  checkpoint(id: string, remainingTtl: number, now: number): BackendOp[] {
    const lease = this.leases.get(id)
    if (lease === undefined) return []
    this.checkpointsInFlight.delete(id)
    lease.remainingTtl = Math.max(0, remainingTtl)
    if (this.primary) this.scheduleCheckpoint(lease, now)
    return [this.persist(lease)]
  }

  /**
   * Must a renew of lease `id` first clear its checkpoint through Raft (etcd `Renew`'s
   * `clearRemainingTTL`)? Yes when one is recorded, and also when one is still in flight,
   * whose late apply would otherwise leave the renewed lease a stale, shorter remaining TTL.
   */
  renewClears(id: string): boolean {
    const lease = this.leases.get(id)
    return lease !== undefined && (lease.remainingTtl > 0 || this.checkpointsInFlight.has(id))
  }

  /** The TTL a promotion gives `lease`: its checkpointed remaining TTL if set, else its TTL (etcd `getRemainingTTL`). */
  remainingOnPromote(lease: LeaseState): number {
    return lease.remainingTtl > 0 ? lease.remainingTtl : lease.ttl
  }

  /**
   * Schedules `lease`'s next checkpoint an interval from `now` when its TTL outlasts the
   * interval (etcd `scheduleCheckpointIfNeeded`); a shorter lease is not checkpointed.
   */
  private scheduleCheckpoint(lease: LeaseState, now: number): void {
    if (this.remainingOnPromote(lease) > Math.trunc(this.checkpointIntervalMs / 1000)) this.checkpointDue.set(lease.id, now + this.checkpointIntervalMs)
    else this.checkpointDue.delete(lease.id)
  }

  /**
   * The checkpoints due at `now` on the primary, soonest first, at most `limit` (etcd
   * `findDueScheduledCheckpoints`): each lease's remaining TTL in whole seconds, rounded up.
   * A lease that expired is skipped; one just renewed to its full TTL is not checkpointed
   * but rescheduled (etcd drops it until the next promotion). Each taken lease is due again
   * an interval later, so a proposal that is lost is retried then; applying it reschedules
   * it anyway.
   */
  takeDueCheckpoints(now: number, limit: number = MAX_CHECKPOINT_BATCH): LeaseCheckpoint[] {
    if (!this.primary) return []
    const due = [...this.checkpointDue].filter(([, at]) => at <= now).sort((a, b) => a[1] - b[1])
    const out: LeaseCheckpoint[] = []
    for (const [id] of due) {
      if (out.length >= limit) break
      const lease = this.leases.get(id)
      if (lease === undefined || lease.expiry <= now) {
        this.checkpointDue.delete(id)
        continue
      }
      this.checkpointDue.set(id, now + this.checkpointIntervalMs)
      const remainingTtl = Math.ceil((lease.expiry - now) / 1000)
      if (remainingTtl >= lease.ttl) continue
      this.checkpointsInFlight.add(id)
      out.push({ id, remainingTtl })
    }
    return out
  }

  /**
   * Every checkpoint that would bring the members' records up to date with the primary's
   * expiries at `now` (for a graceful close, so a reopen restores the exact remaining TTLs):
   * the remaining TTL rounded up, 0 for a lease at its full TTL (just granted or renewed),
   * and 1 s for an expired lease whose revoke is pending. Leases whose record already says
   * so are left out. Empty off the primary.
   */
  pendingCheckpoints(now: number): LeaseCheckpoint[] {
    if (!this.primary) return []
    const out: LeaseCheckpoint[] = []
    for (const lease of this.leases.values()) {
      if (lease.expiry === Infinity) continue
      const left = Math.ceil((lease.expiry - now) / 1000)
      const remainingTtl = left >= lease.ttl ? 0 : Math.max(1, left)
      if (remainingTtl !== lease.remainingTtl) out.push({ id: lease.id, remainingTtl })
    }
    return out
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
    this.checkpointDue.delete(id)
    this.checkpointsInFlight.delete(id)
    return [{ type: 'del', bucket: this.bucket, key: leaseKey(id) }]
  }

  /**
   * Follows the attachments of a write's changes (MVCC's put/delete attach and detach): a
   * put detaches the key from its old lease and attaches it to its new one; a delete
   * detaches it.
   */
  applyEvents(events: readonly Event[]): void {
    for (const e of events) {
      // no key has a lease (the common case) and this put attaches none: nothing to move
      if (this.items.size === 0 && (e.type !== 'PUT' || e.kv.lease === '0')) continue
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
   * Makes this lessor the primary (etcd `Promote`): every lease expires its checkpointed
   * remaining TTL (its full TTL when it has none) plus `extendMs` from `now`, so no lease
   * expires because leadership moved, and a checkpointed lease does not start over.
   */
  promote(now: number, extendMs: number): void {
    this.primary = true
    this.revoking.clear()
    this.checkpointDue.clear()
    this.checkpointsInFlight.clear()
    for (const l of this.leases.values()) {
      l.expiry = now + extendMs + this.remainingOnPromote(l) * 1000
      this.scheduleCheckpoint(l, now)
    }
  }

  /** Stops expiring leases (etcd `Demote`): every lease lives "forever" on a non-primary. */
  demote(): void {
    this.primary = false
    this.revoking.clear()
    this.checkpointDue.clear()
    this.checkpointsInFlight.clear()
    for (const l of this.leases.values()) l.expiry = Infinity
  }

  /**
   * Renews lease `id` on the primary (etcd `Renew`): it now expires its full TTL from `now`
   * (the caller first clears a checkpointed remaining TTL through Raft, as etcd does).
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
