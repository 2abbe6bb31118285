/**
 * The entry point of the typed layer: a view of the store under a key prefix.
 *
 * @module
 */
import type { KVApi } from '../services/kv-api.js'
import { toBytes } from '../api/bytes.js'
import { ComparatorBuilder, type CompareColumn, type CompareOperand, type Comparator } from './comparator-builder.js'
import { DeleteBuilder } from './delete-builder.js'
import { KeyPrefix } from './key-prefix.js'
import { PutBuilder } from './put-builder.js'
import { Range, type KeyInput, type Rangable } from './range.js'
import { MultiRangeBuilder, SingleRangeBuilder } from './range-builders.js'
import { checkKey } from './validate.js'

/**
 * The store's keys under a prefix (etcd3's `Namespace`), with etcd3's fluent builders:
 * `get`, `getAll`, `put`, `delete`, `if`. Every key sent gets the prefix and every key
 * returned loses it, and ranges never leave it, so code handed a namespace cannot read or
 * write outside it. The root namespace has the empty prefix.
 *
 * ```ts
 * const users = new Namespace(store.kv).namespace('users/')
 * await users.put('john').value('{"age":45}')   // writes users/john
 * await users.delete().all()                    // deletes users/* only
 * ```
 *
 * To extend it (watch, lease, lock, ...), subclass it, use {@link kv} and {@link keyPrefix},
 * and override {@link namespace} to return the subclass.
 */
export class Namespace {
  /** The KV service every builder of this namespace sends its requests to. */
  readonly kv: KVApi
  /** This namespace's prefix, applied to keys sent and stripped from keys returned. */
  protected readonly keyPrefix: KeyPrefix

  /** A namespace of `kv` under `prefix` (empty, the default, for the root). */
  constructor(kv: KVApi, prefix: KeyInput | KeyPrefix = KeyPrefix.ROOT) {
    this.kv = kv
    this.keyPrefix = prefix instanceof KeyPrefix ? prefix : new KeyPrefix(toBytes(checkKey(prefix, 'namespace prefix')))
  }

  /** The namespace's full prefix as bytes (empty for the root). */
  get prefix(): Uint8Array {
    return this.keyPrefix.bytes
  }

  /** Starts a read of one key; await it for the value as a string, or pick `.json(schema)`, `.number()`, ... */
  get(key: KeyInput): SingleRangeBuilder {
    return new SingleRangeBuilder(this.kv, this.keyPrefix, key)
  }

  /** Starts a read of many keys (the whole namespace unless narrowed by `.prefix()` or `.inRange()`). */
  getAll(): MultiRangeBuilder {
    return new MultiRangeBuilder(this.kv, this.keyPrefix)
  }

  /** Starts a write of one key; set its value with `.value(v)`, then await it. */
  put(key: KeyInput): PutBuilder {
    return new PutBuilder(this.kv, this.keyPrefix, key)
  }

  /** Starts a delete; choose what with `.key()`, `.prefix()`, `.range()` or `.all()`, then await it. */
  delete(): DeleteBuilder {
    return new DeleteBuilder(this.kv, this.keyPrefix)
  }

  /**
   * Starts a transaction whose first compare is `key`'s `column` `cmp` `value`; add
   * compares with `.and()`, branches with `.then()` / `.else()`, and run it with `.commit()`.
   */
  if<C extends CompareColumn>(key: KeyInput, column: C, cmp: Comparator, value: CompareOperand[C]): ComparatorBuilder {
    return new ComparatorBuilder(this.kv, this.keyPrefix).and(key, column, cmp, value)
  }

  /** A {@link Range} from any {@link Rangable} (etcd3's `namespace.range(...)`). */
  range(r: Rangable): Range {
    return Range.from(r)
  }

  /** A namespace nested in this one: its prefix is this namespace's prefix followed by `prefix`. */
  namespace(prefix: KeyInput): Namespace {
    return new Namespace(this.kv, this.keyPrefix.concat(toBytes(checkKey(prefix, 'prefix in namespace(prefix)'))))
  }
}
