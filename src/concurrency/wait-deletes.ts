/**
 * Waiting for keys to go away (etcd's `concurrency/key.go`): the queueing step of locks and
 * elections, where each waiter watches only its immediate predecessor (no herd effect).
 *
 * @module
 */
import type { ResponseHeader } from '../api/messages.js'
import { prefixEnd } from '../api/bytes.js'
import { etcdError, isEtcdError } from '../errors.js'
import type { WatchStream } from '../services/watch-api.js'
import type { ConcurrencyClient } from './client.js'
import { errCanceled } from './errors.js'

/** Pause before re-creating a watch the serving member dropped (etcd's client resumes on another endpoint). */
const REWATCH_DELAY_MS = 50

/** Waits `ms` on the client's clock. */
export function sleep(client: ConcurrencyClient, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(errCanceled(signal.reason))
    const onAbort = (): void => {
      timer.cancel()
      reject(errCanceled(signal?.reason))
    }
    const timer = client.clock.setTimer(ms, () => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    })
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

/**
 * Resolves when `key` is deleted at or after revision `rev` (etcd `waitDelete`). A watch
 * that the serving member drops (a crash, a stopped member) is re-created from the next
 * revision not yet seen, as etcd's client resumes a watch on another endpoint; a compacted
 * start revision rejects with etcd's compaction error.
 */
export async function waitDelete(client: ConcurrencyClient, key: Uint8Array, rev: number, signal?: AbortSignal): Promise<void> {
  let from = rev
  for (;;) {
    if (signal?.aborted) throw errCanceled(signal.reason)
    let stream: WatchStream
    try {
      stream = await client.watch.watch({ key, startRevision: from })
    } catch (err) {
      // no endpoint can serve a watch right now: try again after a pause, as etcd's client does
      if (signal?.aborted) throw errCanceled(signal.reason)
      if (isFatal(err)) throw err
      await sleep(client, REWATCH_DELAY_MS, signal)
      continue
    }
    const onAbort = (): void => {
      // ends the stream with a canceled response, which the loop below turns into errCanceled
      void stream.cancel()
    }
    signal?.addEventListener('abort', onAbort, { once: true })
    try {
      for await (const wr of stream) {
        for (const ev of wr.events) {
          if (ev.type === 'DELETE') return
          from = Math.max(from, ev.kv.modRevision + 1)
        }
        if (wr.canceled) {
          if (signal?.aborted) throw errCanceled(signal.reason)
          if (wr.compactRevision > 0) throw etcdError('Compacted')
          break
        }
      }
    } finally {
      signal?.removeEventListener('abort', onAbort)
      await stream.cancel()
    }
    if (signal?.aborted) throw errCanceled(signal.reason)
    await sleep(client, REWATCH_DELAY_MS, signal)
  }
}

/** Errors a retry cannot cure: the store is closed. */
function isFatal(err: unknown): boolean {
  return isEtcdError(err, 'StoreClosed')
}

/**
 * Waits until every key under `prefix` created at or before `maxCreateRev` is deleted (etcd
 * `waitDeletes`): repeatedly finds the newest such key and waits for its deletion. Returns
 * the header of the final, empty read.
 */
export async function waitDeletes(client: ConcurrencyClient, prefix: Uint8Array, maxCreateRev: number, signal?: AbortSignal): Promise<ResponseHeader> {
  for (;;) {
    if (signal?.aborted) throw errCanceled(signal.reason)
    const resp = await client.kv.range({
      key: prefix,
      rangeEnd: prefixEnd(prefix),
      sortTarget: 'CREATE',
      sortOrder: 'DESCEND',
      limit: 1,
      maxCreateRevision: maxCreateRev,
    })
    const last = resp.kvs[0]
    if (last === undefined) return resp.header
    await waitDelete(client, last.key, resp.header.revision, signal)
  }
}
