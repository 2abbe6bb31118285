/**
 * zod schemas for the KV service's requests: what a caller may pass (strings or bytes,
 * optional fields) and the normalized etcd message each parses into. Parsing happens once,
 * here at the boundary; a request that does not parse changes nothing.
 *
 * @module
 */
import { z } from 'zod'
import type {
  Compare,
  CompactionRequest,
  DeleteRangeRequest,
  PutRequest,
  RangeRequest,
  RequestOp,
  TxnRequest,
} from '../api/messages.js'
import { EMPTY, toBytes } from '../api/bytes.js'
import { InvalidArgumentError } from '../errors.js'

const INT64_MIN = -(2n ** 63n)
const INT64_MAX = 2n ** 63n - 1n

/** Bytes in: a UTF-8 string or a `Uint8Array`. */
export const bytesInput = z.union([
  z.string(),
  // any Uint8Array (a Node Buffer too), whatever its backing buffer, so bytes read from a response can be written back
  z.custom<Uint8Array<ArrayBufferLike>>((v) => v instanceof Uint8Array, 'expected a string or a Uint8Array'),
])

const bytesField = bytesInput.optional().transform((v): Uint8Array => (v === undefined ? EMPTY : toBytes(v)))

/** A revision, count or limit: a safe integer (etcd's int64, bounded to what a `number` holds exactly). */
const int = z.number().int().refine(Number.isSafeInteger, 'must be a safe integer')
const intField = int.optional().transform((v) => v ?? 0)
const boolField = z.boolean().optional().transform((v) => v ?? false)

/** A 64-bit id (lease, member): a decimal string, a safe integer or a bigint; normalized to a decimal string. */
export const idInput = z.union([z.string().regex(/^-?[0-9]+$/, 'must be a decimal integer'), int, z.bigint()])

/** Normalizes an id to its canonical decimal string, checking it fits in an int64. */
export function normalizeId(v: string | number | bigint): string {
  const b = BigInt(v)
  if (b < INT64_MIN || b > INT64_MAX) throw new InvalidArgumentError('pocket-etcd: invalid request: id out of int64 range', 'InvalidArgument', 'ErrInvalidRequest')
  return b.toString()
}

const idField = idInput.optional().transform((v) => (v === undefined ? '0' : normalizeId(v)))

const sortOrder = z.enum(['NONE', 'ASCEND', 'DESCEND']).optional().transform((v) => v ?? 'NONE')
const sortTarget = z.enum(['KEY', 'VERSION', 'CREATE', 'MOD', 'VALUE']).optional().transform((v) => v ?? 'KEY')

/** RangeRequest as a caller writes it. */
export const rangeRequestSchema = z.strictObject({
  key: bytesField,
  rangeEnd: bytesField,
  limit: intField,
  revision: intField,
  sortOrder,
  sortTarget,
  serializable: boolField,
  keysOnly: boolField,
  countOnly: boolField,
  minModRevision: intField,
  maxModRevision: intField,
  minCreateRevision: intField,
  maxCreateRevision: intField,
}) satisfies z.ZodType<RangeRequest, unknown>

/** PutRequest as a caller writes it. */
export const putRequestSchema = z.strictObject({
  key: bytesField,
  value: bytesField,
  lease: idField,
  prevKv: boolField,
  ignoreValue: boolField,
  ignoreLease: boolField,
}) satisfies z.ZodType<PutRequest, unknown>

/** DeleteRangeRequest as a caller writes it. */
export const deleteRangeRequestSchema = z.strictObject({
  key: bytesField,
  rangeEnd: bytesField,
  prevKv: boolField,
}) satisfies z.ZodType<DeleteRangeRequest, unknown>

/** Compare as a caller writes it: `target` names which of the value fields is compared. */
export const compareSchema = z.strictObject({
  result: z.enum(['EQUAL', 'GREATER', 'LESS', 'NOT_EQUAL']),
  target: z.enum(['VERSION', 'CREATE', 'MOD', 'VALUE', 'LEASE']),
  key: bytesField,
  rangeEnd: bytesField,
  version: intField,
  createRevision: intField,
  modRevision: intField,
  value: bytesField,
  lease: idField,
}) satisfies z.ZodType<Compare, unknown>

/** Deepest txn nesting accepted; deeper requests are refused before any work (etcd bounds it by maxTxnOps). */
export const MAX_TXN_DEPTH = 64

/** A txn request as a caller writes it (the input of `kv.txn`). */
export type TxnInputShape = {
  compare?: z.input<typeof compareSchema>[]
  success?: RequestOpInput[]
  failure?: RequestOpInput[]
}

/** One operation of a txn branch, as a caller writes it. */
export type RequestOpInput =
  | { requestRange: z.input<typeof rangeRequestSchema> }
  | { requestPut: z.input<typeof putRequestSchema> }
  | { requestDeleteRange: z.input<typeof deleteRangeRequestSchema> }
  | { requestTxn: TxnInputShape }

const requestOpSchema: z.ZodType<RequestOp, RequestOpInput> = z.lazy(() =>
  z.union([
    z.strictObject({ requestRange: rangeRequestSchema }),
    z.strictObject({ requestPut: putRequestSchema }),
    z.strictObject({ requestDeleteRange: deleteRangeRequestSchema }),
    z.strictObject({ requestTxn: txnRequestSchema }),
  ]),
)

/** TxnRequest as a caller writes it. */
export const txnRequestSchema: z.ZodType<TxnRequest, TxnInputShape> = z.lazy(() =>
  z.strictObject({
    compare: z.array(compareSchema).optional().transform((v) => v ?? []),
    success: z.array(requestOpSchema).optional().transform((v) => v ?? []),
    failure: z.array(requestOpSchema).optional().transform((v) => v ?? []),
  }),
)

/** CompactionRequest as a caller writes it. */
export const compactionRequestSchema = z.strictObject({
  revision: intField,
  physical: boolField,
}) satisfies z.ZodType<CompactionRequest, unknown>

/** What `kv.range` accepts. */
export type RangeRequestInput = z.input<typeof rangeRequestSchema>
/** What `kv.put` accepts. */
export type PutRequestInput = z.input<typeof putRequestSchema>
/** What `kv.deleteRange` accepts. */
export type DeleteRangeRequestInput = z.input<typeof deleteRangeRequestSchema>
/** What a txn compare accepts. */
export type CompareInput = z.input<typeof compareSchema>
/** What `kv.txn` accepts. */
export type TxnRequestInput = TxnInputShape
/** What `kv.compact` accepts. */
export type CompactionRequestInput = z.input<typeof compactionRequestSchema>

function depth(input: unknown, level: number): number {
  if (level > MAX_TXN_DEPTH || typeof input !== 'object' || input === null) return level
  let max = level
  for (const branch of ['success', 'failure'] as const) {
    const ops = (input as Record<string, unknown>)[branch]
    if (!Array.isArray(ops)) continue
    for (const op of ops) {
      if (typeof op === 'object' && op !== null && 'requestTxn' in op) {
        max = Math.max(max, depth((op as { requestTxn: unknown }).requestTxn, level + 1))
        if (max > MAX_TXN_DEPTH) return max
      }
    }
  }
  return max
}

// --- fast paths: the common, already simple requests, normalized without zod ---
//
// Each returns exactly what the schema's parse would, or `undefined` whenever the input is
// anything but plain and well-typed (an unknown or mistyped field, a non-plain object, an
// id that needs range checking): zod then parses it, and produces the same answer or the
// same error as always. They never reject on their own.

const RANGE_BYTES = new Set(['key', 'rangeEnd'])
const RANGE_INTS = new Set(['limit', 'revision', 'minModRevision', 'maxModRevision', 'minCreateRevision', 'maxCreateRevision'])
const RANGE_BOOLS = new Set(['serializable', 'keysOnly', 'countOnly'])
const SORT_ORDERS = new Set(['NONE', 'ASCEND', 'DESCEND'])
const SORT_TARGETS = new Set(['KEY', 'VERSION', 'CREATE', 'MOD', 'VALUE'])
const PUT_BOOLS = new Set(['prevKv', 'ignoreValue', 'ignoreLease'])
/** Ids short enough to be in int64 range whatever their digits. */
const SHORT_ID = /^-?[0-9]{1,15}$/

/** A plain object (`{...}` literal): anything else goes to zod. */
function plain(input: unknown): input is Record<string, unknown> {
  return typeof input === 'object' && input !== null && Object.getPrototypeOf(input) === Object.prototype
}

function fastBytes(v: unknown): Uint8Array | undefined {
  if (v === undefined) return EMPTY
  if (typeof v === 'string') return toBytes(v)
  if (v instanceof Uint8Array) return v
  return undefined
}

function fastRange(input: unknown): RangeRequest | undefined {
  if (!plain(input)) return undefined
  for (const k in input) {
    if (!Object.hasOwn(input, k)) return undefined
    const v = input[k]
    // an unknown field is refused by the strict schema even when undefined: let zod say so
    if (v === undefined) {
      if (RANGE_BYTES.has(k) || RANGE_INTS.has(k) || RANGE_BOOLS.has(k) || k === 'sortOrder' || k === 'sortTarget') continue
      return undefined
    }
    if (RANGE_BYTES.has(k)) {
      if (typeof v !== 'string' && !(v instanceof Uint8Array)) return undefined
    } else if (RANGE_INTS.has(k)) {
      if (!Number.isSafeInteger(v)) return undefined
    } else if (RANGE_BOOLS.has(k)) {
      if (typeof v !== 'boolean') return undefined
    } else if (k === 'sortOrder') {
      if (!SORT_ORDERS.has(v as string)) return undefined
    } else if (k === 'sortTarget') {
      if (!SORT_TARGETS.has(v as string)) return undefined
    } else return undefined
  }
  const i = input as z.input<typeof rangeRequestSchema>
  return {
    key: fastBytes(i.key)!,
    rangeEnd: fastBytes(i.rangeEnd)!,
    limit: i.limit ?? 0,
    revision: i.revision ?? 0,
    sortOrder: i.sortOrder ?? 'NONE',
    sortTarget: i.sortTarget ?? 'KEY',
    serializable: i.serializable ?? false,
    keysOnly: i.keysOnly ?? false,
    countOnly: i.countOnly ?? false,
    minModRevision: i.minModRevision ?? 0,
    maxModRevision: i.maxModRevision ?? 0,
    minCreateRevision: i.minCreateRevision ?? 0,
    maxCreateRevision: i.maxCreateRevision ?? 0,
  }
}

function fastPut(input: unknown): PutRequest | undefined {
  if (!plain(input)) return undefined
  let lease = '0'
  for (const k in input) {
    if (!Object.hasOwn(input, k)) return undefined
    const v = input[k]
    if (v === undefined) {
      if (k === 'key' || k === 'value' || k === 'lease' || PUT_BOOLS.has(k)) continue
      return undefined
    }
    if (k === 'key' || k === 'value') {
      if (typeof v !== 'string' && !(v instanceof Uint8Array)) return undefined
    } else if (PUT_BOOLS.has(k)) {
      if (typeof v !== 'boolean') return undefined
    } else if (k === 'lease') {
      if (typeof v === 'number' && Number.isSafeInteger(v)) lease = String(v)
      else if (typeof v === 'string' && SHORT_ID.test(v)) lease = BigInt(v).toString()
      else return undefined
    } else return undefined
  }
  const i = input as z.input<typeof putRequestSchema>
  return {
    key: fastBytes(i.key)!,
    value: fastBytes(i.value)!,
    lease,
    prevKv: i.prevKv ?? false,
    ignoreValue: i.ignoreValue ?? false,
    ignoreLease: i.ignoreLease ?? false,
  }
}

/** A lease id as the schema's `idField` normalizes it, or `undefined` for zod to judge (long ids need range checks). */
function fastId(v: unknown): string | undefined {
  if (v === undefined) return '0'
  if (typeof v === 'number' && Number.isSafeInteger(v)) return String(v)
  if (typeof v === 'string' && SHORT_ID.test(v)) return BigInt(v).toString()
  return undefined
}

const DELETE_FIELDS = new Set(['key', 'rangeEnd', 'prevKv'])

function fastDeleteRange(input: unknown): DeleteRangeRequest | undefined {
  if (!plain(input)) return undefined
  for (const k in input) {
    if (!Object.hasOwn(input, k) || !DELETE_FIELDS.has(k)) return undefined
    const v = input[k]
    if (v === undefined) continue
    if (k === 'prevKv') {
      if (typeof v !== 'boolean') return undefined
    } else if (typeof v !== 'string' && !(v instanceof Uint8Array)) return undefined
  }
  const i = input as z.input<typeof deleteRangeRequestSchema>
  return { key: fastBytes(i.key)!, rangeEnd: fastBytes(i.rangeEnd)!, prevKv: i.prevKv ?? false }
}

const COMPARE_RESULTS = new Set(['EQUAL', 'GREATER', 'LESS', 'NOT_EQUAL'])
const COMPARE_TARGETS = new Set(['VERSION', 'CREATE', 'MOD', 'VALUE', 'LEASE'])
const COMPARE_BYTES = new Set(['key', 'rangeEnd', 'value'])
const COMPARE_INTS = new Set(['version', 'createRevision', 'modRevision'])

function fastCompare(input: unknown): Compare | undefined {
  if (!plain(input)) return undefined
  let lease = '0'
  for (const k in input) {
    if (!Object.hasOwn(input, k)) return undefined
    const v = input[k]
    if (k === 'result') {
      if (!COMPARE_RESULTS.has(v as string)) return undefined
    } else if (k === 'target') {
      if (!COMPARE_TARGETS.has(v as string)) return undefined
    } else if (COMPARE_BYTES.has(k)) {
      if (v !== undefined && typeof v !== 'string' && !(v instanceof Uint8Array)) return undefined
    } else if (COMPARE_INTS.has(k)) {
      if (v !== undefined && !Number.isSafeInteger(v)) return undefined
    } else if (k === 'lease') {
      const id = fastId(v)
      if (id === undefined) return undefined
      lease = id
    } else return undefined
  }
  const i = input as z.input<typeof compareSchema>
  // result and target are required: a compare without them is zod's to refuse
  if (i.result === undefined || i.target === undefined) return undefined
  return {
    result: i.result,
    target: i.target,
    key: fastBytes(i.key)!,
    rangeEnd: fastBytes(i.rangeEnd)!,
    version: i.version ?? 0,
    createRevision: i.createRevision ?? 0,
    modRevision: i.modRevision ?? 0,
    value: fastBytes(i.value)!,
    lease,
  }
}

/** One op of a txn branch; nested txns go to zod (with its depth check). */
function fastRequestOp(input: unknown): RequestOp | undefined {
  if (!plain(input)) return undefined
  let op: RequestOp | undefined
  for (const k in input) {
    // exactly one own field, one of the three plain kinds
    if (op !== undefined || !Object.hasOwn(input, k)) return undefined
    const v = input[k]
    if (k === 'requestRange') {
      const r = fastRange(v)
      if (r === undefined) return undefined
      op = { requestRange: r }
    } else if (k === 'requestPut') {
      const p = fastPut(v)
      if (p === undefined) return undefined
      op = { requestPut: p }
    } else if (k === 'requestDeleteRange') {
      const d = fastDeleteRange(v)
      if (d === undefined) return undefined
      op = { requestDeleteRange: d }
    } else return undefined
  }
  return op
}

/** The items of a plain array (no holes, no extra properties), each parsed by `item`; `undefined` for zod to judge. */
function fastArray<T>(v: unknown, item: (input: unknown) => T | undefined): T[] | undefined {
  if (v === undefined) return []
  if (!Array.isArray(v) || Object.getPrototypeOf(v) !== Array.prototype) return undefined
  const out: T[] = new Array(v.length)
  for (let j = 0; j < v.length; j++) {
    if (!Object.hasOwn(v, j)) return undefined
    const x = item(v[j])
    if (x === undefined) return undefined
    out[j] = x
  }
  return out
}

function fastTxn(input: unknown): TxnRequest | undefined {
  if (!plain(input)) return undefined
  for (const k in input) {
    if (!Object.hasOwn(input, k) || (k !== 'compare' && k !== 'success' && k !== 'failure')) return undefined
  }
  const i = input as Record<string, unknown>
  const compare = fastArray(i.compare, fastCompare)
  if (compare === undefined) return undefined
  const success = fastArray(i.success, fastRequestOp)
  if (success === undefined) return undefined
  const failure = fastArray(i.failure, fastRequestOp)
  if (failure === undefined) return undefined
  return { compare, success, failure }
}

const FAST_PATHS = new Map<z.ZodType<unknown, unknown>, (input: unknown) => unknown>([
  [rangeRequestSchema, fastRange],
  [putRequestSchema, fastPut],
  [deleteRangeRequestSchema, fastDeleteRange],
  [txnRequestSchema as z.ZodType<unknown, unknown>, fastTxn],
])

/**
 * Parses `input` with `schema`, turning a zod failure into an {@link InvalidArgumentError}
 * that names the offending field. Txns nested deeper than {@link MAX_TXN_DEPTH} are refused
 * before parsing so hostile input cannot exhaust the stack.
 */
export function parseRequest<T>(schema: z.ZodType<T, unknown>, input: unknown, what: string): T {
  const fast = FAST_PATHS.get(schema as z.ZodType<unknown, unknown>)
  if (fast !== undefined) {
    const r = fast(input)
    if (r !== undefined) return r as T
  }
  if (what === 'TxnRequest' && depth(input, 0) > MAX_TXN_DEPTH) {
    throw new InvalidArgumentError(`pocket-etcd: invalid ${what}: txns nested deeper than ${MAX_TXN_DEPTH}`, 'InvalidArgument', 'ErrInvalidRequest')
  }
  const r = schema.safeParse(input)
  if (r.success) return r.data
  const issue = r.error.issues[0]
  const path = issue && issue.path.length > 0 ? issue.path.join('.') : '(request)'
  const msg = issue ? issue.message : 'malformed'
  throw new InvalidArgumentError(`pocket-etcd: invalid ${what}: ${path}: ${msg}`, 'InvalidArgument', 'ErrInvalidRequest')
}
