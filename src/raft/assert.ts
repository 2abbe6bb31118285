/**
 * Invariant checks for the Raft core: a broken invariant throws instead of letting a member
 * persist or apply a corrupt log.
 *
 * @module
 */
import { RaftError } from './raft-error.js'

/** Throws a `RaftError` with code `ErrInvariant` when `cond` is false; `why` names the invariant. */
export function assert(cond: boolean, why: string): asserts cond {
  if (!cond) throw new RaftError('ErrInvariant', why)
}
