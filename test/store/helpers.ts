/**
 * Helpers shared by the Store tests: opening a manual-clock cluster, reading what every
 * member holds, and comparing members.
 */
import assert from 'node:assert/strict'
import { Store } from '../../src/store.js'
import type { StoreOptions } from '../../src/store.js'
import { EtcdError } from '../../src/errors.js'
import type { KeyValue, PutResponse } from '../../src/api/messages.js'

/** Opens a manual-clock cluster (the default for these tests: deterministic and fast). */
export function openManual(options: StoreOptions = {}): Promise<Store> {
  return Store.open({ clock: 'manual', seed: 1, ...options })
}

/** UTF-8 text of bytes. */
export function text(b: Uint8Array): string {
  return new TextDecoder().decode(b)
}

/** A KeyValue reduced to what tests compare: text key and value, revisions, version. */
export function kvShape(kv: KeyValue): { key: string; value: string; createRevision: number; modRevision: number; version: number } {
  return { key: text(kv.key), value: text(kv.value), createRevision: kv.createRevision, modRevision: kv.modRevision, version: kv.version }
}

/** Every key on member `name`, served from its own state (a serializable range over everything). */
export async function dumpMember(store: Store, name: string): Promise<{ revision: number; kvs: ReturnType<typeof kvShape>[] }> {
  const r = await store.member(name).kv.range({ key: '\0', rangeEnd: '\0', serializable: true })
  return { revision: r.header.revision, kvs: r.kvs.map(kvShape) }
}

/** hashKV of every running member, by name. */
export async function hashes(store: Store): Promise<Record<string, { hash: number; revision: number }>> {
  const out: Record<string, { hash: number; revision: number }> = {}
  for (const name of store.memberNames) {
    const m = store.runningMember(name)
    if (m === undefined) continue
    const h = await m.store.hashKV()
    out[name] = { hash: h.hash, revision: h.revision }
  }
  return out
}

/**
 * Waits (advancing cluster time) until every running member has applied as far as the
 * leader has committed, then asserts that all of them hold the same data.
 */
export async function assertConverged(store: Store, context = ''): Promise<void> {
  const caughtUp = await store.sim.until(() => {
    const leader = store.sim.leader()
    if (leader === undefined) return false
    const lm = store.runningMember(leader)!
    const commit = lm.raftStatus().hardState.commit
    return store.memberNames.every((n) => {
      const m = store.runningMember(n)
      return m === undefined || (m.applied >= commit && m.leaderId === lm.id)
    })
  }, 60_000, 10)
  assert.ok(caughtUp, `members did not catch up ${context}`)
  await store.sim.settle()
  const hs = await hashes(store)
  const names = Object.keys(hs)
  const first = names[0]!
  for (const n of names) assert.deepEqual(hs[n], hs[first], `hashKV of ${n} differs from ${first} ${context}: ${JSON.stringify(hs)}`)
  const d0 = await dumpMember(store, first)
  for (const n of names) assert.deepEqual(await dumpMember(store, n), d0, `range over all keys on ${n} differs from ${first} ${context}`)
}

/** Asserts `p` rejects with an EtcdError whose code is one of `codes`; returns the error. */
export async function rejectsWith(p: Promise<unknown>, codes: string[], what = ''): Promise<EtcdError> {
  try {
    await p
  } catch (err) {
    assert.ok(err instanceof EtcdError, `${what}: expected an EtcdError, got ${String(err)}`)
    assert.ok(codes.includes(err.code), `${what}: expected one of ${codes.join(', ')}, got ${err.code} (${err.message})`)
    return err
  }
  assert.fail(`${what}: expected a rejection with ${codes.join(' or ')}, but it succeeded`)
}

/**
 * Runs `p` while advancing the manual clock until it settles (or `maxMs` of cluster time pass);
 * returns its outcome without throwing.
 */
export async function drive<T>(store: Store, p: Promise<T>, maxMs = 60_000, stepMs = 10): Promise<{ ok: true; value: T } | { ok: false; error: unknown } | { ok: 'pending' }> {
  let outcome: { ok: true; value: T } | { ok: false; error: unknown } | undefined
  p.then(
    (value) => (outcome = { ok: true, value }),
    (error: unknown) => (outcome = { ok: false, error }),
  )
  await store.sim.until(() => outcome !== undefined, maxMs, stepMs)
  return outcome ?? { ok: 'pending' }
}

/**
 * Puts through the root endpoint as an etcd client would: on an Unavailable error (no
 * leader, timeout, leader changed) it tries again, advancing cluster time, up to `tries`.
 * Only for unique values: a timed-out put may have been applied, so a retry may apply twice.
 */
export async function putWithRetry(store: Store, key: string, value: string, tries = 10): Promise<PutResponse> {
  let last: unknown
  for (let i = 0; i < tries; i++) {
    const r = await drive(store, store.kv.put({ key, value }))
    if (r.ok === true) return r.value
    if (r.ok === false) {
      last = r.error
      if (!(r.error instanceof EtcdError) || r.error.grpcCode !== 'Unavailable') throw r.error
    }
  }
  throw new Error(`put ${key} still failing after ${tries} tries: ${String(last)}`)
}
