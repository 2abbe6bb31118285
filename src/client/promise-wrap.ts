/**
 * The thenable base of the fluent builders: awaiting a builder runs its default action.
 *
 * @module
 */

/**
 * A builder that can be awaited: `then`, `catch` and `finally` run {@link createPromise}
 * (etcd3's `PromiseWrap`). Each call runs the request again, exactly as etcd3 does, so a
 * builder is a reusable description of a request rather than a one-shot promise.
 */
export abstract class PromiseWrap<T> implements PromiseLike<T> {
  /** Runs the builder's default action; what awaiting the builder resolves to. */
  protected abstract createPromise(): Promise<T>

  /** Runs the request and chains on its result (`PromiseLike.then`). */
  then<R1 = T, R2 = never>(
    onfulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null,
    onrejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    return this.createPromise().then(onfulfilled, onrejected)
  }

  /** Runs the request and handles its failure (`Promise.catch`). */
  catch<R = never>(onrejected?: ((reason: unknown) => R | PromiseLike<R>) | null): Promise<T | R> {
    return this.createPromise().catch(onrejected)
  }

  /** Runs the request and calls `onfinally` when it settles (`Promise.finally`). */
  finally(onfinally?: (() => void) | null): Promise<T> {
    return this.createPromise().finally(onfinally)
  }
}
