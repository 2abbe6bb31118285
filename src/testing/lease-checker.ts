/**
 * Checks that no key outlives its lease: a key attached to a lease must be gone once the lease
 * has expired (its TTL after the last refresh) or been revoked, allowing a bound in cluster
 * time for the expiry to be noticed and committed.
 *
 * @module
 */

/** What the clients know of one lease, in cluster time. */
export interface LeaseRecord {
  id: string
  /** The TTL granted, in milliseconds of cluster time. */
  ttlMs: number
  /** When the grant's response arrived. */
  grantedAt: number
  /** When each successful keep-alive response arrived (each refreshes the TTL from then on). */
  keepAlives?: number[]
  /** When an acknowledged revoke's response arrived, if one did. */
  revokedAt?: number
}

/** A read that saw a key attached to a lease (a read that found it absent proves nothing here). */
export interface KeyObservation {
  key: string
  lease: string
  /** When the read was invoked: the key existed at some point at or after it. */
  time: number
  /**
   * When the read's response arrived, if known: the key existed at some point between `time`
   * and this. A refresh inside that window (a keep-alive, a new leader's promotion) may be what
   * kept it alive; without it, only `time` is judged.
   */
  completed?: number
}

/** A key seen alive longer than its lease allows. */
export interface LeaseViolation {
  key: string
  lease: string
  /** When the lease ended at the latest (expiry or revoke). */
  leaseEnd: number
  /** When the key was still seen. */
  seenAt: number
  message: string
}

/** The latest time the lease can still be alive when observed at `at` (its refreshes after `at` do not count). */
export function leaseEnd(lease: LeaseRecord, at: number): number {
  let refreshed = lease.grantedAt
  for (const t of lease.keepAlives ?? []) if (t <= at && t > refreshed) refreshed = t
  const expiry = refreshed + lease.ttlMs
  return lease.revokedAt !== undefined && lease.revokedAt < expiry ? lease.revokedAt : expiry
}

/**
 * Returns every observation of a key after its lease ended by more than `allowedMs` (the
 * grace a lease's expiry needs: etcd checks expiries every 500 ms and must commit the
 * revoke). A key attached to a lease the records do not know is reported too.
 */
export function checkLeases(leases: readonly LeaseRecord[], observations: readonly KeyObservation[], allowedMs: number): LeaseViolation[] {
  const byId = new Map(leases.map((l) => [l.id, l]))
  const out: LeaseViolation[] = []
  for (const o of observations) {
    const l = byId.get(o.lease)
    if (l === undefined) {
      out.push({ key: o.key, lease: o.lease, leaseEnd: -Infinity, seenAt: o.time, message: `${o.key} seen at ${o.time} attached to lease ${o.lease}, which was never granted` })
      continue
    }
    // the key existed at some t in [time, completed]; t - leaseEnd(l, t) only drops at a refresh,
    // so the read is legal when it is legal at `time` or just after some refresh in the window
    const candidates = [o.time, ...(l.keepAlives ?? []).filter((t) => t > o.time && t <= (o.completed ?? o.time))]
    if (candidates.some((t) => t <= leaseEnd(l, t) + allowedMs)) continue
    const end = leaseEnd(l, o.time)
    const how = l.revokedAt !== undefined && l.revokedAt === end ? `was revoked at ${end}` : `expired at ${end} (ttl ${l.ttlMs} ms)`
    const window = o.completed !== undefined && o.completed > o.time ? ` (read ${o.time}-${o.completed})` : ''
    out.push({ key: o.key, lease: o.lease, leaseEnd: end, seenAt: o.time, message: `${o.key} seen at ${o.time}${window}, but its lease ${o.lease} ${how}: ${o.time - end} ms later, over the allowed ${allowedMs} ms` })
  }
  return out
}

/** Throws an `Error` listing every key that outlived its lease. */
export function assertLeasesRespected(leases: readonly LeaseRecord[], observations: readonly KeyObservation[], allowedMs: number): void {
  const v = checkLeases(leases, observations, allowedMs)
  if (v.length > 0) throw new Error(`keys outlived their leases (${v.length}):\n${v.map((x) => `  ${x.message}`).join('\n')}`)
}
