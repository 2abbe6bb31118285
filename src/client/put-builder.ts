/**
 * The builder for writes of one key (etcd `KV.Put`).
 *
 * @module
 */
import type { KeyValue, PutResponse, ResponseOp } from '../api/messages.js'
import type { PutRequestInput, RequestOpInput } from '../services/kv-schema.js'
import type { KVApi } from '../services/kv-api.js'
import { toBytes, toText } from '../api/bytes.js'
import { InvalidArgumentError } from '../errors.js'
import type { KeyPrefix, RequestBytes } from './key-prefix.js'
import type { Operation } from './operation.js'
import { PromiseWrap } from './promise-wrap.js'
import type { KeyInput } from './range.js'
import { checkBool, checkKey, checkLeaseId, checkValue } from './validate.js'

/** A value as `put(key).value(...)` accepts it: text (UTF-8), raw bytes, or a number (stored as its decimal text). */
export type ValueInput = string | Uint8Array | number

/** A lease id: decimal string, safe integer or bigint (etcd's int64). */
export type LeaseId = string | number | bigint

/**
 * Writes one key (etcd3's `PutBuilder`, from `put(key)`). Awaiting it runs the put and
 * gives etcd's PutResponse. A put needs a value: call `.value(v)`, or `.ignoreValue()` to
 * keep the current one.
 */
export class PutBuilder extends PromiseWrap<PutResponse> implements Operation {
  private readonly key: Uint8Array
  private val: Uint8Array | undefined
  private readonly options: Omit<PutRequestInput, 'key' | 'value'> = {}

  constructor(
    private readonly kvApi: KVApi,
    private readonly keyPrefix: KeyPrefix,
    key: KeyInput,
  ) {
    super()
    this.key = toBytes(checkKey(key, 'key in put(key)'))
  }

  /** Sets the value to store; replaces an earlier `.ignoreValue()`. */
  value(value: ValueInput): this {
    checkValue(value, 'value in put(key).value(value)')
    this.val = toBytes(typeof value === 'number' ? String(value) : value)
    this.options.ignoreValue = false
    return this
  }

  /** Attaches the key to a lease, so it is deleted when the lease expires or is revoked. */
  lease(id: LeaseId): this {
    this.options.lease = checkLeaseId(id, 'lease id in put(key).lease(id)')
    return this
  }

  /** Keeps the key's current lease (etcd's `ignore_lease`); the key must exist. */
  ignoreLease(ignore = true): this {
    this.options.ignoreLease = checkBool(ignore, 'flag in put(key).ignoreLease(flag)')
    return this
  }

  /** Keeps the key's current value (etcd's `ignore_value`); replaces an earlier `.value()`. The key must exist. */
  ignoreValue(ignore = true): this {
    this.options.ignoreValue = checkBool(ignore, 'flag in put(key).ignoreValue(flag)')
    if (ignore) this.val = undefined
    return this
  }

  /** Runs the put and returns the key's previous KeyValue, or `null` when it did not exist. */
  async getPrevious(): Promise<KeyValue | null> {
    const res = await this.run({ prevKv: true })
    return res.prevKv ?? null
  }

  /** Bumps the key's revision and version without changing its value (etcd3's `touch`: `.ignoreValue().exec()`). */
  touch(): Promise<PutResponse> {
    this.ignoreValue()
    return this.exec()
  }

  /** Runs the put and returns etcd's response. */
  exec(): Promise<PutResponse> {
    return this.run({})
  }

  /** This put as a txn operation, for `if(...).then(...)`; throws if no value was set. */
  op(): RequestOpInput {
    return { requestPut: this.request({}) }
  }

  /** Strips the namespace prefix from this put's txn response. */
  unprefix(response: ResponseOp): ResponseOp {
    return 'responsePut' in response ? { responsePut: this.keyPrefix.stripPut(response.responsePut) } : response
  }

  protected override createPromise(): Promise<PutResponse> {
    return this.exec()
  }

  private request(extra: Pick<PutRequestInput, 'prevKv'>): PutRequestInput {
    if (this.val === undefined && this.options.ignoreValue !== true) {
      throw new InvalidArgumentError(
        `pocket-etcd: put(${JSON.stringify(toText(this.key))}) has no value: call .value(v), or .ignoreValue() to keep the current one`,
        'InvalidArgument',
        'ErrInvalidRequest',
      )
    }
    const req: PutRequestInput = { ...this.options, ...extra, key: this.keyPrefix.key(this.key) }
    if (this.val !== undefined) req.value = this.val as RequestBytes
    return req
  }

  private async run(extra: Pick<PutRequestInput, 'prevKv'>): Promise<PutResponse> {
    const res = await this.kvApi.put(this.request(extra))
    return this.keyPrefix.stripPut(res)
  }
}
