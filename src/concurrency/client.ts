/**
 * What the concurrency recipes (sessions, mutexes, elections, STM) need from a cluster:
 * etcd's KV, Lease and Watch services and a clock, as etcd's `clientv3.Client` gives them
 * to `clientv3/concurrency`. A Store is one; so is a single member (a client pinned to one
 * endpoint), which is how tests partition a lock holder away from the quorum.
 *
 * @module
 */
import type { Clock } from '../sim/clock.js'
import type { KVApi } from '../services/kv-api.js'
import type { LeaseApi } from '../services/lease-api.js'
import type { WatchApi } from '../services/watch-api.js'

/** A client of one cluster (or one endpoint of it), as the concurrency recipes use it (etcd's `*clientv3.Client`). */
export interface ConcurrencyClient {
  /** etcd's KV service. */
  readonly kv: KVApi
  /** etcd's Lease service. */
  readonly lease: LeaseApi
  /** etcd's Watch service. */
  readonly watch: WatchApi
  /** The cluster's clock: keep-alives and session deadlines run on it. */
  readonly clock: Clock
}
