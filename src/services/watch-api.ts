/**
 * The Watch service's surface (etcd's bidirectional `Watch` stream), as the typed layer,
 * the concurrency helpers and tests see it: one {@link WatchStream} per created watch.
 *
 * @module
 */
import type { WatchFilter, WatchResponse } from '../api/messages.js'

/** A WatchCreateRequest as a caller writes it. */
export interface WatchCreateRequestInput {
  key: string | Uint8Array
  rangeEnd?: string | Uint8Array
  startRevision?: number
  progressNotify?: boolean
  filters?: WatchFilter[]
  prevKv?: boolean
  watchId?: string | number | bigint
  fragment?: boolean
}

/**
 * One watch: the responses etcd would send on the stream for it, in order, starting with
 * the `created` response. Iterate it (`for await`) or read it with `next()`. It ends after
 * a `canceled` response (cancel, compaction, or the serving member stopping).
 */
export interface WatchStream extends AsyncIterable<WatchResponse> {
  /** The watch's id (decimal string). */
  readonly watchId: string
  /** The next response, in order; `done` once the stream has ended (after its `canceled` response). */
  next(): Promise<IteratorResult<WatchResponse, undefined>>
  /** Asks for a progress notification (etcd's WatchProgressRequest). */
  requestProgress(): void
  /** Cancels the watch (etcd's WatchCancelRequest); the stream ends with a canceled response. */
  cancel(): Promise<void>
}

/** etcd's Watch service. */
export interface WatchApi {
  /** Creates a watch; resolves once it is created (after the `created` response is queued). */
  watch(request: WatchCreateRequestInput): Promise<WatchStream>
}
