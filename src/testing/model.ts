/**
 * The sequential specification a linearizability check compares a history against (a
 * Porcupine `Model`): an initial state and a step function, plus the hooks that make the
 * search fast (state keys for memoisation, keys for P-compositionality) and its reports
 * readable.
 *
 * @module
 */
import type { Operation } from './history.js'

/**
 * A sequential object: `step` applies one operation to a state, or says it cannot produce the
 * observed output from that state. States are values: `step` must not mutate its input.
 */
export interface Model<S, I, O> {
  /** A name for reports (`register`, `list-append`). */
  readonly name: string
  /** The state before any operation. */
  init(): S
  /**
   * The state after `input` ran on `state` and returned `output`, or `undefined` when it could
   * not have returned that. When `unknown` is true the output was not observed (`output` is
   * `undefined`): return the state the operation would have produced; to keep "never
   * happened" and "happened last" equivalent, this should succeed from every state.
   */
  step(state: S, input: I, output: O | undefined, unknown: boolean): S | undefined
  /** A string equal for equal states, used to memoise (linearized set, state) pairs. */
  key(state: S): string
  /**
   * The keys an operation touches. When given, the history is split into groups of operations
   * connected by shared keys and each group is checked on its own (P-compositionality), which
   * is exact when operations on disjoint keys commute, as they do in a key-value store.
   */
  keys?(input: I): readonly string[]
  /**
   * True when the operation never changes the state (a read). The shrinker may drop such
   * operations from a failing history; it only weakens the others (to unknown outcomes).
   */
  readOnly?(input: I): boolean
  /**
   * True when no operation of `group` observed what `input` would have done (a write whose
   * value nobody read). The checker first searches with such operations of unknown outcome
   * left out, which is one valid completion of the history ("never happened") and often far
   * cheaper; only if that fails does it search every completion.
   */
  unobserved?(input: I, group: readonly Operation<I, O>[]): boolean
  /** Readable form of an input for reports (default: JSON). */
  showInput?(input: I): string
  /** Readable form of an output for reports (default: JSON). */
  showOutput?(output: O): string
  /** Readable form of a state for reports (default: its key). */
  showState?(state: S): string
}
