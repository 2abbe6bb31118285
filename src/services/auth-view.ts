/**
 * A view of a Store as one user (`store.as(token)`, `store.withCredentials(user, password)`):
 * etcd's KV, Lease, Watch and Auth services whose every request carries that user's token,
 * and the etcd3-style typed layer over its KV service.
 *
 * @module
 */
import { Namespace } from '../client/namespace.js'
import type { KVApi } from './kv-api.js'
import type { LeaseApi } from './lease-api.js'
import type { WatchApi } from './watch-api.js'
import type { AuthApi } from './auth-api.js'

/** A Store-like view whose requests carry one user's credentials. */
export class AuthView extends Namespace {
  /** etcd's Lease service, as this user. */
  readonly lease: LeaseApi
  /** etcd's Watch service, as this user (a watch outside its READ permission is canceled at creation). */
  readonly watch: WatchApi
  /** etcd's Auth service, as this user. */
  readonly auth: AuthApi

  constructor(services: { kv: KVApi; lease: LeaseApi; watch: WatchApi; auth: AuthApi }) {
    super(services.kv)
    this.lease = services.lease
    this.watch = services.watch
    this.auth = services.auth
  }
}
