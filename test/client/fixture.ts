/**
 * Where the client tests get a real KVApi: a one-member `Store`, one per test.
 */
import { Namespace } from '../../src/client/index.js'
import { Store } from '../../src/store.js'
import { RecordingKV } from './recording-kv.js'

/** A fresh, empty store seen through the root {@link Namespace}, the recorder of its requests, and `close`. */
export interface Fixture {
  /** The root namespace over `kv`, so tests can check the requests builders send. */
  store: Namespace
  /** The Store's KV service, recording every request. */
  kv: RecordingKV
  /** The Store itself (it is a root Namespace too). */
  raw: Store
  close(): Promise<void>
}

/** Opens a fresh, empty one-member Store for one test. */
export async function openFixture(): Promise<Fixture> {
  const raw = await Store.open({ members: 1 })
  const kv = new RecordingKV(raw.kv)
  return {
    store: new Namespace(kv),
    kv,
    raw,
    close: () => raw.close(),
  }
}

/** Bytes from numbers, for non-UTF-8 keys and values. */
export function bytes(...values: number[]): Uint8Array {
  return new Uint8Array(values)
}

/**
 * `value` with every `Uint8Array` subclass (the Store returns Node `Buffer`s) turned into a
 * plain `Uint8Array`, through arrays and plain objects, so byte results compare by content.
 */
export function plain<T>(value: T): T {
  if (value instanceof Uint8Array) return new Uint8Array(value) as T
  if (Array.isArray(value)) return value.map((v: unknown) => plain(v)) as T
  if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)])) as T
  }
  return value
}
