/**
 * The builder for deletes of a key or a range (etcd `KV.DeleteRange`).
 *
 * @module
 */
import type { DeleteRangeResponse, KeyValue, ResponseOp } from '../api/messages.js'
import type { DeleteRangeRequestInput, RequestOpInput } from '../services/kv-schema.js'
import type { KVApi } from '../services/kv-api.js'
import { EMPTY } from '../api/bytes.js'
import { InvalidArgumentError } from '../errors.js'
import type { KeyPrefix } from './key-prefix.js'
import type { Operation } from './operation.js'
import { PromiseWrap } from './promise-wrap.js'
import { Range, type KeyInput, type Rangable } from './range.js'
import { checkKey } from './validate.js'

/**
 * Deletes one key or a range of keys (etcd3's `DeleteBuilder`, from `delete()`). Awaiting
 * it runs the delete and gives etcd's DeleteRangeResponse. Unlike etcd3, a delete with no
 * key or range chosen is refused rather than sent, so a forgotten `.key()` never deletes
 * by accident.
 */
export class DeleteBuilder extends PromiseWrap<DeleteRangeResponse> implements Operation {
  private target: Range | undefined

  constructor(
    private readonly kvApi: KVApi,
    private readonly keyPrefix: KeyPrefix,
  ) {
    super()
  }

  /** Deletes the single key `key`. */
  key(key: KeyInput): this {
    this.target = new Range(checkKey(key, 'key in delete().key(key)'), EMPTY)
    return this
  }

  /** Deletes every key that starts with `prefix` (relative to the namespace). */
  prefix(prefix: KeyInput): this {
    this.target = Range.prefix(checkKey(prefix, 'prefix in delete().prefix(prefix)'))
    return this
  }

  /** Deletes the keys in `[start, end)`; an `end` of `'\0'` means "to the end of the namespace". */
  range(start: KeyInput, end: KeyInput): this
  /** Deletes the keys of a `Range`, `{ start, end }`, `{ prefix }` or one key. */
  range(range: Rangable): this
  range(range: Rangable, end?: KeyInput): this {
    this.target = Range.from(range, end)
    return this
  }

  /** Same as {@link DeleteBuilder.range | range} (etcd3 has both names). */
  inRange(start: KeyInput, end: KeyInput): this
  /** Same as {@link DeleteBuilder.range | range} (etcd3 has both names). */
  inRange(range: Rangable): this
  inRange(range: Rangable, end?: KeyInput): this {
    this.target = Range.from(range, end)
    return this
  }

  /** Deletes every key of the namespace (of the whole store at the root). */
  all(): this {
    return this.prefix(EMPTY)
  }

  /** Runs the delete and returns the deleted keys' last KeyValues, keys relative to the namespace. */
  async getPrevious(): Promise<KeyValue[]> {
    const res = await this.run({ prevKv: true })
    return res.prevKvs
  }

  /** Runs the delete and returns etcd's response (`deleted` is the number of keys deleted). */
  exec(): Promise<DeleteRangeResponse> {
    return this.run({})
  }

  /** This delete as a txn operation, for `if(...).then(...)`; throws if no key or range was chosen. */
  op(): RequestOpInput {
    return { requestDeleteRange: this.request({}) }
  }

  /** Strips the namespace prefix from this delete's txn response. */
  unprefix(response: ResponseOp): ResponseOp {
    return 'responseDeleteRange' in response
      ? { responseDeleteRange: this.keyPrefix.stripDelete(response.responseDeleteRange) }
      : response
  }

  protected override createPromise(): Promise<DeleteRangeResponse> {
    return this.exec()
  }

  private request(extra: Pick<DeleteRangeRequestInput, 'prevKv'>): DeleteRangeRequestInput {
    if (this.target === undefined) {
      throw new InvalidArgumentError(
        'pocket-etcd: delete() has no key or range: call .key(k), .prefix(p), .range(start, end) or .all()',
        'InvalidArgument',
        'ErrInvalidRequest',
      )
    }
    return { ...extra, key: this.keyPrefix.key(this.target.start), rangeEnd: this.keyPrefix.rangeEnd(this.target.end) }
  }

  private async run(extra: Pick<DeleteRangeRequestInput, 'prevKv'>): Promise<DeleteRangeResponse> {
    const res = await this.kvApi.deleteRange(this.request(extra))
    return this.keyPrefix.stripDelete(res)
  }
}
