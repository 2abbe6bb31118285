/**
 * A FIFO async mutex. A member uses one to keep read-only txns and snapshot dumps from
 * interleaving with the apply of a committed entry.
 *
 * @module
 */

/** Runs critical sections one at a time, in the order they asked. */
export class Mutex {
  private tail: Promise<void> = Promise.resolve()

  /** Runs `fn` once every earlier section has finished; resolves or rejects with its result. */
  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn)
    // the next section waits for this one whatever its outcome; the caller sees the outcome
    this.tail = result.then(
      () => undefined,
      () => undefined,
    )
    return result
  }
}
