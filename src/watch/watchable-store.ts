/**
 * The watch side of one member (etcd's `watchableStore` with its `watcherGroup`s): it
 * hands each applied revision's events to the watchers that are caught up (synced), and
 * lets the others (new watchers starting in the past, and slow ones) catch up from the MVCC
 * history in revision order before they join the synced group.
 *
 * @module
 */
import { compareBytes, toBinaryString } from '../api/bytes.js'
import type { ResponseHeader, WatchFilter } from '../api/messages.js'
import { assert, isEtcdError } from '../errors.js'
import type { Event, KVStore } from '../mvcc/index.js'
import type { Clock, TimerHandle } from '../sim/clock.js'

/** What a watchable store needs from its member: the current MVCC store (replaced by a snapshot restore). */
export interface WatchHost {
  /** The member's MVCC store now. */
  readonly store: KVStore
  /** True once the member stopped. */
  readonly isStopped: boolean
  /** The header the member puts on a response at `revision`. */
  header(revision: number): ResponseHeader
}

/** One response for one watcher, as the watchable store produces it (etcd's mvcc `WatchResponse`). */
export interface MvccWatchResponse {
  watchId: string
  /** Events of whole revisions, in revision order; empty for a progress notification. */
  events: Event[]
  /** The store revision the response reflects (etcd's header revision). */
  revision: number
  /** Set (with no events) when the watcher's start revision was compacted; the watcher is gone. */
  compactRevision: number
  /**
   * The member's header at {@link revision}, when the store made it: one object, made once per
   * notified revision and shared by every watcher's response of it (as their events' key-values
   * are), instead of one per watcher. Absent: the sink asks the host.
   */
  header?: ResponseHeader
}

/** Where a watcher's responses go: the watch stream that serves it (etcd's shared `ch`, with `chanBufLen` room). */
export interface WatchSink {
  /** Queues a response; false when the stream's buffer is full (the response is not queued). */
  send(response: MvccWatchResponse): boolean
  /** True when the stream can take another response. */
  hasRoom(): boolean
  /** The watchable store closed (its member stopped): the stream ends with `reason`. */
  close(reason: string): void
}

/** How a watcher is created (etcd's `watchStream.Watch` arguments). */
export interface WatcherOptions {
  key: Uint8Array
  /** `undefined` for the single key, empty for every key from `key` on, else the range end (exclusive). */
  end: Uint8Array | undefined
  /** First revision to deliver; the store's next revision for "now". */
  startRevision: number
  filters: readonly WatchFilter[]
  progressNotify: boolean
  sink: WatchSink
}

/** A watcher registered in a {@link WatchableStore} (etcd's `watcher`). */
export class ServerWatcher {
  readonly id: string
  readonly key: Uint8Array
  readonly end: Uint8Array | undefined
  readonly filters: readonly WatchFilter[]
  readonly progressNotify: boolean
  readonly sink: WatchSink
  /** Next revision this watcher must see: every event below it was delivered (or filtered out). */
  minRev: number
  /** etcd's `sws.progress[id]`: no event response was sent since the last periodic tick. */
  needsProgress = true
  /** A requested progress notification waits until the watcher is synced (so its revision covers what was delivered). */
  progressRequested = false

  constructor(id: string, o: WatcherOptions) {
    this.id = id
    this.key = o.key
    this.end = o.end
    this.filters = o.filters
    this.progressNotify = o.progressNotify
    this.sink = o.sink
    this.minRev = o.startRevision
  }

  /** True when `key` is in the watched range. */
  contains(key: Uint8Array): boolean {
    if (this.end === undefined) return compareBytes(key, this.key) === 0
    if (compareBytes(key, this.key) < 0) return false
    return this.end.length === 0 || compareBytes(key, this.end) < 0
  }

  /** {@link key} as a binary string (see `toBinaryString`), made on the first {@link containsName}. */
  #from: string | undefined
  /** {@link end} as a binary string: `undefined` for a single key, `''` for "every key from {@link key} on". */
  #to: string | undefined

  /**
   * {@link contains} for a key given as its binary string: a revision's events are checked
   * against every synced watcher, and comparing strings (native) is several times cheaper
   * than comparing bytes, once each event key is converted.
   */
  containsName(name: string): boolean {
    let from = this.#from
    if (from === undefined) {
      from = this.#from = toBinaryString(this.key)
      this.#to = this.end === undefined ? undefined : toBinaryString(this.end)
    }
    const to = this.#to
    if (to === undefined) return name === from
    return name >= from && (to === '' || name < to)
  }

  /** Events left after the watcher's filters (etcd's `FilterFunc`s). */
  filter(events: Event[]): Event[] {
    if (this.filters.length === 0) return events
    const noPut = this.filters.includes('NOPUT')
    const noDelete = this.filters.includes('NODELETE')
    return events.filter((e) => !((noPut && e.type === 'PUT') || (noDelete && e.type === 'DELETE')))
  }
}

/**
 * The events of `events` in the watcher's range: `events` itself when all are (a revision's
 * events usually are, or it has one), a filtered copy otherwise. Shared arrays are never
 * changed: each sink copies what it keeps.
 */
function inRange(w: ServerWatcher, events: readonly Event[], names?: readonly string[]): Event[] {
  let all = true
  for (let i = 0; i < events.length; i++) {
    if (!(names === undefined ? w.contains(events[i]!.kv.key) : w.containsName(names[i]!))) {
      all = false
      break
    }
  }
  if (all) return events as Event[]
  return names === undefined ? events.filter((e) => w.contains(e.kv.key)) : events.filter((_, i) => w.containsName(names[i]!))
}

/** Tuning of a {@link WatchableStore}. */
export interface WatchableStoreOptions {
  clock: Clock
  /** Period of progress notifications for watchers that asked for them (etcd: 10 minutes). */
  progressNotifyMs: number
  /** Most revisions in one catch-up response (etcd's `watchBatchMaxRevs`, 1000). */
  batchMaxRevs?: number
  /** Called when the catch-up loop fails on a broken invariant or a backend failure (default: rethrown asynchronously). */
  onError?: (err: unknown) => void
}

/**
 * etcd's `watchableStore` for one member. Synced watchers get each revision's events in
 * one response as the member applies it; unsynced ones (starting in the past, or slow:
 * their stream's buffer was full) are caught up from history by a background loop that
 * never blocks the member's writers. A watcher whose next revision was compacted gets a
 * response with `compactRevision` and is removed, as in etcd.
 */
export class WatchableStore {
  readonly #host: WatchHost
  readonly #opts: Required<WatchableStoreOptions>
  readonly #synced = new Set<ServerWatcher>()
  readonly #unsynced = new Set<ServerWatcher>()
  /** Highest revision whose events were handed to {@link notify} (or the store's revision when none since). */
  #notifiedRev: number
  #syncing = false
  #again = false
  #closed = false
  #progressTimer: TimerHandle | undefined
  #nextId = 0

  constructor(host: WatchHost, options: WatchableStoreOptions) {
    this.#host = host
    this.#opts = {
      batchMaxRevs: 1000,
      onError: (err) => {
        queueMicrotask(() => {
          throw err
        })
      },
      ...options,
    }
    this.#notifiedRev = host.store.rev
  }

  /** The member this store serves. */
  get host(): WatchHost {
    return this.#host
  }

  /** The member's current revision (etcd's `s.rev()`). */
  get rev(): number {
    return this.#host.store.rev
  }

  /** True once {@link close} ran. */
  get closed(): boolean {
    return this.#closed
  }

  /** Number of watchers, synced and unsynced (for tests and status). */
  get size(): { synced: number; unsynced: number } {
    return { synced: this.#synced.size, unsynced: this.#unsynced.size }
  }

  /** Registers a watcher (etcd's `watchableStore.watch`): synced when it starts in the future, else unsynced. */
  watch(o: WatcherOptions, id?: string): ServerWatcher {
    assert(!this.#closed, 'watch on a closed watchable store')
    const w = new ServerWatcher(id ?? String(this.#nextId++), o)
    // etcd: `synced := startRev > s.store.currentRev || startRev == 0`
    if (w.minRev > this.rev && w.minRev > this.#notifiedRev) this.#synced.add(w)
    else {
      this.#unsynced.add(w)
      this.kick()
    }
    if (w.progressNotify) this.#startProgressTimer()
    return w
  }

  /** Removes a watcher (etcd's `cancelWatcher`); true when it was registered. */
  cancel(w: ServerWatcher): boolean {
    return this.#synced.delete(w) || this.#unsynced.delete(w)
  }

  /** True when the watcher is registered and caught up. */
  isSynced(w: ServerWatcher): boolean {
    return this.#synced.has(w)
  }

  /**
   * Hands the events of one applied revision to the synced watchers (etcd's `notify`): one
   * response per watcher with all of that revision's events in its range. A watcher whose
   * stream is full becomes unsynced from this revision and catches up later from history.
   */
  notify(events: readonly Event[]): void {
    if (this.#closed || events.length === 0) return
    const rev = events[0]!.kv.modRevision
    if (rev > this.#notifiedRev) this.#notifiedRev = rev
    // with several watchers, each event key is converted once and compared as a string
    const names = this.#synced.size > 1 ? events.map((e) => toBinaryString(e.kv.key)) : undefined
    let header: ResponseHeader | undefined
    for (const w of this.#synced) {
      if (rev < w.minRev) continue // already delivered from history while it caught up
      const mine = w.filter(inRange(w, events, names))
      if (mine.length === 0) {
        w.minRev = rev + 1
        continue
      }
      header ??= this.#host.header(rev)
      if (w.sink.send({ watchId: w.id, events: mine, revision: rev, compactRevision: 0, header })) {
        w.minRev = rev + 1
        w.needsProgress = false
      } else {
        // slow consumer (etcd's victim): re-read this revision from history once it has room
        w.minRev = rev
        this.#synced.delete(w)
        this.#unsynced.add(w)
      }
    }
    if (this.#unsynced.size > 0) this.kick()
  }

  /** After a snapshot restore replaced the member's store, every watcher resyncs from the new history (etcd's `Restore`). */
  restore(): void {
    if (this.#closed) return
    for (const w of this.#synced) this.#unsynced.add(w)
    this.#synced.clear()
    this.#notifiedRev = Math.max(this.#notifiedRev, this.rev)
    this.kick()
  }

  /**
   * Asks for a progress notification (etcd's `RequestProgress`): sent at once to a synced
   * watcher, and when an unsynced one has caught up (so its revision never runs ahead of the
   * events delivered).
   */
  requestProgress(w: ServerWatcher): void {
    if (this.#synced.has(w)) this.#sendProgress(w, true)
    else if (this.#unsynced.has(w)) w.progressRequested = true
  }

  /** Starts the catch-up loop if unsynced watchers are waiting (again, if it is running: it takes another round). */
  kick(): void {
    if (this.#closed || this.#unsynced.size === 0) return
    if (this.#syncing) {
      this.#again = true
      return
    }
    this.#syncing = true
    void this.#run() // background on purpose: writers never wait for catch-up; #run reports its own failures
  }

  async #run(): Promise<void> {
    try {
      do {
        this.#again = false
        await this.#syncLoop()
      } while (this.#again && !this.#closed)
    } catch (err) {
      this.#opts.onError(err)
    } finally {
      this.#syncing = false
    }
  }

  /** Stops the store (its member stopped): no more notifications, and every watcher's stream ends with `reason`. */
  close(reason: string): void {
    if (this.#closed) return
    this.#closed = true
    this.#progressTimer?.cancel()
    const all = [...this.#synced, ...this.#unsynced]
    this.#synced.clear()
    this.#unsynced.clear()
    for (const w of all) w.sink.close(reason)
  }

  /** A progress notification; a requested one carries watch id -1, as etcd 3.4 answers a WatchProgressRequest. */
  #sendProgress(w: ServerWatcher, requested = false): void {
    w.progressRequested = false
    // every event up to this revision was delivered to a synced watcher; a full stream drops it (etcd: it is receiving events)
    w.sink.send({ watchId: requested ? '-1' : w.id, events: [], revision: Math.max(this.#notifiedRev, w.minRev - 1), compactRevision: 0 })
  }

  #startProgressTimer(): void {
    if (this.#progressTimer !== undefined || this.#closed) return
    this.#progressTimer = this.#opts.clock.every(this.#opts.progressNotifyMs, () => {
      // etcd's sendLoop: a watcher that got no events since the last tick gets a progress notification, if synced
      for (const w of [...this.#synced, ...this.#unsynced]) {
        if (!w.progressNotify) continue
        if (w.needsProgress && this.#synced.has(w)) this.#sendProgress(w)
        w.needsProgress = true
      }
    })
  }

  async #syncLoop(): Promise<void> {
    for (;;) {
      if (this.#closed || this.#host.isStopped) return
      const ready = [...this.#unsynced].filter((w) => w.sink.hasRoom())
      if (ready.length === 0) return
      let progressed = false
      for (const w of ready) {
        if (this.#closed) return
        if (!this.#unsynced.has(w) || !w.sink.hasRoom()) continue
        if (await this.#syncOne(w)) progressed = true
      }
      if (!progressed) return
    }
  }

  /** One catch-up step for `w` (etcd's `syncWatchers` for one watcher); true when it made progress. */
  async #syncOne(w: ServerWatcher): Promise<boolean> {
    const kv = this.#host.store
    const compactRev = kv.compactRev
    if (w.minRev < compactRev) {
      // etcd's chooseAll: the watcher's history is gone; tell it and drop it
      this.#unsynced.delete(w)
      w.sink.send({ watchId: w.id, events: [], revision: 0, compactRevision: compactRev })
      return true
    }
    const cur = kv.rev
    const to = Math.min(cur, w.minRev + this.#opts.batchMaxRevs - 1)
    let events: Event[] = []
    if (w.minRev <= to) {
      try {
        events = await kv.eventsBetween(w.key, w.end, w.minRev, to)
      } catch (err) {
        // a store closed by a restore (the 'restored' notification kicks again), or compacted meanwhile (next round reports it)
        if (isEtcdError(err, 'StoreClosed') || isEtcdError(err, 'Compacted')) return !isEtcdError(err, 'StoreClosed')
        throw err
      }
      if (this.#closed || !this.#unsynced.has(w)) return true
      if (this.#host.store !== kv) return true // restored meanwhile: read again from the new history
      const mine = w.filter(events)
      if (mine.length > 0) {
        if (!w.sink.send({ watchId: w.id, events: mine, revision: cur, compactRevision: 0 })) return false
        w.needsProgress = false
      }
      w.minRev = to + 1
    }
    // join the synced group only if no revision past what was read was notified (those went to synced watchers only)
    if (w.minRev > cur && this.#notifiedRev < w.minRev) {
      this.#unsynced.delete(w)
      this.#synced.add(w)
      if (w.progressRequested) this.#sendProgress(w, true)
    }
    return true
  }
}
