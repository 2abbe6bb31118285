/**
 * etcd's MVCC storage: revisions, per-key generations, the ordered in-memory index, the
 * backend over abstract-level, and the revisioned key-value store built on them.
 *
 * @module
 */

export { Backend } from './backend.js'
export type { BackendOp, Bucket, Database, MetaName } from './backend.js'
export { BTree, compareStrings } from './btree.js'
export type { Comparator } from './btree.js'
export { crc32c } from './hash.js'
export { KeyIndex } from './key-index.js'
export type { Generation, KeyIndexEntry } from './key-index.js'
export { decodeKeyValue, encodeKeyValue } from './kv-codec.js'
export { KVStore } from './kv-store.js'
export type { CompactResult, Event, HashKVResult, KVStoreOptions, RangeOptions, RangeResult, TxnWrite } from './kv-store.js'
export {
  MARKED_REV_BYTES_LEN,
  REV_BYTES_LEN,
  RevisionSet,
  compareRevision,
  decodeRevision,
  encodeRevision,
  isTombstoneKey,
  revisionGreaterThan,
  revisionId,
} from './revision.js'
export type { Revision } from './revision.js'
export { TreeIndex } from './tree-index.js'
export type { RangeEnd, RevisionsResult } from './tree-index.js'
