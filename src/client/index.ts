/**
 * The etcd3-style typed layer over the KV service: namespaces and fluent, thenable builders.
 *
 * @module
 */
export { Namespace } from './namespace.js'
export {
  RangeBuilder,
  SingleRangeBuilder,
  MultiRangeBuilder,
  sortTarget,
  sortOrder,
  type SortTargetName,
  type SortOrderName,
  type RangeOptions,
} from './range-builders.js'
export { PutBuilder, type ValueInput, type LeaseId } from './put-builder.js'
export { DeleteBuilder } from './delete-builder.js'
export {
  ComparatorBuilder,
  comparator,
  compareTarget,
  type Comparator,
  type CompareColumn,
  type CompareOperand,
} from './comparator-builder.js'
export { Range, type KeyInput, type Rangable } from './range.js'
export { KeyPrefix, type RequestBytes } from './key-prefix.js'
export { PromiseWrap } from './promise-wrap.js'
export type { Operation } from './operation.js'
export { DecodeError } from './decode.js'
