/**
 * Small byte arrays carved from shared slabs, as Node's own `Buffer` pool does.
 *
 * V8 keeps a typed array of up to 64 bytes on the JavaScript heap, but gives a larger one
 * its own off-heap `ArrayBuffer`: on node 20 that costs about 0.7 µs (against 25 ns on the
 * heap, or 45 ns for a view of a slab), and every such buffer is external memory that the
 * garbage collector must track. A put allocates several arrays of that size (the encoded
 * proposal, the decoded value) and a point read one (the key and value it returns), so the
 * allocation alone was several percent of their cost.
 *
 * {@link allocBytes} hands out views of one 8 KiB slab until it is full, then starts another.
 * A view keeps its whole slab alive, so the pool is only for arrays that either die young
 * (an encoded proposal, which the Raft log copies into its own chunk) or are handed to the
 * caller (a decoded value), never for what the store keeps (records, log chunks): those keep
 * an array of their own. Like a pooled `Buffer`, a view's `buffer` holds other arrays' bytes
 * too: use `byteOffset` and `length`, as for any view.
 *
 * @module
 */

import { markAsUntransferable } from 'node:worker_threads'
import { copyInto } from './bytes.js'

/** Bytes per slab (Node's `Buffer.poolSize`). */
const SLAB_BYTES = 8192
/** Longest array taken from a slab: at most this much of a slab is left unused at its end. */
const MAX_POOLED = 1024
/** Up to this length V8 keeps a typed array on its heap, where a fresh one is cheapest. */
const MAX_ON_HEAP = 64

let slab = newSlab()
let used = 0

/**
 * A fresh slab, marked untransferable (as Node marks its `Buffer` pool): a caller who
 * transfers a pooled array's `buffer` to a worker gets a copy sent, and the slab, which
 * other arrays share, is not detached.
 */
function newSlab(): Uint8Array {
  const s = new Uint8Array(SLAB_BYTES)
  markAsUntransferable(s.buffer)
  return s
}

/**
 * A zero-filled array of `length` bytes: its own array when short (on V8's heap) or long,
 * otherwise a view of a shared slab. Write it freely; do not rely on its `buffer`.
 */
export function allocBytes(length: number): Uint8Array {
  if (length <= MAX_ON_HEAP || length > MAX_POOLED) return new Uint8Array(length)
  // (a detached slab has length 0: one is replaced like a full one)
  if (used + length > slab.length) {
    slab = newSlab()
    used = 0
  }
  const out = slab.subarray(used, used + length)
  used += length
  return out
}

/** A copy of `length` bytes of `src` from `at`, in an array from {@link allocBytes} (never a view of `src`, even of a Buffer). */
export function copyBytes(src: Uint8Array, at: number, length: number): Uint8Array {
  const out = allocBytes(length)
  copyInto(out, 0, src, at, length)
  return out
}
