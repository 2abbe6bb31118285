/**
 * Builders for reads (etcd `KV.Range`): one key (`get`) or many (`getAll`), each with
 * result methods typed by what they return.
 *
 * @module
 */
import type { z } from 'zod'
import type { KeyValue, RangeResponse, ResponseOp, SortOrder, SortTarget } from '../api/messages.js'
import type { RangeRequestInput, RequestOpInput } from '../services/kv-schema.js'
import type { KVApi } from '../services/kv-api.js'
import { EMPTY, toBytes, toText } from '../api/bytes.js'
import { InvalidArgumentError } from '../errors.js'
import { decodeJson, decodeNumber } from './decode.js'
import type { KeyPrefix } from './key-prefix.js'
import type { Operation } from './operation.js'
import { PromiseWrap } from './promise-wrap.js'
import { Range, type KeyInput, type Rangable } from './range.js'
import { checkBool, checkKey, checkName, checkRevision, invalidArg } from './validate.js'

/** What a range can sort by, in etcd3's spelling (etcd's `SortTarget` in PascalCase). */
export const sortTarget = {
  Key: 'KEY',
  Version: 'VERSION',
  Create: 'CREATE',
  Mod: 'MOD',
  Value: 'VALUE',
} as const satisfies Record<string, SortTarget>

/** Sort directions, in etcd3's spelling (etcd's `SortOrder` in PascalCase). */
export const sortOrder = {
  None: 'NONE',
  Ascend: 'ASCEND',
  Descend: 'DESCEND',
} as const satisfies Record<string, SortOrder>

/** A sort target name accepted by {@link MultiRangeBuilder.sort}. */
export type SortTargetName = keyof typeof sortTarget
/** A sort order name accepted by {@link MultiRangeBuilder.sort}. */
export type SortOrderName = keyof typeof sortOrder

/** The request options a range builder sets, besides its key bounds. */
/** The range request fields a builder accumulates (everything but the key range). */
export type RangeOptions = Omit<RangeRequestInput, 'key' | 'rangeEnd'>

/** Throws a helpful error when `value` is not one of `map`'s names (for callers without types). */
export function assertWithin(map: object, value: string, thing: string): void {
  if (typeof value !== 'string') checkName(map, value, thing)
  if (!Object.hasOwn(map, value)) {
    const names = Object.keys(map).map((k) => JSON.stringify(k)).join(', ')
    throw new InvalidArgumentError(
      `pocket-etcd: unexpected ${JSON.stringify(value)} as ${thing}; expected one of ${names}`,
      'InvalidArgument',
      'ErrInvalidRequest',
    )
  }
}

/**
 * What `get` and `getAll` share (etcd3's `RangeBuilder`): the point in time to read at and
 * the revision filters. Subclasses say which keys and how results are shaped.
 */
export abstract class RangeBuilder<T> extends PromiseWrap<T> implements Operation {
  /** Options set so far; result methods add theirs on a copy, so a builder can be reused. */
  protected readonly options: RangeOptions = {}

  constructor(
    /** The KV service requests go to. */
    protected readonly kvApi: KVApi,
    /** The namespace's prefix, applied to keys sent and stripped from keys returned. */
    protected readonly keyPrefix: KeyPrefix,
  ) {
    super()
  }

  /** Reads the store as of revision `rev` (0, the default, is the latest); fails once `rev` is compacted. */
  revision(rev: number): this {
    this.options.revision = checkRevision(rev, 'revision in revision(rev)')
    return this
  }

  /** Serves the read from the member's local state without a quorum round: faster, possibly stale. */
  serializable(serializable = true): this {
    this.options.serializable = checkBool(serializable, 'flag in serializable(flag)')
    return this
  }

  /** Keeps only keys last modified at or after `rev`. */
  minModRevision(rev: number): this {
    this.options.minModRevision = checkRevision(rev, 'revision in minModRevision(rev)')
    return this
  }

  /** Keeps only keys last modified at or before `rev`. */
  maxModRevision(rev: number): this {
    this.options.maxModRevision = checkRevision(rev, 'revision in maxModRevision(rev)')
    return this
  }

  /** Keeps only keys created at or after `rev`. */
  minCreateRevision(rev: number): this {
    this.options.minCreateRevision = checkRevision(rev, 'revision in minCreateRevision(rev)')
    return this
  }

  /** Keeps only keys created at or before `rev`. */
  maxCreateRevision(rev: number): this {
    this.options.maxCreateRevision = checkRevision(rev, 'revision in maxCreateRevision(rev)')
    return this
  }

  /** Runs the read and returns etcd's response, keys relative to the namespace. */
  exec(): Promise<RangeResponse> {
    return this.run({})
  }

  /** This read as a txn operation, for `if(...).then(...)`. */
  op(): RequestOpInput {
    return { requestRange: this.request({}) }
  }

  /** Strips the namespace prefix from this read's txn response. */
  unprefix(response: ResponseOp): ResponseOp {
    return 'responseRange' in response ? { responseRange: this.keyPrefix.stripRange(response.responseRange) } : response
  }

  /** The store-level request with `extra` options on top of the builder's. */
  protected request(extra: RangeOptions): RangeRequestInput {
    const { key, rangeEnd } = this.bounds()
    return { ...this.options, ...extra, key: this.keyPrefix.key(key), rangeEnd: this.keyPrefix.rangeEnd(rangeEnd) }
  }

  /** Sends the request with `extra` options and strips the prefix from the response. */
  protected async run(extra: RangeOptions): Promise<RangeResponse> {
    const res = await this.kvApi.range(this.request(extra))
    return this.keyPrefix.stripRange(res)
  }

  /** The namespace-relative key and range end to read. */
  protected abstract bounds(): { key: Uint8Array; rangeEnd: Uint8Array }
}

/**
 * Reads one key (etcd3's `SingleRangeBuilder`, from `get(key)`). Every result method
 * resolves to `null` when the key does not exist; awaiting the builder gives `.string()`.
 */
export class SingleRangeBuilder extends RangeBuilder<string | null> {
  private readonly key: Uint8Array

  constructor(kvApi: KVApi, keyPrefix: KeyPrefix, key: KeyInput) {
    super(kvApi, keyPrefix)
    this.key = toBytes(checkKey(key, 'key in get(key)'))
  }

  /** The value as UTF-8 text, or `null`. */
  async string(): Promise<string | null> {
    const kv = await this.first()
    return kv === null ? null : toText(kv.value)
  }

  /** The value parsed as a decimal number, or `null`; a value that is not a number rejects with a {@link DecodeError}. */
  async number(): Promise<number | null> {
    const kv = await this.first()
    return kv === null ? null : decodeNumber(kv.key, kv.value)
  }

  /** The value's raw bytes, or `null` (etcd3 returns a `Buffer`). */
  async buffer(): Promise<Uint8Array | null> {
    const kv = await this.first()
    return kv === null ? null : kv.value
  }

  /**
   * The value parsed as JSON, or `null`. With a zod schema the value is validated and typed
   * by it, and a value that fails rejects with a {@link DecodeError} naming the key; without
   * one the caller's type `T` is trusted (as in etcd3).
   */
  json<S extends z.ZodType>(schema: S): Promise<z.output<S> | null>
  json<T = unknown>(): Promise<T | null>
  async json(schema?: z.ZodType): Promise<unknown> {
    const kv = await this.first()
    return kv === null ? null : decodeJson(kv.key, kv.value, schema)
  }

  /** True when the key exists (a count-only read: no value is transferred). */
  async exists(): Promise<boolean> {
    const res = await this.run({ countOnly: true })
    return res.count > 0
  }

  /** The whole KeyValue (revisions, version, lease), key relative to the namespace, or `null`. */
  async kv(): Promise<KeyValue | null> {
    return this.first()
  }

  protected override createPromise(): Promise<string | null> {
    return this.string()
  }

  protected override bounds(): { key: Uint8Array; rangeEnd: Uint8Array } {
    return { key: this.key, rangeEnd: EMPTY }
  }

  private async first(): Promise<KeyValue | null> {
    const res = await this.run({})
    return res.kvs[0] ?? null
  }
}

/**
 * Reads many keys (etcd3's `MultiRangeBuilder`, from `getAll()`). Without bounds it reads
 * every key of the namespace. Maps are keyed by the UTF-8 text of each key (use
 * `.keyBuffers()` or `.exec()` for keys that are not UTF-8); awaiting gives `.strings()`.
 */
export class MultiRangeBuilder extends RangeBuilder<Record<string, string>> {
  private target: Range = Range.prefix(EMPTY)

  /** Reads the keys that start with `prefix` (relative to the namespace). */
  prefix(prefix: KeyInput): this {
    this.target = Range.prefix(checkKey(prefix, 'prefix in getAll().prefix(prefix)'))
    return this
  }

  /** Reads the keys in `[start, end)`; an `end` of `'\0'` means "to the end of the namespace". */
  inRange(start: KeyInput, end: KeyInput): this
  /** Reads the keys of a range given as a `Range`, `{ start, end }`, `{ prefix }` or one key. */
  inRange(range: Rangable): this
  inRange(range: Rangable, end?: KeyInput): this {
    this.target = Range.from(range, end)
    return this
  }

  /** Reads every key of the namespace (the default). */
  all(): this {
    return this.prefix(EMPTY)
  }

  /** Returns at most `count` keys (0 or a non-finite count: no limit); the response's `more` says whether some were cut. */
  limit(count: number): this {
    if (typeof count !== 'number' || (Number.isFinite(count) && !Number.isSafeInteger(count))) throw invalidArg('count in getAll().limit(count)', count, 'a safe integer')
    this.options.limit = Number.isFinite(count) ? count : 0
    return this
  }

  /** Sorts the result by `target` in `order` (default `'Ascend'`); `'None'` keeps etcd's key order. */
  sort(target: SortTargetName, order: SortOrderName = 'Ascend'): this {
    assertWithin(sortTarget, target, 'sort target in getAll().sort(...)')
    assertWithin(sortOrder, order, 'sort order in getAll().sort(...)')
    this.options.sortTarget = sortTarget[target]
    this.options.sortOrder = sortOrder[order]
    return this
  }

  /** The number of keys in the range (a count-only read; ignores `limit`). */
  async count(): Promise<number> {
    const res = await this.run({ countOnly: true })
    return res.count
  }

  /** The keys as UTF-8 text, without their values (a keys-only read). */
  async keys(): Promise<string[]> {
    const res = await this.run({ keysOnly: true })
    return res.kvs.map((kv) => toText(kv.key))
  }

  /** The keys as raw bytes, without their values (a keys-only read). */
  async keyBuffers(): Promise<Uint8Array[]> {
    const res = await this.run({ keysOnly: true })
    return res.kvs.map((kv) => kv.key)
  }

  /** Every key's value as UTF-8 text. */
  strings(): Promise<Record<string, string>> {
    return this.mapValues((_key, value) => toText(value))
  }

  /** Every key's value as raw bytes (etcd3 returns `Buffer`s). */
  buffers(): Promise<Record<string, Uint8Array>> {
    return this.mapValues((_key, value) => value)
  }

  /** Every key's value as a number; one value that is not a number rejects with a {@link DecodeError}. */
  numbers(): Promise<Record<string, number>> {
    return this.mapValues(decodeNumber)
  }

  /**
   * Every key's value parsed as JSON; with a zod schema each value is validated and typed,
   * and the first value that fails rejects with a {@link DecodeError} naming its key.
   */
  json<S extends z.ZodType>(schema: S): Promise<Record<string, z.output<S>>>
  json<T = unknown>(): Promise<Record<string, T>>
  json(schema?: z.ZodType): Promise<Record<string, unknown>> {
    return this.mapValues((key, value) => decodeJson(key, value, schema))
  }

  protected override createPromise(): Promise<Record<string, string>> {
    return this.strings()
  }

  protected override bounds(): { key: Uint8Array; rangeEnd: Uint8Array } {
    return { key: this.target.start, rangeEnd: this.target.end }
  }

  /** Runs the read and builds a map from each key's text to `decode(key, value)`, in the result's order. */
  private async mapValues<V>(decode: (key: Uint8Array, value: Uint8Array) => V): Promise<Record<string, V>> {
    const res = await this.run({})
    // fromEntries defines own properties, so a key named "__proto__" is a plain entry.
    return Object.fromEntries(res.kvs.map((kv) => [toText(kv.key), decode(kv.key, kv.value)]))
  }
}
