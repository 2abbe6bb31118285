/**
 * Helpers of the concurrency tests: clients on the whole Store or pinned to one member,
 * driving a manual clock until a promise settles, and a checker that no two holders of a
 * lock (or leaders of an election) overlap in cluster time.
 */
import assert from 'node:assert/strict'
import { Store } from '../../src/store.js'
import type { StoreOptions } from '../../src/store.js'
import type { ConcurrencyClient } from '../../src/concurrency/client.js'

/** UTF-8 text of bytes. */
export const text = (b: Uint8Array): string => new TextDecoder().decode(b)

/** Opens a manual-clock cluster, runs `fn`, closes it; prints the seed on failure. */
export async function withStore(options: StoreOptions, fn: (store: Store) => Promise<void>): Promise<void> {
  const store = await Store.open({ clock: 'manual', seed: 1, ...options })
  try {
    await fn(store)
  } catch (err) {
    console.error(`seed ${store.sim.seed}: replay with Store.open({ clock: 'manual', seed: ${store.sim.seed}, members: ${store.memberNames.length} })`)
    throw err
  } finally {
    await store.close()
  }
}

/** A client of the whole cluster (requests go to the leader), as `store.lock`/`store.election` use. */
export function clientOf(store: Store): ConcurrencyClient {
  return { kv: store.kv, lease: store.lease, watch: store.watch, clock: store.sim.clock }
}

/** A client pinned to member `name`, as an etcd client connected to that one endpoint. */
export function memberClient(store: Store, name: string): ConcurrencyClient {
  const m = store.member(name)
  return { kv: m.kv, lease: m.lease, watch: m.watch, clock: store.sim.clock }
}

/** Advances cluster time until `p` settles (or `maxMs` pass); returns its outcome. */
export async function drive<T>(store: Store, p: Promise<T>, maxMs = 60_000, stepMs = 10): Promise<T> {
  let outcome: { ok: true; value: T } | { ok: false; error: unknown } | undefined
  p.then(
    (value) => (outcome = { ok: true, value }),
    (error: unknown) => (outcome = { ok: false, error }),
  )
  await store.sim.until(() => outcome !== undefined, maxMs, stepMs)
  if (outcome === undefined) throw new Error(`still pending after ${maxMs} ms of cluster time`)
  if (outcome.ok) return outcome.value
  throw outcome.error
}

/** Advances cluster time until `cond` holds; fails the test if it does not within `maxMs`. */
export async function until(store: Store, cond: () => boolean, what: string, maxMs = 60_000): Promise<void> {
  assert.ok(await store.sim.until(cond, maxMs, 10), `timed out waiting for ${what}`)
}

/** One holder's tenure: from acquiring to releasing (or losing) the lock, in cluster time and event order. */
export interface Tenure {
  who: string
  from: number
  to: number | undefined
}

/**
 * Records acquisitions and releases of one lock (or leadership) and asserts, at each
 * acquisition, that nobody else holds it: no two tenures overlap, in event order and in
 * cluster time (a new tenure starts no earlier than the previous one ended).
 */
export class ExclusionChecker {
  readonly tenures: Tenure[] = []
  private current: Tenure | undefined

  constructor(private readonly now: () => number) {}

  acquired(who: string): void {
    const t = this.now()
    assert.equal(this.current, undefined, `${who} acquired at ${t} while ${this.current?.who} held it since ${this.current?.from}`)
    const prev = this.tenures[this.tenures.length - 1]
    if (prev?.to !== undefined) assert.ok(t >= prev.to, `${who} acquired at ${t}, before ${prev.who} released at ${prev.to}`)
    this.current = { who, from: t, to: undefined }
    this.tenures.push(this.current)
  }

  released(who: string): void {
    if (this.current?.who !== who) return // released twice (lost, then released): the first counts
    this.current.to = this.now()
    this.current = undefined
  }

  /** Names of the holders, in the order they acquired. */
  order(): string[] {
    return this.tenures.map((t) => t.who)
  }
}
