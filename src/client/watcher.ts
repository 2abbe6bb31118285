/**
 * etcd3's `Watcher`: one watch as an event emitter and an async iterator of events, which
 * survives the loss of the member serving it by re-creating the watch elsewhere.
 *
 * @module
 */
import { EventEmitter } from 'eventemitter3'
import type { KeyValue, WatchEvent, WatchResponse } from '../api/messages.js'
import { EtcdError, etcdError, isEtcdError } from '../errors.js'
import type { WatchCreateRequestInput, WatchStream } from '../services/watch-api.js'
import { KeyPrefix } from './key-prefix.js'

/** How a {@link Watcher} reaches the cluster: opens a watch on some running member, and waits between retries. */
export interface WatchConnector {
  /** Creates the watch on a running member (the Store picks the leader, else any running member). */
  open(request: WatchCreateRequestInput): Promise<WatchStream>
  /** Resolves after `ms` of the store's clock (a retry's back-off). */
  delay(ms: number): Promise<void>
}

/** Events of a {@link Watcher} (etcd3's, plus `progress`). */
export interface WatcherEvents {
  /** The watch was created, or re-created after its member stopped. */
  connected: (res: WatchResponse) => void
  /** The serving member stopped; the watcher is re-creating the watch elsewhere. */
  disconnected: (err: EtcdError) => void
  /** Every response with events, and progress notifications. */
  data: (res: WatchResponse) => void
  /** A key was put; `previous` when the watch asked for previous key-values and there was one. */
  put: (kv: KeyValue, previous: KeyValue | undefined) => void
  /** A key was deleted. */
  delete: (kv: KeyValue, previous: KeyValue | undefined) => void
  /** A progress notification: every event up to `res.header.revision` was delivered. */
  progress: (res: WatchResponse) => void
  /** The watch failed for good (its start revision was compacted, or the request was refused). */
  error: (err: Error) => void
  /** The watcher ended (canceled, or after an error); no further events. */
  end: () => void
}

const RETRY_MS = 50

/**
 * A running watch (etcd3's `Watcher`). Listen with `on('put' | 'delete' | 'data' | ...)`, or
 * iterate its events with `for await`. When the member serving it stops, it re-creates the
 * watch on another running member from the revision after the last one it delivered, so
 * the events it hands out have no gap and no duplicate (etcd3 and clientv3 resume the same
 * way). `cancel()` ends it.
 */
export class Watcher extends EventEmitter<WatcherEvents> implements AsyncIterable<WatchEvent> {
  readonly #connector: WatchConnector
  readonly #request: WatchCreateRequestInput
  readonly #prefix: KeyPrefix
  #stream: WatchStream | undefined
  #nextRev = 0
  #canceled = false
  #ended = false
  #failure: Error | undefined
  readonly #buffer: WatchEvent[] = []
  #wake: (() => void) | undefined
  #iterating = false

  constructor(connector: WatchConnector, request: WatchCreateRequestInput, prefix: KeyPrefix = KeyPrefix.ROOT) {
    super()
    this.#connector = connector
    this.#request = request
    this.#prefix = prefix
    this.#nextRev = request.startRevision ?? 0
  }

  /** The current watch's id on its member (changes when the watch is re-created). */
  get id(): string | undefined {
    return this.#stream?.watchId
  }

  /** The first revision the watcher has not delivered yet (where a re-created watch starts). */
  get nextRevision(): number {
    return this.#nextRev
  }

  /** True once the watcher ended. */
  get ended(): boolean {
    return this.#ended
  }

  /** Creates the first watch; resolves after its `created` response. @internal */
  async start(): Promise<void> {
    const first = await this.#open()
    void this.#run(first) // runs until the watcher ends; it reports failures through "error"
  }

  /** Opens a watch from the next revision and reads its `created` response; refused requests throw. */
  async #open(): Promise<WatchStream> {
    const stream = await this.#connector.open({ ...this.#request, startRevision: this.#nextRev })
    const created = await stream.next()
    if (created.done === true) throw etcdError('Stopped')
    const res = created.value
    if (res.canceled) {
      // refused at creation (etcd: an empty range); compaction is reported after `created`
      throw new EtcdError(res.cancelReason || 'etcdserver: watch canceled', 'InvalidArgument', 'ErrWatchCanceled')
    }
    if (this.#nextRev === 0) this.#nextRev = res.header.revision + 1
    this.#stream = stream
    this.emit('connected', res)
    return stream
  }

  async #run(stream: WatchStream): Promise<void> {
    let current: WatchStream | undefined = stream
    while (current !== undefined) {
      const reason = await this.#drain(current)
      if (reason === 'done') return this.#end()
      this.emit('disconnected', etcdError('Stopped'))
      current = await this.#reconnect()
    }
    this.#end()
  }

  /** Reads a stream to its end: 'done' when the watch is over for good, 'lost' when its member stopped. */
  async #drain(stream: WatchStream): Promise<'done' | 'lost'> {
    for (;;) {
      const r = await stream.next()
      if (r.done === true) return this.#canceled ? 'done' : 'lost'
      const res = r.value
      if (res.canceled) {
        if (res.compactRevision !== 0) {
          this.#fail(etcdError('Compacted'))
          return 'done'
        }
        if (this.#canceled) return 'done'
        continue // the stream ends right after; a stopped member's reason is handled as 'lost'
      }
      if (this.#ended) return 'done' // canceled: what was still queued is not delivered
      if (res.events.length > 0) {
        const events = res.events.map((e) => this.#strip(e))
        res.events = events
        for (const e of events) {
          this.#nextRev = e.kv.modRevision + 1
          if (this.#buffering()) this.#buffer.push(e)
          this.emit(e.type === 'PUT' ? 'put' : 'delete', e.kv, e.prevKv)
        }
        this.#wakeReader()
        this.emit('data', res)
      } else if (!res.created) {
        // our members send progress only when every event up to its revision was delivered
        if (res.header.revision + 1 > this.#nextRev) this.#nextRev = res.header.revision + 1
        this.emit('progress', res)
        this.emit('data', res)
      }
    }
  }

  async #reconnect(): Promise<WatchStream | undefined> {
    for (;;) {
      if (this.#canceled) return undefined
      try {
        return await this.#open()
      } catch (err) {
        if (isEtcdError(err, 'StoreClosed')) return undefined
        if (!isEtcdError(err, 'Stopped') && !isEtcdError(err, 'NoLeader')) {
          this.#fail(err instanceof Error ? err : new Error(String(err)))
          return undefined
        }
        // no running member right now: try again after a while on the store's clock
        await this.#connector.delay(RETRY_MS)
      }
    }
  }

  /** Events are kept for `for await` once it began, or while nobody listens for them (so a listener-only watcher keeps nothing). */
  #buffering(): boolean {
    return this.#iterating || this.listenerCount('put') + this.listenerCount('delete') + this.listenerCount('data') === 0
  }

  #strip(e: WatchEvent): WatchEvent {
    if (this.#prefix.isRoot) return e
    const out: WatchEvent = { type: e.type, kv: this.#prefix.stripKv(e.kv) }
    if (e.prevKv !== undefined) out.prevKv = this.#prefix.stripKv(e.prevKv)
    return out
  }

  #fail(err: Error): void {
    this.#failure = err
    if (this.listenerCount('error') > 0) this.emit('error', err)
  }

  #end(): void {
    if (this.#ended) return
    this.#ended = true
    this.#wakeReader()
    this.emit('end')
  }

  #wakeReader(): void {
    const w = this.#wake
    this.#wake = undefined
    w?.()
  }

  /** Asks the serving member for a progress notification (etcd's WatchProgressRequest). */
  requestProgress(): void {
    this.#stream?.requestProgress()
  }

  /** Cancels the watch; resolves once it has ended. */
  async cancel(): Promise<void> {
    if (this.#canceled) return
    this.#canceled = true
    await this.#stream?.cancel()
    // not waiting for the pump: it may be waiting out a retry on a clock that no longer runs
    this.#end()
  }

  /** The watcher's events in order; ends when the watcher ends, throws if it failed. */
  async *[Symbol.asyncIterator](): AsyncIterator<WatchEvent> {
    this.#iterating = true
    for (;;) {
      const e = this.#buffer.shift()
      if (e !== undefined) {
        yield e
        continue
      }
      if (this.#ended) {
        if (this.#failure !== undefined) throw this.#failure
        return
      }
      await new Promise<void>((resolve) => {
        this.#wake = resolve
      })
    }
  }
}
