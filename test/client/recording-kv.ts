/**
 * Wraps a KVApi and records every request sent through it, so tests can check the exact
 * request a builder produced (fields like `lease` whose effect needs other services).
 */
import type { KVApi } from '../../src/services/kv-api.js'
import type {
  CompactionRequestInput,
  DeleteRangeRequestInput,
  PutRequestInput,
  RangeRequestInput,
  TxnRequestInput,
} from '../../src/services/kv-schema.js'

/** One recorded call. */
export type Recorded =
  | { method: 'range'; request: RangeRequestInput }
  | { method: 'put'; request: PutRequestInput }
  | { method: 'deleteRange'; request: DeleteRangeRequestInput }
  | { method: 'txn'; request: TxnRequestInput }
  | { method: 'compact'; request: CompactionRequestInput }

/** A KVApi that forwards to `inner` and keeps the requests in `calls`. */
export class RecordingKV implements KVApi {
  readonly calls: Recorded[] = []
  constructor(private readonly inner: KVApi) {}
  range(request: RangeRequestInput) {
    this.calls.push({ method: 'range', request })
    return this.inner.range(request)
  }
  put(request: PutRequestInput) {
    this.calls.push({ method: 'put', request })
    return this.inner.put(request)
  }
  deleteRange(request: DeleteRangeRequestInput) {
    this.calls.push({ method: 'deleteRange', request })
    return this.inner.deleteRange(request)
  }
  txn(request: TxnRequestInput) {
    this.calls.push({ method: 'txn', request })
    return this.inner.txn(request)
  }
  compact(request: CompactionRequestInput) {
    this.calls.push({ method: 'compact', request })
    return this.inner.compact(request)
  }
  /** The last call, which must be `method`. */
  last<M extends Recorded['method']>(method: M): Extract<Recorded, { method: M }>['request'] {
    const c = this.calls.at(-1)
    if (c === undefined || c.method !== method) throw new Error(`expected a ${method} call, got ${c?.method ?? 'none'}`)
    return c.request as Extract<Recorded, { method: M }>['request']
  }
}
