/**
 * The Watch service (etcd's `v3rpc` watch server): parses a create request with zod,
 * applies etcd's normalizations (empty key, `"\0"` range end), registers a watcher in the
 * serving member's {@link WatchableStore}, and hands back the stream of responses etcd
 * would send for it, with prevKv read at send time (etcd's `sendLoop`).
 *
 * @module
 */
import { compareBytes } from '../api/bytes.js'
import type { KeyValue, WatchEvent, WatchResponse } from '../api/messages.js'
import { EtcdError, etcdError } from '../errors.js'
import type { MvccWatchResponse, ServerWatcher, WatchableStore, WatcherOptions, WatchHost, WatchSink } from '../watch/watchable-store.js'
import type { WatchApi, WatchCreateRequestInput, WatchStream } from './watch-api.js'
import { parseRequest } from './kv-schema.js'
import { watchCreateRequestSchema } from './watch-schema.js'
import { fragmentWatchResponse, GRPC_OVERHEAD_BYTES } from './watch-fragments.js'
import { NO_TOKEN, type TokenSource } from '../auth/credentials.js'

/** etcd's `ErrEmptyWatcherRange`, sent as the cancel reason of a watch whose range holds no key. */
export const EMPTY_WATCHER_RANGE = 'mvcc: watcher range is empty'

/** A host that checks watch permissions (a member with auth). */
export interface WatchPermission {
  /** Throws etcd's error unless the token's user may read [key, rangeEnd). */
  checkWatchPermitted(token: string | undefined, key: Uint8Array, rangeEnd: Uint8Array): void
}

/** Tuning of a {@link WatchService}. */
export interface WatchServiceOptions {
  /** Event responses a stream buffers before its watcher counts as slow (etcd's `chanBufLen`, 128). */
  bufferSize?: number
  /** Keeps the host alive while a create request is in flight (see `Clock.hold`). */
  hold?: () => () => void
  /** The auth token a create request carries; the watched range needs READ permission (etcd `isWatchPermitted`). */
  tokens?: TokenSource
  /**
   * The server's `--max-request-bytes` (default 1.5 MiB): a watch created with `fragment`
   * gets responses over this plus etcd's 512 KiB gRPC overhead split into fragments.
   */
  maxRequestBytes?: number
}

/** etcd's default `--max-request-bytes`. */
const DEFAULT_MAX_REQUEST_BYTES = 1.5 * 1024 * 1024

/** Default of {@link WatchServiceOptions.bufferSize} (etcd's `chanBufLen`). */
export const DEFAULT_WATCH_BUFFER = 128

/**
 * etcd's Watch service in front of the member `server()` picks. Each {@link watch} call is
 * one watch on its own stream, served by that member until it is canceled, compacted, or
 * the member stops; then the stream ends with a `canceled` response (for a stopped member,
 * `cancelReason` is etcd's `etcdserver: server stopped`, where a gRPC client would see the
 * stream fail with that error).
 */
export class WatchService implements WatchApi {
  readonly #server: () => WatchableStore
  readonly #bufferSize: number
  readonly #hold: () => () => void
  readonly #tokens: TokenSource
  readonly #fragmentBytes: number

  constructor(server: () => WatchableStore, options: WatchServiceOptions = {}) {
    this.#fragmentBytes = (options.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES) + GRPC_OVERHEAD_BYTES
    this.#server = server
    this.#bufferSize = options.bufferSize ?? DEFAULT_WATCH_BUFFER
    this.#hold = options.hold ?? (() => () => undefined)
    this.#tokens = options.tokens ?? NO_TOKEN
  }

  /** Creates a watch (etcd `Watch` with a WatchCreateRequest); resolves once its `created` response is queued. */
  async watch(request: WatchCreateRequestInput): Promise<WatchStream> {
    const r = parseRequest(watchCreateRequestSchema, request, 'WatchCreateRequest')
    const release = this.#hold()
    try {
      const ws = this.#server()
      if (ws.closed) throw etcdError('Stopped')
      // etcd's recvLoop: an empty key is the smallest key, "\0" as range end means "from key on"
      const key = r.key.length === 0 ? new Uint8Array([0]) : r.key
      let end: Uint8Array | undefined = r.rangeEnd.length === 0 ? undefined : r.rangeEnd
      if (end !== undefined && end.length === 1 && end[0] === 0) end = new Uint8Array(0)
      const wsrev = ws.rev
      const stream = new ServerWatchStream(ws, this.#bufferSize, r.prevKv, r.fragment ? this.#fragmentBytes : undefined)
      const host = ws.host as WatchHost & Partial<WatchPermission>
      // any refusal (an invalid token included) cancels the watch, as etcd's isWatchPermitted
      const refusal = await this.#tokens
        .run(async (t) => host.checkWatchPermitted?.(t, r.key, r.rangeEnd))
        .then(
          (): EtcdError | undefined => undefined,
          (err: unknown): EtcdError => (err instanceof EtcdError ? err : etcdError('PermissionDenied')),
        )
      if (refusal !== undefined) {
        // etcd 3.4: created and canceled at once, watch id -1, the reason as gRPC status text
        const cancelReason = `rpc error: code = ${refusal.grpcCode} desc = ${refusal.message}`
        stream.push({ ...blank(ws, wsrev, '-1'), created: true, canceled: true, cancelReason }, false)
        stream.finish()
        return stream
      }
      if (end !== undefined && end.length > 0 && compareBytes(key, end) >= 0) {
        // etcd: created and canceled at once, with watch id -1
        stream.push({ ...blank(ws, wsrev, '-1'), created: true, canceled: true, cancelReason: EMPTY_WATCHER_RANGE }, false)
        stream.finish()
        return stream
      }
      // the member may have stopped while the permission check ran
      if (ws.closed) throw etcdError('Stopped')
      const startRevision = r.startRevision === 0 ? wsrev + 1 : r.startRevision
      const id = r.watchId === '0' ? undefined : r.watchId
      stream.attach(id, { key, end, startRevision, filters: r.filters, progressNotify: r.progressNotify })
      return stream
    } finally {
      release()
    }
  }
}

function blank(ws: WatchableStore, revision: number, watchId: string): WatchResponse {
  return { header: ws.host.header(revision), watchId, created: false, canceled: false, compactRevision: 0, cancelReason: '', fragment: false, events: [] }
}

/** One watch's response stream: a bounded buffer the watchable store fills and the caller drains. */
class ServerWatchStream implements WatchStream, WatchSink {
  readonly #ws: WatchableStore
  readonly #capacity: number
  readonly #prevKv: boolean
  /** With `fragment`: the size over which a response is split (etcd's sendFragments). */
  readonly #fragmentBytes: number | undefined
  readonly #queue: { response: WatchResponse; counted: boolean; filled?: Promise<void> }[] = []
  #counted = 0
  #ended = false
  #watcher: ServerWatcher | undefined
  #wake: (() => void) | undefined
  #reading: Promise<unknown> = Promise.resolve()
  watchId = '-1'

  constructor(ws: WatchableStore, capacity: number, prevKv: boolean, fragmentBytes: number | undefined) {
    this.#ws = ws
    this.#capacity = capacity
    this.#prevKv = prevKv
    this.#fragmentBytes = fragmentBytes
  }

  attach(id: string | undefined, o: Omit<WatcherOptions, 'sink'>): void {
    // the created response goes first: register synchronously after it, so catch-up follows it
    const created = { ...blank(this.#ws, this.#ws.rev, id ?? ''), created: true }
    this.push(created, false)
    this.#watcher = this.#ws.watch({ ...o, sink: this }, id)
    this.watchId = this.#watcher.id
    created.watchId = this.#watcher.id
  }

  push(response: WatchResponse, counted: boolean, filled?: Promise<void>): void {
    const w = this.#waiter
    if (w !== undefined && this.#queue.length === 0 && this.#plain(response, filled)) {
      // a read is waiting on the empty queue and the response needs nothing first: it goes
      // to that read without being queued (a counted one leaves the buffer as it enters, so
      // the count is unchanged; the store hears of the room as from #taken)
      this.#waiter = undefined
      this.#readsUnderWay--
      if (counted) this.#ws.kick()
      w.resolve({ value: response, done: false })
      return
    }
    this.#queue.push(filled === undefined ? { response, counted } : { response, counted, filled })
    if (counted) this.#counted++
    if (this.#waiter !== undefined) {
      this.#serveWaiter()
      return
    }
    const wake = this.#wake
    this.#wake = undefined
    wake?.()
  }

  finish(): void {
    this.#ended = true
    const w = this.#waiter
    if (w !== undefined) {
      // a waiting read finds the queue empty (push serves it first): the stream is over
      this.#waiter = undefined
      this.#readsUnderWay--
      w.resolve({ value: undefined, done: true })
    }
    const wake = this.#wake
    this.#wake = undefined
    wake?.()
  }

  // --- WatchSink (called by the watchable store) ---

  send(m: MvccWatchResponse): boolean {
    if (this.#ended) return true // a late response for a stream already ended is dropped
    if (m.compactRevision !== 0) {
      // etcd: canceled with the compaction revision, and a header without revision
      this.push({ ...blank(this.#ws, m.revision, m.watchId), canceled: true, compactRevision: m.compactRevision }, false)
      this.finish()
      return true
    }
    if (!this.hasRoom()) return false
    const events: WatchEvent[] = new Array(m.events.length)
    for (let i = 0; i < events.length; i++) {
      const e = m.events[i]!
      events[i] = { type: e.type, kv: e.kv }
    }
    const response: WatchResponse = { header: m.header ?? this.#ws.host.header(m.revision), watchId: m.watchId, created: false, canceled: false, compactRevision: 0, cancelReason: '', fragment: false, events }
    // prevKv is read now, as etcd's sendLoop does when it sends the response: a later compaction cannot take it away
    this.push(response, true, this.#prevKv ? this.#fillPrevKv(events) : undefined)
    return true
  }

  hasRoom(): boolean {
    return !this.#ended && this.#counted < this.#capacity
  }

  close(reason: string): void {
    if (this.#ended) return
    this.push({ ...blank(this.#ws, this.#ws.rev, this.watchId), canceled: true, cancelReason: reason }, false)
    this.finish()
  }

  // --- WatchStream (the caller's side) ---

  requestProgress(): void {
    if (this.#ended || this.#watcher === undefined) return
    this.#ws.requestProgress(this.#watcher)
  }

  async cancel(): Promise<void> {
    if (this.#ended) return
    if (this.#watcher !== undefined) this.#ws.cancel(this.#watcher)
    this.push({ ...blank(this.#ws, this.#ws.rev, this.watchId), canceled: true }, false)
    this.finish()
  }

  /**
   * The next response; reads are served one at a time, in order. The common cases take no
   * detour: a plain response already queued is returned at once, and a read of an empty
   * queue is handed the next response by {@link push} itself.
   */
  next(): Promise<IteratorResult<WatchResponse, undefined>> {
    if (this.#readsUnderWay === 0) {
      const item = this.#queue[0]
      if (item !== undefined) {
        if (this.#plain(item.response, item.filled)) {
          this.#queue.shift()
          if (item.counted) this.#taken()
          return Promise.resolve({ value: item.response, done: false })
        }
      } else if (this.#ended) {
        return Promise.resolve({ value: undefined, done: true })
      } else {
        // counted down when the waiter is served (push, finish), not in a reaction of its own
        this.#readsUnderWay++
        const p = new Promise<IteratorResult<WatchResponse, undefined>>((resolve, reject) => {
          this.#waiter = { resolve, reject }
        })
        this.#reading = p
        return p
      }
    }
    this.#readsUnderWay++
    const p = this.#reading.then(this.#nextInTurn, this.#nextInTurn)
    this.#reading = p.then(this.#settled, this.#settled) // the caller gets the rejection through `p`
    return p
  }

  readonly #nextInTurn = (): Promise<IteratorResult<WatchResponse, undefined>> => this.#next()

  /** Reads started and not settled yet: later reads wait behind them. */
  #readsUnderWay = 0
  readonly #settled = (): void => {
    this.#readsUnderWay--
  }
  /** A read of the empty queue, waiting for the next response (see {@link next}). */
  #waiter: { resolve(r: IteratorResult<WatchResponse, undefined>): void; reject(err: unknown): void } | undefined

  /** A response that needs no waiting (its prevKv filled) or splitting (fragments) before it is read. */
  #plain(response: WatchResponse, filled: Promise<void> | undefined): boolean {
    return filled === undefined && (this.#fragmentBytes === undefined || response.events.length <= 1)
  }

  /**
   * Serves the waiting read from the queue through `#next`: the response just queued
   * needs waiting or splitting first (a plain one went to the read directly, see {@link push}).
   */
  #serveWaiter(): void {
    const w = this.#waiter
    if (w === undefined || this.#queue.length === 0) return
    this.#waiter = undefined
    this.#next().then(
      (r) => {
        this.#readsUnderWay--
        w.resolve(r)
      },
      (err: unknown) => {
        this.#readsUnderWay--
        w.reject(err)
      },
    )
  }

  /** A counted response left the buffer: room again, so a slow watcher may catch up. */
  #taken(): void {
    this.#counted--
    this.#ws.kick()
  }

  async #next(): Promise<IteratorResult<WatchResponse, undefined>> {
    for (;;) {
      const item = this.#queue.shift()
      if (item !== undefined) {
        if (item.counted) this.#taken()
        if (item.filled !== undefined) await item.filled
        if (this.#fragmentBytes !== undefined && item.response.events.length > 1) {
          // split once its size is known (prevKv filled), as etcd's sendLoop; the rest go next
          const [first, ...rest] = fragmentWatchResponse(item.response, this.#fragmentBytes)
          this.#queue.unshift(...rest.map((response) => ({ response, counted: false })))
          return { value: first!, done: false }
        }
        return { value: item.response, done: false }
      }
      if (this.#ended) return { value: undefined, done: true }
      await new Promise<void>((resolve) => {
        this.#wake = resolve
      })
    }
  }

  /** etcd's sendLoop: each event's previous state is read at `modRevision - 1`; a compacted or failed read leaves it out. */
  #fillPrevKv(events: WatchEvent[]): Promise<void> {
    const store = this.#ws.host.store
    // every read starts now (a read pins its revisions when called); they finish in the background
    const reads = events.map(async (e): Promise<void> => {
      const at = e.kv.modRevision - 1
      if (at < 1) return
      let prev: KeyValue | undefined
      try {
        prev = (await store.range(e.kv.key, undefined, { rev: at })).kvs[0]
      } catch {
        // as etcd: the previous state is omitted when it cannot be read (compacted, member stopped)
        prev = undefined
      }
      if (prev !== undefined) e.prevKv = prev
    })
    return Promise.all(reads).then(() => undefined)
  }

  [Symbol.asyncIterator](): AsyncIterator<WatchResponse, undefined> {
    return {
      next: () => this.next(),
      return: async () => {
        await this.cancel()
        return { value: undefined, done: true }
      },
    }
  }
}
