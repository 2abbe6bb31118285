/**
 * The builder for transactions (etcd `KV.Txn`): compares, then one branch of operations or
 * the other, atomically.
 *
 * @module
 */
import type { CompareResult, CompareTarget, ResponseOp, TxnResponse } from '../api/messages.js'
import type { CompareInput, RequestOpInput } from '../services/kv-schema.js'
import type { KVApi } from '../services/kv-api.js'
import { toBytes } from '../api/bytes.js'
import { InvalidArgumentError } from '../errors.js'
import type { KeyPrefix, RequestBytes } from './key-prefix.js'
import type { Operation } from './operation.js'
import type { LeaseId } from './put-builder.js'
import type { KeyInput } from './range.js'
import { assertWithin } from './range-builders.js'
import { checkKey, checkLeaseId, checkRevision, checkValue, invalidArg } from './validate.js'

/** The comparison operators of `if(...)`, as etcd3 spells them, mapped to etcd's CompareResult. */
export const comparator = {
  '==': 'EQUAL',
  '===': 'EQUAL',
  '!=': 'NOT_EQUAL',
  '!==': 'NOT_EQUAL',
  '<': 'LESS',
  '>': 'GREATER',
} as const satisfies Record<string, CompareResult>

/** What `if(...)` can compare, as etcd3 spells it, mapped to etcd's CompareTarget. */
export const compareTarget = {
  Value: 'VALUE',
  Version: 'VERSION',
  Create: 'CREATE',
  Mod: 'MOD',
  Lease: 'LEASE',
} as const satisfies Record<string, CompareTarget>

/** A comparison operator accepted by `if(...)` / `.and(...)`. */
export type Comparator = keyof typeof comparator
/** A column accepted by `if(...)` / `.and(...)`: the value, version, create or mod revision, or lease. */
export type CompareColumn = keyof typeof compareTarget

/**
 * The operand type of each column: bytes or text (or a number, compared as its decimal
 * text) for `Value`, a revision or version number for the others, a lease id for `Lease`.
 */
export interface CompareOperand {
  Value: string | Uint8Array | number
  Version: number
  Create: number
  Mod: number
  Lease: LeaseId
}

interface BranchOp {
  request: RequestOpInput
  source: Operation
}

/**
 * Builds a transaction (etcd3's `ComparatorBuilder`, from `if(key, column, cmp, value)`):
 * every compare is ANDed; when all hold, the `.then(...)` operations run, otherwise the
 * `.else(...)` ones, in one revision. `.commit()` sends it.
 *
 * ```ts
 * await store.if('lock', 'Create', '==', 0).then(store.put('lock').value(id)).else(store.get('lock')).commit()
 * ```
 *
 * It is deliberately not thenable (its `then` adds operations): awaiting it without
 * `.commit()` rejects with an error saying so instead of hanging.
 */
export class ComparatorBuilder implements Operation {
  private readonly compares: CompareInput[] = []
  private readonly success: BranchOp[] = []
  private readonly failure: BranchOp[] = []
  /** The first misuse seen while building; `.commit()` rejects with it, so no call in the chain throws. */
  private error: unknown = undefined

  constructor(
    private readonly kvApi: KVApi,
    private readonly keyPrefix: KeyPrefix,
  ) {}

  /** Adds a compare that must hold too (etcd compares are all ANDed). */
  and<C extends CompareColumn>(key: KeyInput, column: C, cmp: Comparator, value: CompareOperand[C]): this {
    this.guard(() => {
      assertWithin(compareTarget, column, 'comparison column in if(...)')
      assertWithin(comparator, cmp, 'comparator in if(...)')
      this.compares.push(this.compare(toBytes(checkKey(key, 'key in if(key, ...)')), column, cmp, value))
    })
    return this
  }

  /** Adds operations to run when every compare holds (etcd's `success` branch). */
  then(...ops: Operation[]): this {
    this.guard(() => this.addOps(this.success, ops))
    return this
  }

  /** Adds operations to run when some compare fails (etcd's `failure` branch). */
  else(...ops: Operation[]): this {
    this.guard(() => this.addOps(this.failure, ops))
    return this
  }

  /**
   * Runs the transaction. `succeeded` says which branch ran; `responses` holds one response
   * per operation of that branch, in order, keys relative to each operation's namespace.
   */
  async commit(): Promise<TxnResponse> {
    const res = await this.kvApi.txn(this.request())
    return this.unprefixTxn(res)
  }

  /** This transaction as an operation of an enclosing transaction (etcd's nested txn). */
  op(): RequestOpInput {
    return { requestTxn: this.request() }
  }

  /** Strips namespace prefixes from this transaction's response inside an enclosing one. */
  unprefix(response: ResponseOp): ResponseOp {
    return 'responseTxn' in response ? { responseTxn: this.unprefixTxn(response.responseTxn) } : response
  }

  private request(): { compare: CompareInput[]; success: RequestOpInput[]; failure: RequestOpInput[] } {
    if (this.error !== undefined) throw this.error
    return {
      compare: this.compares,
      success: this.success.map((o) => o.request),
      failure: this.failure.map((o) => o.request),
    }
  }

  private unprefixTxn(res: TxnResponse): TxnResponse {
    const ops = res.succeeded ? this.success : this.failure
    return {
      ...res,
      responses: res.responses.map((r, i) => {
        const source = ops[i]?.source
        return source?.unprefix ? source.unprefix(r) : r
      }),
    }
  }

  private compare(key: Uint8Array, column: CompareColumn, cmp: Comparator, value: CompareOperand[CompareColumn]): CompareInput {
    const base = { key: this.keyPrefix.key(key), result: comparator[cmp], target: compareTarget[column] }
    switch (column) {
      case 'Value':
        if (typeof value === 'bigint') break
        checkValue(value, 'value in if(key, "Value", ...)')
        return { ...base, value: toBytes(typeof value === 'number' ? String(value) : value) as RequestBytes }
      case 'Lease':
        if (value instanceof Uint8Array) break
        return { ...base, lease: checkLeaseId(value, 'lease id in if(key, "Lease", ...)') }
      case 'Version':
      case 'Create':
      case 'Mod': {
        if (typeof value !== 'number') break
        checkRevision(value, `${column} in if(key, ${JSON.stringify(column)}, ...)`)
        const field = column === 'Version' ? 'version' : column === 'Create' ? 'createRevision' : 'modRevision'
        return { ...base, [field]: value }
      }
    }
    throw new InvalidArgumentError(
      `pocket-etcd: if(...) compares ${column} with a ${value instanceof Uint8Array ? 'Uint8Array' : typeof value}; expected ${column === 'Value' ? 'a string, Uint8Array or number' : column === 'Lease' ? 'a lease id' : 'a number'}`,
      'InvalidArgument',
      'ErrInvalidRequest',
    )
  }

  private addOps(branch: BranchOp[], ops: Operation[]): void {
    for (const source of ops) {
      // `await builder` calls then(resolve, reject): answer it instead of waiting forever.
      if (typeof source === 'function') {
        const reject: unknown = ops[1]
        const err = new InvalidArgumentError(
          'pocket-etcd: an if(...) transaction is not a promise: call .commit() to run it',
          'InvalidArgument',
          'ErrInvalidRequest',
        )
        if (typeof reject === 'function') reject(err)
        throw err
      }
      if (typeof source !== 'object' || source === null || typeof (source as Partial<Operation>).op !== 'function') {
        throw invalidArg('operation in then(...)/else(...)', source, 'a builder such as put(key).value(v), get(key) or delete().key(key)')
      }
      branch.push({ request: source.op(), source })
    }
  }

  private guard(fn: () => void): void {
    if (this.error !== undefined) return
    try {
      fn()
    } catch (err) {
      // Recorded, not thrown: the fluent chain completes and commit() reports it.
      this.error = err
    }
  }
}
