/**
 * Models for {@link checkLinearizability}: a register per key (put, get, delete,
 * compare-and-set as an etcd txn) and Jepsen's list-append workload over txns (each txn
 * appends unique values to some keys' lists and reads others; a list is stored in one etcd
 * value as comma-separated elements). Both split their histories by key.
 *
 * @module
 */
import type { History } from './history.js'
import type { Model } from './model.js'

// --- register per key ---

/**
 * An operation on a key-value register: `put` and `delete` always succeed; `get` returns the
 * value or `null` when the key is absent; `cas` writes `value` only when the current value is
 * `expected` (`null`: the key is absent), as a txn comparing the value (or version 0) does.
 */
export type RegisterInput =
  | { type: 'put'; key: string; value: string }
  | { type: 'get'; key: string }
  | { type: 'delete'; key: string }
  | { type: 'cas'; key: string; expected: string | null; value: string }

/** A register operation's output: a get's value (`null`: absent), a cas's `succeeded`; put and delete return nothing. */
export type RegisterOutput = { value: string | null } | { succeeded: boolean } | Record<string, never>

/** The registers' state: key → current value (absent keys are missing). */
export type RegisterState = ReadonlyMap<string, string>

function setKey(s: RegisterState, key: string, value: string | null): RegisterState {
  const next = new Map(s)
  if (value === null) next.delete(key)
  else next.set(key, value)
  return next
}

/**
 * A register per key, checked per key (P-compositionality): what a linearizable etcd must
 * look like to clients doing put, get, delete and compare-and-set.
 */
export const registerModel: Model<RegisterState, RegisterInput, RegisterOutput> = {
  name: 'register',
  init: () => new Map(),
  step(state, input, output, unknown) {
    const cur = state.get(input.key) ?? null
    switch (input.type) {
      case 'put':
        return setKey(state, input.key, input.value)
      case 'delete':
        return setKey(state, input.key, null)
      case 'get':
        if (unknown) return state
        return output !== undefined && 'value' in output && output.value === cur ? state : undefined
      case 'cas': {
        const applies = cur === input.expected
        if (!unknown && !(output !== undefined && 'succeeded' in output && output.succeeded === applies)) return undefined
        return applies ? setKey(state, input.key, input.value) : state
      }
    }
  },
  key: (state) => JSON.stringify([...state].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
  keys: (input) => [input.key],
  readOnly: (input) => input.type === 'get',
  unobserved(input, group) {
    // a put or cas whose value no completed get returned and no successful cas expected
    if (input.type !== 'put' && input.type !== 'cas') return false
    const v = input.value
    return !group.some((o) => {
      if (o.outcome !== 'ok' || o.output === undefined) return false
      if (o.op.type === 'get') return 'value' in o.output && o.output.value === v
      return o.op.type === 'cas' && o.op.expected === v && 'succeeded' in o.output && o.output.succeeded
    })
  },
  showInput(input) {
    switch (input.type) {
      case 'put':
        return `put ${input.key}=${input.value}`
      case 'get':
        return `get ${input.key}`
      case 'delete':
        return `delete ${input.key}`
      case 'cas':
        return `cas ${input.key} ${input.expected ?? '(absent)'}->${input.value}`
    }
  },
  showOutput(output) {
    if ('value' in output) return output.value ?? '(absent)'
    if ('succeeded' in output) return output.succeeded ? 'succeeded' : 'failed'
    return ''
  },
  showState: (state) => (state.size === 0 ? '(all absent)' : [...state].map(([k, v]) => `${k}=${v}`).join(' ')),
}

// --- list append ---

/** One step of a list-append txn: append a unique value to a key's list, or read the list. */
export type ListAppendStep = { type: 'append'; key: string; value: string } | { type: 'read'; key: string }

/** A list-append transaction: its steps run atomically, in order. */
export interface ListAppendInput {
  steps: ListAppendStep[]
}

/** The reads of a txn: for each step, the list read (`null` for appends). */
export interface ListAppendOutput {
  reads: (string[] | null)[]
}

/** The lists' state: key → elements in append order. */
export type ListAppendState = ReadonlyMap<string, readonly string[]>

/** Encodes a list as one etcd value: elements joined by commas (elements must not contain one). */
export function encodeList(values: readonly string[]): string {
  return values.join(',')
}

/** Decodes an etcd value written by {@link encodeList}; an absent key (`null`) or `''` is the empty list. */
export function decodeList(value: string | null | undefined): string[] {
  return value === null || value === undefined || value === '' ? [] : value.split(',')
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i])
}

/**
 * Jepsen's list-append workload as a sequential model: each txn's reads must equal the lists
 * as the txn's earlier appends left them. A lost, duplicated or reordered append makes some
 * read disagree with every order of the txns, so the history is not linearizable.
 */
export const listAppendModel: Model<ListAppendState, ListAppendInput, ListAppendOutput> = {
  name: 'list-append',
  init: () => new Map(),
  step(state, input, output, unknown) {
    let next: Map<string, readonly string[]> | undefined
    for (let i = 0; i < input.steps.length; i++) {
      const s = input.steps[i]!
      const cur = (next ?? state).get(s.key) ?? []
      if (s.type === 'append') {
        next ??= new Map(state)
        next.set(s.key, [...cur, s.value])
      } else if (!unknown) {
        const seen = output?.reads[i]
        if (seen === null || seen === undefined || !sameList(seen, cur)) return undefined
      }
    }
    return next ?? state
  },
  key: (state) => JSON.stringify([...state].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
  keys: (input) => [...new Set(input.steps.map((s) => s.key))],
  readOnly: (input) => input.steps.every((s) => s.type === 'read'),
  showInput: (input) => `txn[${input.steps.map((s) => (s.type === 'append' ? `append ${s.key} ${s.value}` : `read ${s.key}`)).join(', ')}]`,
  showOutput: (output) => `[${output.reads.map((r) => (r === null ? '-' : `[${r.join(',')}]`)).join(', ')}]`,
  showState: (state) => [...state].map(([k, v]) => `${k}=[${v.join(',')}]`).join(' ') || '(all empty)',
}

/** One anomaly found by {@link listAppendAnomalies}. */
export interface ListAppendAnomaly {
  kind: 'duplicated' | 'reordered' | 'lost' | 'phantom'
  key: string
  /** The operation ids involved. */
  ops: number[]
  message: string
}

/**
 * Names what went wrong in a list-append history, for reports next to the linearizability
 * verdict: a value read twice in one list (`duplicated`); two reads of a key where neither
 * list is a prefix of the other (`reordered`); a read that started after an append was
 * acknowledged but does not hold it while holding later ones, or holds fewer elements than
 * an earlier completed read (`lost`); a value that no txn appended (`phantom`).
 */
export function listAppendAnomalies(h: History<ListAppendInput, ListAppendOutput>): ListAppendAnomaly[] {
  const out: ListAppendAnomaly[] = []
  const appended = new Map<string, { op: number; complete: number; ok: boolean }>()
  const reads: { op: number; key: string; list: string[]; invoke: number; complete: number }[] = []
  for (const o of h) {
    if (o.outcome === 'fail') continue
    o.op.steps.forEach((s, i) => {
      if (s.type === 'append') appended.set(`${s.key}\u0000${s.value}`, { op: o.id, complete: o.complete, ok: o.outcome === 'ok' })
      else if (o.outcome === 'ok') {
        const list = o.output?.reads[i]
        if (list) reads.push({ op: o.id, key: s.key, list, invoke: o.invoke, complete: o.complete })
      }
    })
  }
  for (const r of reads) {
    const seen = new Set<string>()
    for (const v of r.list) {
      if (seen.has(v)) out.push({ kind: 'duplicated', key: r.key, ops: [r.op], message: `#${r.op} read ${r.key}=[${r.list.join(',')}]: ${v} appears twice` })
      seen.add(v)
      const a = appended.get(`${r.key}\u0000${v}`)
      if (a === undefined) out.push({ kind: 'phantom', key: r.key, ops: [r.op], message: `#${r.op} read ${r.key}=[${r.list.join(',')}]: ${v} was never appended` })
    }
  }
  const byKey = new Map<string, typeof reads>()
  for (const r of reads) {
    let l = byKey.get(r.key)
    if (l === undefined) byKey.set(r.key, (l = []))
    l.push(r)
  }
  for (const [key, rs] of byKey) {
    const sorted = [...rs].sort((a, b) => a.list.length - b.list.length)
    for (let i = 1; i < sorted.length; i++) {
      const a = sorted[i - 1]!
      const b = sorted[i]!
      if (!a.list.every((v, j) => b.list[j] === v)) {
        out.push({ kind: 'reordered', key, ops: [a.op, b.op], message: `#${a.op} read ${key}=[${a.list.join(',')}] is not a prefix of #${b.op}'s [${b.list.join(',')}]` })
      }
    }
    for (const a of rs) {
      for (const b of rs) {
        if (a.complete < b.invoke && b.list.length < a.list.length) {
          out.push({ kind: 'lost', key, ops: [a.op, b.op], message: `#${b.op} read ${key}=[${b.list.join(',')}] after #${a.op} had read [${a.list.join(',')}]` })
        }
      }
    }
    for (const [k, a] of appended) {
      const [ak, value] = k.split('\u0000') as [string, string]
      if (ak !== key || !a.ok) continue
      for (const r of rs) {
        if (a.complete < r.invoke && !r.list.includes(value)) {
          out.push({ kind: 'lost', key, ops: [a.op, r.op], message: `#${r.op} read ${key}=[${r.list.join(',')}] after the append of ${value} (#${a.op}) was acknowledged` })
        }
      }
    }
  }
  return out
}
