/**
 * etcd3's `WatchBuilder`: a fluent description of a watch, created with `.create()`.
 *
 * @module
 */
import type { WatchFilter } from '../api/messages.js'
import type { WatchApi, WatchCreateRequestInput } from '../services/watch-api.js'
import { KeyPrefix } from './key-prefix.js'
import { Range, type KeyInput, type Rangable } from './range.js'
import { Watcher, type WatchConnector } from './watcher.js'
import { checkKey, checkName, checkRevision } from './validate.js'

/**
 * Builds a watch (etcd3's `WatchBuilder`): pick what with `.key()`, `.prefix()` or
 * `.inRange()`, optionally `.startRevision()`, `.ignore()` and `.withPreviousKV()`, then
 * `.create()` resolves with a running {@link Watcher}.
 *
 * ```ts
 * const w = await store.watch().prefix('user/').withPreviousKV().create()
 * w.on('put', (kv, prev) => ...)
 * ```
 */
export class WatchBuilder {
  readonly #connector: WatchConnector
  readonly #prefix: KeyPrefix
  #range: Range | undefined
  #startRevision = 0
  #filters: WatchFilter[] = []
  #prevKv = false
  #progressNotify = false

  constructor(connector: WatchConnector, prefix: KeyPrefix = KeyPrefix.ROOT) {
    this.#connector = connector
    this.#prefix = prefix
  }

  /** Watches one key. */
  key(key: KeyInput): this {
    this.#range = new Range(checkKey(key, 'key in watch().key(key)'))
    return this
  }

  /** Watches every key that starts with `prefix`. */
  prefix(prefix: KeyInput): this {
    this.#range = Range.prefix(checkKey(prefix, 'prefix in watch().prefix(prefix)'))
    return this
  }

  /** Watches a range of keys (`[start, end)`, or any {@link Rangable}). */
  inRange(r: Rangable): this {
    this.#range = Range.from(r)
    return this
  }

  /** Starts from revision `rev` (inclusive), replaying history since then. */
  startRevision(rev: number): this {
    this.#startRevision = checkRevision(rev, 'revision in watch().startRevision(rev)')
    return this
  }

  /** Drops events of a type on the server (etcd's NOPUT / NODELETE filters). */
  ignore(...types: ('put' | 'delete')[]): this {
    for (const t of types) checkName({ put: 1, delete: 1 }, t, 'event type in watch().ignore(...types)')
    for (const t of types) {
      const f: WatchFilter = t === 'put' ? 'NOPUT' : 'NODELETE'
      if (!this.#filters.includes(f)) this.#filters.push(f)
    }
    return this
  }

  /** Includes each event's previous key-value (etcd's `prev_kv`). */
  withPreviousKV(): this {
    this.#prevKv = true
    return this
  }

  /** Asks for periodic progress notifications while nothing changes (etcd's `progress_notify`). */
  withProgressNotify(): this {
    this.#progressNotify = true
    return this
  }

  /** The create request this builder describes, with the namespace's prefix applied. */
  request(): WatchCreateRequestInput {
    const r = this.#range
    // no range chosen: the whole namespace
    const key = r === undefined ? (this.#prefix.isRoot ? new Uint8Array([0]) : this.#prefix.bytes) : this.#prefix.key(r.start)
    const rangeEnd = r === undefined ? (this.#prefix.isRoot ? new Uint8Array([0]) : this.#prefix.end) : this.#prefix.rangeEnd(r.end)
    return {
      key,
      rangeEnd,
      startRevision: this.#startRevision,
      filters: [...this.#filters],
      prevKv: this.#prevKv,
      progressNotify: this.#progressNotify,
    }
  }

  /** Creates the watch; resolves once the server confirmed it (the watcher's `connected` event). */
  async create(): Promise<Watcher> {
    const w = new Watcher(this.#connector, this.request(), this.#prefix)
    await w.start()
    return w
  }
}

/** `store.watch`: etcd's Watch service (`store.watch.watch({ key, ... })`) that is also etcd3's builder factory (`store.watch()`). */
export type WatchFacade = (() => WatchBuilder) & WatchApi

/** Builds a {@link WatchFacade} from the service and a builder factory. */
export function watchFacade(api: WatchApi, builder: () => WatchBuilder): WatchFacade {
  const f = (() => builder()) as WatchFacade
  f.watch = (r) => api.watch(r)
  return f
}
