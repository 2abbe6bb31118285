/**
 * A binary min-heap of timers ordered by (due time, insertion sequence), with lazy
 * cancellation, backing {@link ManualClock}. Same-time timers come out in insertion order,
 * which is what makes a manual clock deterministic.
 *
 * @module
 */

/** One scheduled callback; `cancelled` is set instead of removing it from the heap. */
export interface QueuedTimer {
  readonly at: number
  readonly seq: number
  readonly fn: () => void
  cancelled: boolean
  /** True once popped (fired); cancel after that is a no-op. */
  done: boolean
}

function before(a: QueuedTimer, b: QueuedTimer): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq)
}

/** Min-heap of {@link QueuedTimer}s; `size` counts live (not cancelled) timers only. */
export class TimerQueue {
  #heap: QueuedTimer[] = []
  #live = 0
  #seq = 0

  /** Live timers waiting to fire. */
  get size(): number {
    return this.#live
  }

  /** Adds a timer due at `at`; ties are broken by insertion order. */
  push(at: number, fn: () => void): QueuedTimer {
    const t: QueuedTimer = { at, seq: this.#seq++, fn, cancelled: false, done: false }
    this.#heap.push(t)
    this.#up(this.#heap.length - 1)
    this.#live++
    return t
  }

  /** Marks `t` cancelled (idempotent); compacts the heap when garbage dominates. */
  cancel(t: QueuedTimer): void {
    if (t.cancelled || t.done) return
    t.cancelled = true
    this.#live--
    if (this.#heap.length > 64 && this.#heap.length > 2 * this.#live) this.#compact()
  }

  /** The earliest live timer, without removing it. */
  peek(): QueuedTimer | undefined {
    this.#dropCancelledTop()
    return this.#heap[0]
  }

  /** Removes and returns the earliest live timer, marking it done. */
  pop(): QueuedTimer | undefined {
    this.#dropCancelledTop()
    const top = this.#removeTop()
    if (top) {
      top.done = true
      this.#live--
    }
    return top
  }

  /** Cancels every timer. */
  clear(): void {
    for (const t of this.#heap) t.cancelled = true
    this.#heap = []
    this.#live = 0
  }

  #dropCancelledTop(): void {
    while (this.#heap[0]?.cancelled) this.#removeTop()
  }

  #removeTop(): QueuedTimer | undefined {
    const heap = this.#heap
    const top = heap[0]
    const last = heap.pop()
    if (top !== undefined && last !== undefined && heap.length > 0) {
      heap[0] = last
      this.#down(0)
    }
    return top
  }

  #compact(): void {
    this.#heap = this.#heap.filter((t) => !t.cancelled)
    for (let i = (this.#heap.length >> 1) - 1; i >= 0; i--) this.#down(i)
  }

  #up(i: number): void {
    const heap = this.#heap
    const t = heap[i] as QueuedTimer
    while (i > 0) {
      const p = (i - 1) >> 1
      const parent = heap[p] as QueuedTimer
      if (!before(t, parent)) break
      heap[i] = parent
      i = p
    }
    heap[i] = t
  }

  #down(i: number): void {
    const heap = this.#heap
    const n = heap.length
    const t = heap[i] as QueuedTimer
    for (;;) {
      const l = 2 * i + 1
      if (l >= n) break
      const r = l + 1
      let c = l
      if (r < n && before(heap[r] as QueuedTimer, heap[l] as QueuedTimer)) c = r
      const child = heap[c] as QueuedTimer
      if (!before(child, t)) break
      heap[i] = child
      i = c
    }
    heap[i] = t
  }
}
