/**
 * The Lock service (etcd's `v3lock` server): parses each request with zod, then runs etcd's
 * mutex recipe on the given lease, as etcd's server runs `concurrency.Mutex` on an orphaned
 * session (the caller keeps the lease alive).
 *
 * @module
 */
import { z } from 'zod'
import type { ConcurrencyClient } from '../concurrency/client.js'
import { Mutex } from '../concurrency/mutex.js'
import { Session } from '../concurrency/session.js'
import { bytesInput, idInput, normalizeId, parseRequest } from './kv-schema.js'
import type { LockApi, LockRequestInput, LockResponse, UnlockRequestInput, UnlockResponse, WaitOptions } from './lock-api.js'

/** v3lockpb.LockRequest. */
export const lockRequestSchema = z.strictObject({
  name: bytesInput,
  lease: idInput.optional().transform((v) => (v === undefined ? '0' : normalizeId(v))),
})

/** v3lockpb.UnlockRequest. */
export const unlockRequestSchema = z.strictObject({ key: bytesInput })

/** etcd's Lock service in front of a client (the Store, or one member). */
export class LockService implements LockApi {
  constructor(private readonly client: () => ConcurrencyClient) {}

  /** Acquires the named lock on `lease`, waiting for earlier holders (etcd `Lock.Lock`). */
  async lock(request: LockRequestInput, options: WaitOptions = {}): Promise<LockResponse> {
    const r = parseRequest(lockRequestSchema, request, 'LockRequest')
    const session = await Session.orphaned(this.client(), r.lease)
    const m = new Mutex(session, r.name)
    await m.lock(options)
    return { header: m.header!, key: m.key }
  }

  /** Releases a lock by deleting its key (etcd `Lock.Unlock`). */
  async unlock(request: UnlockRequestInput): Promise<UnlockResponse> {
    const r = parseRequest(unlockRequestSchema, request, 'UnlockRequest')
    const resp = await this.client().kv.deleteRange({ key: r.key })
    return { header: resp.header }
  }
}
