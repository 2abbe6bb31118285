/**
 * `store.lock(name)`: the etcd3-style lock builder, on etcd's mutex recipe.
 *
 * @module
 */
import { toBytes } from '../api/bytes.js'
import type { ConcurrencyClient } from '../concurrency/client.js'
import { Mutex } from '../concurrency/mutex.js'
import type { LockOptions } from '../concurrency/mutex.js'
import { Session } from '../concurrency/session.js'
import { InvalidArgumentError } from '../errors.js'
import type { LockApi } from '../services/lock-api.js'
import { checkKey, checkTtl } from './validate.js'

/** etcd3's default lock TTL, in seconds. */
export const DEFAULT_LOCK_TTL = 30

/**
 * A named lock (the `etcd3` client's `Lock`, on etcd's `concurrency.Mutex`): `acquire()`
 * grants a session lease of `ttl()` seconds, kept alive, and waits its turn; `release()`
 * unlocks and revokes the lease; `do(fn)` runs `fn` while holding it.
 *
 * Unlike etcd3's `Lock`, which fails at once when the lock is taken, `acquire()` waits in
 * FIFO order as etcd's own mutex does; `tryAcquire()` is the fail-fast form. Keys follow
 * etcd's layout (`<name>/<lease hex>`), so etcd's `etcdctl lock` and v3lock interoperate.
 */
export class Lock {
  private leaseTtl = DEFAULT_LOCK_TTL
  private session: Session | undefined
  private mutex: Mutex | undefined

  constructor(
    private readonly client: ConcurrencyClient,
    private readonly name: Uint8Array,
  ) {}

  /** Sets the TTL of the lock's lease in seconds (default 30); only before acquiring. */
  ttl(seconds: number): this {
    if (this.session !== undefined) throw new InvalidArgumentError('pocket-etcd: cannot set a lock TTL after acquiring the lock', 'InvalidArgument', 'ErrInvalidRequest')
    if (typeof seconds !== 'number') checkTtl(seconds, 'seconds in lock(name).ttl(seconds)')
    if (!(seconds > 0)) throw new InvalidArgumentError(`pocket-etcd: lock TTL must be positive, got ${seconds}`, 'InvalidArgument', 'ErrInvalidRequest')
    this.leaseTtl = seconds
    return this
  }

  /** Acquires the lock, waiting for earlier holders; rejects (and cleans up) on abort or failure. */
  async acquire(options: LockOptions = {}): Promise<this> {
    await this.start((m) => m.lock(options))
    return this
  }

  /** Acquires the lock only if it is free; otherwise rejects with `mutex: Locked by another session`. */
  async tryAcquire(): Promise<this> {
    await this.start((m) => m.tryLock())
    return this
  }

  private async start(how: (m: Mutex) => Promise<void>): Promise<void> {
    if (this.session !== undefined) throw new InvalidArgumentError('pocket-etcd: the lock is already acquired', 'InvalidArgument', 'ErrInvalidRequest')
    const session = await Session.create(this.client, { ttl: this.leaseTtl })
    this.session = session
    this.mutex = new Mutex(session, this.name)
    try {
      await how(this.mutex)
    } catch (err) {
      await this.release().catch(() => {
        // best effort: the lease expires anyway; the acquire failure is the error to report
      })
      throw err
    }
  }

  /** The lease id holding the lock, while acquired. */
  leaseId(): string | undefined {
    return this.session?.lease
  }

  /** The lock key (`<name>/<lease hex>`), while acquired. */
  key(): Uint8Array | undefined {
    return this.mutex?.key
  }

  /** Resolves when the lock's session ends: released, or its lease lost (then `isLost` is true). */
  get lost(): Promise<void> {
    return this.session?.done ?? Promise.resolve()
  }

  /** True when the lock's lease was lost while held (expired or revoked): another holder may have it. */
  get isLost(): boolean {
    return this.session?.isLost ?? false
  }

  /** Releases the lock: revokes its lease, which deletes the lock key (etcd3 `Lock.release`). */
  async release(): Promise<void> {
    const s = this.session
    this.session = undefined
    this.mutex = undefined
    if (s !== undefined) await s.close()
  }

  /** Runs `fn` while holding the lock and releases it afterwards, whatever `fn` does. */
  async do<T>(fn: () => T | Promise<T>, options: LockOptions = {}): Promise<T> {
    await this.acquire(options)
    try {
      return await fn()
    } finally {
      await this.release()
    }
  }
}

/** Builds a {@link Lock} on `name` (bytes or UTF-8). */
export function lockOn(client: ConcurrencyClient, name: string | Uint8Array): Lock {
  return new Lock(client, toBytes(checkKey(name, 'name in lock(name)')))
}

/** `store.lock`: etcd's Lock service (`lock`, `unlock`) and the builder `store.lock(name)`. */
export type LockFacade = ((name: string | Uint8Array) => Lock) & LockApi

/** Builds a {@link LockFacade} from the service and the client locks run on. */
export function lockFacade(api: LockApi, client: ConcurrencyClient): LockFacade {
  const f = ((name: string | Uint8Array) => lockOn(client, name)) as LockFacade
  f.lock = (r, o) => api.lock(r, o)
  f.unlock = (r) => api.unlock(r)
  return f
}
