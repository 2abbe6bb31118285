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
 * caller (a decoded value), never for what the store keeps. Stored records come from a
 * {@link SlabPool} of their own per member, whose slabs hold only records: a slab is freed
 * once compaction has deleted every record in it, and defragmenting packs the survivors
 * into fresh slabs. Like a pooled `Buffer`, a view's `buffer` holds other arrays' bytes too:
 * use `byteOffset` and `length`, as for any view.
 *
 * @module
 */

import { markAsUntransferable } from 'node:worker_threads'
import { copyInto } from './bytes.js'

/** Up to this length V8 keeps a typed array on its heap, where a fresh one is cheapest. */
const MAX_ON_HEAP = 64

/**
 * Views of slabs of `slabBytes` bytes, for arrays of 65 to `maxPooled` bytes (shorter and
 * longer ones are arrays of their own). The module's {@link allocBytes} is one pool, for
 * arrays that die young; a member's backend keeps another, for the records it stores (see
 * `Backend`), so that a stored record never pins a slab of short-lived arrays.
 */
export class SlabPool {
  readonly #slabBytes: number
  readonly #maxPooled: number
  #slab: Uint8Array = new Uint8Array(0)
  #used = 0

  /** `maxPooled` at most `slabBytes`; at most `maxPooled - 1` bytes of a slab go unused at its end. */
  constructor(slabBytes: number, maxPooled: number) {
    if (!(maxPooled <= slabBytes)) throw new RangeError(`maxPooled ${maxPooled} is above slabBytes ${slabBytes}`)
    this.#slabBytes = slabBytes
    this.#maxPooled = maxPooled
  }

  /**
   * A zero-filled array of `length` bytes: its own array when short (on V8's heap) or long,
   * otherwise a view of the current slab. Write it freely; do not rely on its `buffer`.
   */
  alloc(length: number): Uint8Array {
    if (length <= MAX_ON_HEAP || length > this.#maxPooled) return new Uint8Array(length)
    // (a detached slab has length 0: one is replaced like a full one)
    if (this.#used + length > this.#slab.length) {
      this.#slab = newSlab(this.#slabBytes)
      this.#used = 0
    }
    const out = this.#slab.subarray(this.#used, this.#used + length)
    this.#used += length
    return out
  }
}

/**
 * A fresh slab, marked untransferable (as Node marks its `Buffer` pool): a caller who
 * transfers a pooled array's `buffer` to a worker gets a copy sent, and the slab, which
 * other arrays share, is not detached.
 */
function newSlab(bytes: number): Uint8Array {
  const s = new Uint8Array(bytes)
  markAsUntransferable(s.buffer)
  return s
}

/** The pool of {@link allocBytes}: 8 KiB slabs (Node's `Buffer.poolSize`), arrays of up to 1 KiB. */
const shared = new SlabPool(8192, 1024)

/**
 * A zero-filled array of `length` bytes from the shared pool of short-lived arrays: its own
 * array when short (on V8's heap) or long (over 1 KiB), otherwise a view of a shared 8 KiB
 * slab. Write it freely; do not rely on its `buffer`.
 */
export function allocBytes(length: number): Uint8Array {
  return shared.alloc(length)
}

/** A copy of `length` bytes of `src` from `at`, in an array from {@link allocBytes} (never a view of `src`, even of a Buffer). */
export function copyBytes(src: Uint8Array, at: number, length: number): Uint8Array {
  const out = allocBytes(length)
  copyInto(out, 0, src, at, length)
  return out
}
