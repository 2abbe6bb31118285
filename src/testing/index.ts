/**
 * Helpers for tests that use pocket-etcd as a fixture (`import ... from 'pocket-etcd/testing'`):
 * open and always close a Store, check that every member holds the same data, record client
 * histories and check them: linearizability (register and list-append models), watch
 * delivery, lease expiry and lock exclusion.
 *
 * @module
 */
import { Store } from '../store.js'
import type { StoreOptions } from '../store.js'

export { HistoryRecorder, history, formatOperation, formatTime } from './history.js'
export type { Operation, OperationSpec, History, OutcomeType, Completion, Settled } from './history.js'
export type { Model } from './model.js'
export { checkLinearizability, assertLinearizable, formatHistory } from './linearizability.js'
export type { LinearizabilityOptions, LinearizabilityResult, LinearizabilityFailure, Verdict } from './linearizability.js'
export { registerModel, listAppendModel, encodeList, decodeList, listAppendAnomalies } from './models.js'
export { checkWatches, assertWatchesValid, kvEventOf, inRange } from './watch-checker.js'
export type { KvEvent, WatcherRecord, WatchViolation } from './watch-checker.js'
export { checkLeases, assertLeasesRespected, leaseEnd } from './lease-checker.js'
export type { LeaseRecord, KeyObservation, LeaseViolation } from './lease-checker.js'
export { checkLocks, assertMutualExclusion } from './lock-checker.js'
export type { LockHold, LockViolation } from './lock-checker.js'
export { Nemesis, FAULT_KINDS } from './nemesis.js'
export type { FaultKind, NemesisOptions } from './nemesis.js'
export { NemesisLevel, SkewedClock, InjectedWriteError } from './nemesis-faults.js'
export type { WriteFault } from './nemesis-faults.js'
export { runSeed, runCampaign, formatSummary, replayCommand } from './campaign.js'
export type { SeedOptions, SeedResult, CampaignSummary, Coverage, CheckerName, CheckerVerdict } from './campaign.js'
export type {
  RegisterInput, RegisterOutput, RegisterState, ListAppendInput, ListAppendOutput, ListAppendState, ListAppendStep, ListAppendAnomaly,
} from './models.js'

/** The hash of one member's key-value state (etcd's HashKV), at its current revision. */
export interface MemberHash {
  /** The member's name (`m1`, ...). */
  member: string
  /** The member's current revision. */
  revision: number
  /** The last compacted revision (0 when none). */
  compactRevision: number
  /** A hash over every key revision kept (equal on members with equal history). */
  hash: number
}

/** Hashes every running member's KV state, for comparing replicas. */
export async function memberHashes(store: Store): Promise<MemberHash[]> {
  const out: MemberHash[] = []
  for (const name of store.memberNames) {
    const m = store.runningMember(name)
    if (m === undefined) continue
    const h = await m.store.hashKV()
    out.push({ member: name, revision: h.revision, compactRevision: h.compactRevision, hash: h.hash })
  }
  return out
}

/**
 * Lets the cluster settle, then checks that every running member reached the same revision
 * with the same KV hash; throws an `Error` listing the members' hashes when they differ.
 * With a manual clock it advances time (up to `timeoutMs` of cluster time) while waiting.
 */
export async function assertConverged(store: Store, timeoutMs = 10_000): Promise<MemberHash[]> {
  let hashes: MemberHash[] = []
  const same = (hs: MemberHash[]) => hs.length > 0 && hs.every((h) => h.revision === hs[0]!.revision && h.hash === hs[0]!.hash)
  const start = store.sim.clock.now()
  for (;;) {
    await store.sim.settle()
    hashes = await memberHashes(store)
    if (same(hashes)) return hashes
    if (store.sim.clock.now() - start >= timeoutMs) break
    await store.sim.advance(Math.max(1, Math.min(50, timeoutMs / 100)))
  }
  throw new Error(`members did not converge: ${hashes.map((h) => `${h.member}@${h.revision}=${h.hash}`).join(', ')}`)
}

/** Opens a Store, runs `fn` with it, and closes it whatever happens. */
export async function withStore<T>(options: StoreOptions, fn: (store: Store) => Promise<T>): Promise<T> {
  const store = await Store.open(options)
  try {
    return await fn(store)
  } finally {
    await store.close()
  }
}
