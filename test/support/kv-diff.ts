/**
 * Differential testing of two {@link KVApi}s: the same seeded operation sequence runs
 * against both, and every response field is compared (or, for a refused request, etcd's
 * error message and gRPC code).
 *
 * What is compared:
 * - top-level headers: `revision` only (`clusterId`, `memberId`, `raftTerm` differ by nature);
 * - headers of responses nested in a txn: all four fields (etcd 3.4 fills only `revision`
 *   and leaves the rest at 0; the header of a nested *txn* response is entirely empty, so
 *   its revision is 0 too);
 * - every other field, recursively: kvs with all their fields, more, count, deleted,
 *   prevKv/prevKvs, succeeded, responses.
 *
 * Sort ties: etcd sorts range results with Go's `sort.Sort`, which is not stable, so when
 * a range sorts by a target other than KEY, keys with equal sort values may come in any
 * order. Such results are compared group by group: the sequence of sort values must be
 * equal, and each group of equal sort value is compared as a set of kvs (ordered by key
 * before comparing). When `limit` cut the result short, which members of the last group
 * made it in is etcd's arbitrary choice, so that group is compared by size only. With
 * `keysOnly` and target VALUE the values are not returned and the whole result is one
 * group.
 *
 * @module
 */
import type {
  CompactionResponse,
  DeleteRangeResponse,
  KeyValue,
  PutResponse,
  RangeRequest,
  RangeResponse,
  ResponseHeader,
  ResponseOp,
  TxnRequest,
  TxnResponse,
} from '../../src/api/messages.js'
import { compareBytes, equalBytes } from '../../src/api/bytes.js'
import { EtcdError } from '../../src/errors.js'
import type { KVApi } from '../../src/services/kv-api.js'
import { parseRequest, rangeRequestSchema, txnRequestSchema } from '../../src/services/kv-schema.js'
import { KvOpGenerator, type KvOp, type StoreView } from './kv-ops.js'

/** Options of {@link runDifferential}. */
export interface DifferentialOptions {
  /** Seed of the operation sequence. */
  seed: number
  /** Number of generated operations (a final whole-keyspace range is checked on top). */
  ops: number
  /** The implementation under test. */
  ours: KVApi
  /** The reference (real etcd through {@link EtcdGateway}, or anything trusted). */
  reference: KVApi
  /** Names of the two sides in messages (default `ours` / `etcd`). */
  names?: { ours: string; reference: string }
  /** The command that replays this seed, printed on a mismatch. */
  replay?: string
  /** When false, mismatches are counted and the run continues; default true (throw on the first). */
  failFast?: boolean
}

/** Counts of what a differential run did. */
export interface DifferentialResult {
  /** Operations run (including the final whole-keyspace range). */
  ops: number
  /** Operations whose responses differed (0 unless `failFast` is false). */
  mismatches: number
  /** Operations both sides refused with the same error. */
  errors: number
  /** Operations per kind, and how many of them were refused. */
  byKind: Record<KvOp['kind'], { ops: number; errors: number }>
  /** The first mismatch report, when `failFast` is false. */
  firstMismatch?: string
  /** Time spent waiting for each side, in ms. */
  timeMs: { ours: number; reference: number }
}

/** Raised on a mismatch; its message holds the seed, the op, both responses and the replay command. */
export class DifferentialMismatch extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'DifferentialMismatch'
  }
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown }

// ---------------------------------------------------------------- readable rendering

function showBytes(bytes: Uint8Array): string {
  let text: string | undefined
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes)
  } catch {
    text = undefined // not UTF-8: shown in hex below
  }
  if (text !== undefined && !/[\u0000-\u001f\u007f]/.test(text) && !text.startsWith('0x')) return text
  return `0x${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')}`
}

/**
 * JSON with byte strings shown readably: as their text when it is printable UTF-8, else
 * as `0x` and hex (so `b"a\xff"` shows as `"0x61ff"`); errors as `{ error, grpcCode, code }`.
 */
export function render(value: unknown): string {
  return JSON.stringify(
    value,
    (_key, v: unknown) => {
      if (v instanceof Uint8Array) return showBytes(v)
      if (v instanceof EtcdError) return { error: v.message, grpcCode: v.grpcCode, code: v.code }
      if (v instanceof Error) return { thrown: v.name, message: v.message, stack: v.stack }
      return v
    },
    2,
  )
}

// ---------------------------------------------------------------- structural comparison

/** The first difference between two plain values (bytes, arrays, objects, primitives), or undefined. */
function diffValue(path: string, a: unknown, b: unknown): string | undefined {
  if (a instanceof Uint8Array || b instanceof Uint8Array) {
    if (a instanceof Uint8Array && b instanceof Uint8Array && equalBytes(a, b)) return undefined
    return `${path}: ${render(a)} != ${render(b)}`
  }
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b)) return `${path}: ${render(a)} != ${render(b)}`
    if (a.length !== b.length) return `${path}.length: ${a.length} != ${b.length}`
    for (let i = 0; i < a.length; i++) {
      const d = diffValue(`${path}[${i}]`, a[i], b[i])
      if (d) return d
    }
    return undefined
  }
  if (typeof a === 'object' && a !== null && typeof b === 'object' && b !== null) {
    const ra = a as Record<string, unknown>
    const rb = b as Record<string, unknown>
    const keys = new Set([...Object.keys(ra), ...Object.keys(rb)])
    for (const k of [...keys].sort()) {
      const d = diffValue(`${path}.${k}`, ra[k], rb[k])
      if (d) return d
    }
    return undefined
  }
  return Object.is(a, b) ? undefined : `${path}: ${render(a)} != ${render(b)}`
}

function diffHeader(path: string, a: ResponseHeader, b: ResponseHeader, nested: boolean): string | undefined {
  if (!nested) return diffValue(`${path}.revision`, a.revision, b.revision)
  return diffValue(path, a, b)
}

type SortValue = number | Uint8Array | undefined

function sortValue(kv: KeyValue, req: RangeRequest): SortValue {
  switch (req.sortTarget) {
    case 'VERSION':
      return kv.version
    case 'CREATE':
      return kv.createRevision
    case 'MOD':
      return kv.modRevision
    case 'VALUE':
      return req.keysOnly ? undefined : kv.value
    case 'KEY':
      return kv.key
  }
}

function sameSortValue(a: SortValue, b: SortValue): boolean {
  if (a instanceof Uint8Array && b instanceof Uint8Array) return equalBytes(a, b)
  return a === b
}

function groups(kvs: KeyValue[], req: RangeRequest): KeyValue[][] {
  const out: KeyValue[][] = []
  let prev: SortValue
  for (const kv of kvs) {
    const v = sortValue(kv, req)
    const last = out[out.length - 1]
    if (last !== undefined && sameSortValue(prev, v)) last.push(kv)
    else out.push([kv])
    prev = v
  }
  return out
}

function byKey(kvs: KeyValue[]): KeyValue[] {
  return [...kvs].sort((x, y) => compareBytes(x.key, y.key))
}

/** Compares range results, tolerating etcd's unstable order among equal sort values (see module doc). */
function diffKvs(path: string, req: RangeRequest, a: RangeResponse, b: RangeResponse): string | undefined {
  if (req.sortTarget === 'KEY') return diffValue(path, a.kvs, b.kvs)
  if (a.kvs.length !== b.kvs.length) return `${path}.length: ${a.kvs.length} != ${b.kvs.length}`
  const ga = groups(a.kvs, req)
  const gb = groups(b.kvs, req)
  const shape = (gs: KeyValue[][]): string => render(gs.map((g) => ({ sortValue: g[0] && sortValue(g[0], req), size: g.length })))
  if (ga.length !== gb.length) return `${path}: sort groups differ: ${shape(ga)} != ${shape(gb)}`
  const truncated = a.more && b.more
  for (let i = 0; i < ga.length; i++) {
    const x = ga[i] ?? []
    const y = gb[i] ?? []
    const vx = x[0] && sortValue(x[0], req)
    const vy = y[0] && sortValue(y[0], req)
    if (!sameSortValue(vx, vy) || x.length !== y.length) return `${path}: sort groups differ: ${shape(ga)} != ${shape(gb)}`
    if (truncated && i === ga.length - 1) continue // limit picked an arbitrary subset of this tie group
    const d = diffValue(`${path}{tie group ${i}, by key}`, byKey(x), byKey(y))
    if (d) return d
  }
  return undefined
}

function diffRange(path: string, req: RangeRequest, a: RangeResponse, b: RangeResponse, nested: boolean): string | undefined {
  return (
    diffHeader(`${path}.header`, a.header, b.header, nested) ??
    diffValue(`${path}.count`, a.count, b.count) ??
    diffValue(`${path}.more`, a.more, b.more) ??
    diffKvs(`${path}.kvs`, req, a, b) ??
    diffValue(path, { ...a, header: undefined, kvs: undefined }, { ...b, header: undefined, kvs: undefined })
  )
}

function diffPut(path: string, a: PutResponse, b: PutResponse, nested: boolean): string | undefined {
  return (
    diffHeader(`${path}.header`, a.header, b.header, nested) ??
    diffValue(`${path}.prevKv`, a.prevKv, b.prevKv) ??
    diffValue(path, { ...a, header: undefined }, { ...b, header: undefined })
  )
}

function diffDeleteRange(path: string, a: DeleteRangeResponse, b: DeleteRangeResponse, nested: boolean): string | undefined {
  return diffHeader(`${path}.header`, a.header, b.header, nested) ?? diffValue(path, { ...a, header: undefined }, { ...b, header: undefined })
}

function diffResponseOp(path: string, req: TxnRequest['success'][number], a: ResponseOp, b: ResponseOp): string | undefined {
  if ('requestRange' in req) {
    if (!('responseRange' in a) || !('responseRange' in b)) return `${path}: expected responseRange in both: ${render(a)} vs ${render(b)}`
    return diffRange(`${path}.responseRange`, req.requestRange, a.responseRange, b.responseRange, true)
  }
  if ('requestPut' in req) {
    if (!('responsePut' in a) || !('responsePut' in b)) return `${path}: expected responsePut in both: ${render(a)} vs ${render(b)}`
    return diffPut(`${path}.responsePut`, a.responsePut, b.responsePut, true)
  }
  if ('requestDeleteRange' in req) {
    if (!('responseDeleteRange' in a) || !('responseDeleteRange' in b)) return `${path}: expected responseDeleteRange in both: ${render(a)} vs ${render(b)}`
    return diffDeleteRange(`${path}.responseDeleteRange`, a.responseDeleteRange, b.responseDeleteRange, true)
  }
  if (!('responseTxn' in a) || !('responseTxn' in b)) return `${path}: expected responseTxn in both: ${render(a)} vs ${render(b)}`
  return diffTxn(`${path}.responseTxn`, req.requestTxn, a.responseTxn, b.responseTxn, true)
}

function diffTxn(path: string, req: TxnRequest, a: TxnResponse, b: TxnResponse, nested: boolean): string | undefined {
  const head = diffHeader(`${path}.header`, a.header, b.header, nested) ?? diffValue(`${path}.succeeded`, a.succeeded, b.succeeded)
  if (head) return head
  const ops = a.succeeded ? req.success : req.failure
  if (a.responses.length !== b.responses.length || a.responses.length !== ops.length) {
    return `${path}.responses.length: ${a.responses.length} != ${b.responses.length} (branch has ${ops.length} ops)`
  }
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]
    const x = a.responses[i]
    const y = b.responses[i]
    if (op === undefined || x === undefined || y === undefined) return `${path}.responses[${i}]: missing`
    const d = diffResponseOp(`${path}.responses[${i}]`, op, x, y)
    if (d) return d
  }
  return diffValue(path, { ...a, header: undefined, responses: undefined }, { ...b, header: undefined, responses: undefined })
}

/**
 * The first difference between two successful responses to `op`, or undefined when they
 * agree. Exported so other diff suites (watch, lease) can reuse the KV comparison.
 */
export function diffKvResponse(op: KvOp, a: unknown, b: unknown): string | undefined {
  switch (op.kind) {
    case 'range': {
      const req = parseRequest(rangeRequestSchema, op.request, 'RangeRequest')
      return diffRange('response', req, a as RangeResponse, b as RangeResponse, false)
    }
    case 'put':
      return diffPut('response', a as PutResponse, b as PutResponse, false)
    case 'deleteRange':
      return diffDeleteRange('response', a as DeleteRangeResponse, b as DeleteRangeResponse, false)
    case 'txn': {
      const req = parseRequest(txnRequestSchema, op.request, 'TxnRequest')
      return diffTxn('response', req, a as TxnResponse, b as TxnResponse, false)
    }
    case 'compact': {
      const x = a as CompactionResponse
      const y = b as CompactionResponse
      return diffHeader('response.header', x.header, y.header, false)
    }
  }
}

function diffOutcome(op: KvOp, ours: Outcome, ref: Outcome): string | undefined {
  if (ours.ok && ref.ok) return diffKvResponse(op, ours.value, ref.value)
  if (!ours.ok && !ref.ok) {
    const eo = ours.error
    const er = ref.error
    if (!(eo instanceof EtcdError)) return `ours threw a non-EtcdError: ${render(eo)}`
    if (!(er instanceof EtcdError)) return `reference threw a non-EtcdError: ${render(er)}`
    if (eo.message !== er.message) return `error.message: ${JSON.stringify(eo.message)} != ${JSON.stringify(er.message)}`
    if (eo.grpcCode !== er.grpcCode) return `error.grpcCode: ${eo.grpcCode} != ${er.grpcCode}`
    return undefined
  }
  return ours.ok ? 'ours succeeded, the reference failed' : 'ours failed, the reference succeeded'
}

// ---------------------------------------------------------------- the runner

async function call(api: KVApi, op: KvOp): Promise<Outcome> {
  try {
    switch (op.kind) {
      case 'range':
        return { ok: true, value: await api.range(op.request) }
      case 'put':
        return { ok: true, value: await api.put(op.request) }
      case 'deleteRange':
        return { ok: true, value: await api.deleteRange(op.request) }
      case 'txn':
        return { ok: true, value: await api.txn(op.request) }
      case 'compact':
        return { ok: true, value: await api.compact(op.request) }
    }
  } catch (error) {
    return { ok: false, error }
  }
}

function headerRevision(value: unknown): number | undefined {
  if (typeof value !== 'object' || value === null || !('header' in value)) return undefined
  const h = (value as { header: unknown }).header
  if (typeof h !== 'object' || h === null || !('revision' in h)) return undefined
  const r = (h as { revision: unknown }).revision
  return typeof r === 'number' ? r : undefined
}

/** The default command printed to replay a seed. */
export function replayCommand(seed: number, ops: number): string {
  return `DIFF_SEED=${seed} DIFF_OPS=${ops} node scripts/test.mjs test/diff/kv.test.ts`
}

/**
 * Runs `ops` generated operations (seeded by `seed`) against `ours` and `reference`, one
 * at a time, and compares every response; then compares a final range over the whole
 * keyspace. Throws a {@link DifferentialMismatch} on the first difference (unless
 * `failFast` is false), naming the seed, op index, request, both outcomes and the
 * command that replays the run. The reference must not fail with anything but an
 * {@link EtcdError}: a transport failure there is rethrown as is.
 */
export async function runDifferential(options: DifferentialOptions): Promise<DifferentialResult> {
  const { seed, ours, reference } = options
  const names = options.names ?? { ours: 'ours', reference: 'etcd' }
  const failFast = options.failFast ?? true
  const gen = new KvOpGenerator(seed)
  const view: StoreView = { revision: 1, compacted: 0 }
  const result: DifferentialResult = {
    ops: 0,
    mismatches: 0,
    errors: 0,
    byKind: {
      range: { ops: 0, errors: 0 },
      put: { ops: 0, errors: 0 },
      deleteRange: { ops: 0, errors: 0 },
      txn: { ops: 0, errors: 0 },
      compact: { ops: 0, errors: 0 },
    },
    timeMs: { ours: 0, reference: 0 },
  }
  const finalRange: KvOp = { kind: 'range', request: { key: '\0', rangeEnd: '\0' } }
  for (let i = 0; i <= options.ops; i++) {
    const last = i === options.ops
    let op: KvOp
    if (last) {
      op = finalRange
    } else {
      gen.observe(view)
      op = gen.next()
    }
    let t = performance.now()
    const ref = await call(reference, op)
    result.timeMs.reference += performance.now() - t
    if (!ref.ok && !(ref.error instanceof EtcdError)) throw ref.error
    t = performance.now()
    const mine = await call(ours, op)
    result.timeMs.ours += performance.now() - t
    result.ops++
    result.byKind[op.kind].ops++
    if (!ref.ok) {
      result.errors++
      result.byKind[op.kind].errors++
    }
    if (ref.ok) {
      const rev = headerRevision(ref.value)
      if (rev !== undefined) view.revision = Math.max(view.revision, rev)
      if (op.kind === 'compact') view.compacted = op.request.revision ?? 0
    }
    const d = diffOutcome(op, mine, ref)
    if (d === undefined) continue
    result.mismatches++
    const report = [
      `differential mismatch, seed ${seed}, op #${i}${last ? ' (final whole-keyspace range)' : ''} (${op.kind}):`,
      `  first difference (${names.ours} vs ${names.reference}): ${d}`,
      `request: ${render(op.request)}`,
      `${names.ours}: ${render(mine.ok ? mine.value : mine.error)}`,
      `${names.reference}: ${render(ref.ok ? ref.value : ref.error)}`,
      `replay: ${options.replay ?? replayCommand(seed, options.ops)}`,
    ].join('\n')
    if (failFast) throw new DifferentialMismatch(report)
    result.firstMismatch ??= report
  }
  return result
}
