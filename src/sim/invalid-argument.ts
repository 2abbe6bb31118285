/**
 * The error the simulation raises for a bad argument from its caller (a negative advance,
 * a drop rate above 1), so misuse of `store.sim` surfaces as an `EtcdError` like any other.
 *
 * @module
 */

import { InvalidArgumentError } from '../errors.js'

/** Builds the error for a bad simulation argument; `message` says which and why. */
export function invalidArgument(message: string): InvalidArgumentError {
  return new InvalidArgumentError(`pocket-etcd: sim: ${message}`, 'InvalidArgument', 'ErrInvalidArgument')
}
