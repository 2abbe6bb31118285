/**
 * A reliability campaign: for each seed, a Store on a manual clock runs concurrent workloads
 * (registers with put/get/CAS, list-append txns, watchers, leases, locks) while a
 * {@link Nemesis} injects faults; then it heals, settles, and runs every checker
 * (linearizability per key, list-append, watch delivery, lease expiry, lock exclusion,
 * replica convergence, liveness). A failing seed replays exactly from its seed.
 *
 * @module
 */
import { Store } from '../store.js'
import { EtcdError, UnavailableError } from '../errors.js'
import { Random } from '../sim/random.js'
import { HistoryRecorder } from './history.js'
import type { Completion, Settled } from './history.js'
import { checkLinearizability } from './linearizability.js'
import { registerModel, listAppendModel, encodeList, decodeList, listAppendAnomalies } from './models.js'
import type { RegisterInput, RegisterOutput, ListAppendInput, ListAppendOutput, ListAppendStep } from './models.js'
import { checkWatches, kvEventOf } from './watch-checker.js'
import type { KvEvent, WatcherRecord } from './watch-checker.js'
import { checkLeases } from './lease-checker.js'
import type { LeaseRecord, KeyObservation } from './lease-checker.js'
import { checkLocks } from './lock-checker.js'
import type { LockHold } from './lock-checker.js'
import { Nemesis, FAULT_KINDS } from './nemesis.js'
import type { FaultKind } from './nemesis.js'
import type { Event as StoredEvent } from '../mvcc/index.js'
import { NemesisLevel } from './nemesis-faults.js'
import { memberHashes } from './index.js'

/** The checkers a campaign runs on each seed. */
export type CheckerName = 'register' | 'list-append' | 'watch' | 'lease' | 'lock' | 'convergence' | 'liveness' | 'errors' | 'nemesis'

/** A checker's verdict: `unknown` when the linearizability search ran out of budget. */
export type CheckerVerdict = 'ok' | 'violation' | 'unknown'

/** Options of one seed's run. */
export interface SeedOptions {
  seed: number
  /** Client operations in total (all workloads together). */
  ops: number
  /** Members (default: 1, 3 or 5 drawn from the seed). */
  members?: 1 | 3 | 5
  /** Fault kinds the nemesis may inject (default all). */
  faults?: readonly FaultKind[]
  /** Time budget of each linearizability search, in ms (default 10 s); past it the verdict is `unknown`. */
  checkTimeoutMs?: number
}

/** What one seed did and found. */
export interface SeedResult {
  seed: number
  members: number
  ops: number
  /** Operations with a known outcome (ok or definitely failed). */
  known: number
  /** Operations whose outcome is unknown (timeouts, unavailability). */
  unknown: number
  faults: Record<FaultKind, number>
  restarts: number
  verdicts: Record<CheckerName, CheckerVerdict>
  /** How much each checker had to check (so a pass is not vacuous). */
  coverage: Coverage
  /** One line per broken guarantee. */
  violations: string[]
  simTimeMs: number
}

/** What the checkers saw: acknowledged operations per workload, watch events, lease observations, lock holds, write faults that fired, and the compactions and defragments done meanwhile. */
export interface Coverage {
  registerOk: number
  listAppendOk: number
  watchEvents: number
  leaseObservations: number
  lockHolds: number
  writeFaultsFired: number
  /** Compactions acknowledged (each behind every watcher's resume point). */
  compactions: number
  /** Defragments acknowledged (each of one member). */
  defragments: number
}

/** The summary of a campaign over many seeds. */
export interface CampaignSummary {
  seeds: number
  ops: number
  unknown: number
  faults: Record<FaultKind, number>
  restarts: number
  coverage: Coverage
  /** Per checker: seeds ok, with a violation, with an unknown verdict. */
  verdicts: Record<CheckerName, { ok: number; violation: number; unknown: number }>
  failures: { seed: number; members: number; violations: string[]; replay: string }[]
  wallMs: number
}

const CHECKERS: readonly CheckerName[] = ['register', 'list-append', 'watch', 'lease', 'lock', 'convergence', 'liveness', 'errors', 'nemesis']
const REGISTER_KEYS = ['r/0', 'r/1', 'r/2', 'r/3']
const LIST_KEYS = ['l/0', 'l/1', 'l/2']
const LOCK_NAME = 'locks/L'
const DEC = new TextDecoder()

/** A stored change as the watch checker compares it. */
function writeOf(e: StoredEvent): KvEvent {
  return { revision: e.kv.modRevision, type: e.type, key: DEC.decode(e.kv.key), ...(e.type === 'PUT' ? { value: DEC.decode(e.kv.value) } : {}) }
}

/** The command that replays one seed exactly. */
export function replayCommand(seed: number, ops: number, members: number, faults: readonly FaultKind[]): string {
  const f = faults.length === FAULT_KINDS.length && faults.every((k, i) => k === FAULT_KINDS[i]) ? '' : ` --faults ${faults.join(',') || 'none'}`
  return `npm run sim -- --seed ${seed} --ops ${ops}${members > 0 ? ` --members ${members}` : ''}${f}`
}

function unavailable(err: unknown): boolean {
  return err instanceof UnavailableError || (err instanceof EtcdError && (err.grpcCode === 'Unavailable' || err.code === 'ErrTimeout' || err.grpcCode === 'DeadlineExceeded' || err.grpcCode === 'Canceled'))
}

function describe(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err)
}

/** Runs one seed: workloads under the nemesis, heal, settle, check. Never throws for a violation: it is reported. */
export async function runSeed(options: SeedOptions): Promise<SeedResult> {
  const { seed } = options
  const rng = new Random(seed).fork('campaign')
  const members = options.members ?? ([1, 3, 3, 5] as const)[rng.fork('members').int(4)]!
  const faults = options.faults ?? FAULT_KINDS
  const backends = new Map<string, NemesisLevel>()
  const store = await Store.open({
    members,
    clock: 'manual',
    seed,
    requestTimeoutMs: 1_000,
    backend: (name) => {
      const db = new NemesisLevel()
      backends.set(name, db)
      return db
    },
    ...(seed % 2 === 1 ? { snapshotCount: 40 } : {}),
    // lease checkpoints run under the faults too (they only ever shorten a lease after a leader change)
    leaseCheckpointIntervalMs: 1_000,
  })
  const sim = store.sim
  // membership changes add and remove members during the run: always the current members
  // after healing, the cluster's own member list (asked of the leader): a member removed while cut
  // off from the leader may never learn it was removed, so it stays in store.memberNames though
  // the cluster dropped it; less any the Store has since marked removed (a peer rejected it)
  let clusterMembers: string[] | undefined
  const current = (): string[] => (clusterMembers === undefined ? store.memberNames : clusterMembers.filter((n) => store.memberNames.includes(n)))
  const nemesis = new Nemesis(store, { faults, random: rng.fork('nemesis'), backends })
  const violations: string[] = []
  const verdicts = Object.fromEntries(CHECKERS.map((c) => [c, 'ok'])) as Record<CheckerName, CheckerVerdict>
  const flag = (checker: CheckerName, message: string): void => {
    verdicts[checker] = 'violation'
    violations.push(`${checker}: ${message}`)
  }
  const sleep = (ms: number) => new Promise<void>((resolve) => sim.clock.setTimer(ms, resolve))
  const now = () => sim.clock.now()
  /** A member to send a request to: a current one, not a learner the nemesis is still catching up (it refuses client requests). */
  const pickName = (r: Random): string => {
    const usable = nemesis.clientMembers()
    return r.pick(usable.length > 0 ? usable : current())
  }
  const pickMember = (r: Random) => store.member(pickName(r))

  const reg = new HistoryRecorder<RegisterInput, RegisterOutput>(sim.clock)
  const lists = new HistoryRecorder<ListAppendInput, ListAppendOutput>(sim.clock)
  const leases: LeaseRecord[] = []
  const observations: KeyObservation[] = []
  const holds: LockHold[] = []
  const leaderChanges: number[] = []
  store.on('leader', () => leaderChanges.push(now()))
  let opsDone = 0
  let unknownOps = 0
  const errors: string[] = []

  /** Classifies a call: unknown for unavailability, a failure the checker reports for anything else. */
  function classify<T, O>(ok: (value: T) => O): (r: Settled<T>) => Completion<O> {
    return (r) => {
      opsDone++
      if (r.ok) return { outcome: 'ok', output: ok(r.value) }
      if (unavailable(r.error)) {
        unknownOps++
        return { outcome: 'info', error: r.error instanceof EtcdError ? r.error.code : 'unavailable' }
      }
      errors.push(describe(r.error))
      return { outcome: 'fail', error: describe(r.error) }
    }
  }

  /** Runs a call that is not part of a linearizability history; returns its value, or undefined on an error. */
  async function call<T>(fn: () => Promise<T>, expected: (err: unknown) => boolean = () => false): Promise<{ ok: true; value: T } | { ok: false; unknown: boolean }> {
    opsDone++
    try {
      return { ok: true, value: await fn() }
    } catch (err) {
      if (unavailable(err)) {
        unknownOps++
        return { ok: false, unknown: true }
      }
      if (!expected(err)) errors.push(describe(err))
      return { ok: false, unknown: false }
    }
  }

  // --- workloads ---
  const clients: { kind: 'register' | 'list' | 'lease' | 'lock'; share: number }[] = [
    { kind: 'register', share: 0.3 }, { kind: 'register', share: 0.2 }, { kind: 'list', share: 0.2 }, { kind: 'lease', share: 0.15 }, { kind: 'lock', share: 0.075 }, { kind: 'lock', share: 0.075 },
  ]
  let clientsDone = 0

  async function registerClient(c: number, r: Random, quota: number): Promise<void> {
    const seen: string[] = []
    for (let i = 0; i < quota; i++) {
      const kv = pickMember(r).kv
      const key = r.pick(REGISTER_KEYS)
      const d = r.int(10)
      const value = `c${c}-${i}`
      if (d < 3) {
        await reg.record(c, { type: 'put', key, value }, () => kv.put({ key, value }), classify(() => ({})))
      } else if (d < 4) {
        await reg.record(c, { type: 'delete', key }, () => kv.deleteRange({ key }), classify(() => ({})))
      } else if (d < 7) {
        await reg.record(c, { type: 'get', key }, () => kv.range({ key }), classify((resp) => {
          const v = resp.kvs[0] ? DEC.decode(resp.kvs[0].value) : null
          if (v !== null) seen.push(v)
          return { value: v }
        }))
      } else {
        const expected = seen.length === 0 || r.chance(0.2) ? null : r.pick(seen)
        await reg.record(c, { type: 'cas', key, expected, value }, () => kv.txn({
          compare: [expected === null ? { key, target: 'VERSION', result: 'EQUAL', version: 0 } : { key, target: 'VALUE', result: 'EQUAL', value: expected }],
          success: [{ requestPut: { key, value } }],
          failure: [],
        }), classify((resp) => ({ succeeded: resp.succeeded })))
      }
      await sleep(r.range(0, 30))
    }
  }

  async function listClient(c: number, r: Random, quota: number): Promise<void> {
    for (let i = 0; i < quota; i++) {
      const kv = pickMember(r).kv
      const steps: ListAppendStep[] = []
      for (let s = r.range(1, 4); s > 0; s--) steps.push(r.chance(0.5) ? { type: 'append', key: r.pick(LIST_KEYS), value: `${c}.${i}.${s}` } : { type: 'read', key: r.pick(LIST_KEYS) })
      const keys = [...new Set(steps.map((s) => s.key))]
      // read the lists, then commit the appends only if none of them changed (an STM txn)
      const pre = await call(() => kv.txn({ compare: [], success: keys.map((key) => ({ requestRange: { key } })), failure: [] }))
      if (!pre.ok) {
        await sleep(r.range(0, 30))
        continue
      }
      const before = new Map<string, { list: string[]; mod: number }>()
      keys.forEach((key, j) => {
        const resp = pre.value.responses[j]
        const kvr = resp !== undefined && 'responseRange' in resp ? resp.responseRange.kvs[0] : undefined
        before.set(key, { list: decodeList(kvr ? DEC.decode(kvr.value) : null), mod: kvr?.modRevision ?? 0 })
      })
      const cur = new Map([...before].map(([k, v]) => [k, [...v.list]]))
      const reads: (string[] | null)[] = steps.map((s) => {
        if (s.type === 'read') return [...cur.get(s.key)!]
        cur.get(s.key)!.push(s.value)
        return null
      })
      const writes = [...new Set(steps.filter((s) => s.type === 'append').map((s) => s.key))]
      await lists.record(c, { steps }, () => kv.txn({
        compare: keys.map((key) => ({ key, target: 'MOD' as const, result: 'EQUAL' as const, modRevision: before.get(key)!.mod })),
        success: writes.map((key) => ({ requestPut: { key, value: encodeList(cur.get(key)!) } })),
        failure: [],
      }), (res) => {
        const out = classify<{ succeeded: boolean }, ListAppendOutput>(() => ({ reads }))(res)
        // a txn whose compare failed did nothing: a known failure, not a bug
        if (res.ok && !res.value.succeeded) return { outcome: 'fail', error: 'compare failed' }
        return out
      })
      await sleep(r.range(0, 30))
    }
  }

  // How long a key may outlive its lease in cluster time, from etcd's lessor design: the leader
  // looks for expired leases every 500 ms, and a revoke proposal that is lost (a partition, a
  // leader transfer) is proposed again only after expiredLeaseRetryInterval, 3 s; then the revoke
  // must commit and apply (up to ~500 ms under faults).
  const leaseAllowedMs = 500 + 3_000 + 500
  async function leaseClient(c: number, r: Random, quota: number): Promise<void> {
    let i = 0
    while (i < quota) {
      const ttl = r.range(1, 4)
      i++
      const g = await call(() => store.lease.grant({ ttl }))
      if (!g.ok) {
        await sleep(r.range(10, 50))
        continue
      }
      const rec: LeaseRecord = { id: g.value.id, ttlMs: ttl * 1000, grantedAt: now(), keepAlives: [] }
      leases.push(rec)
      const key = `lease/${c}/${i}`
      i++
      await call(() => pickMember(r).kv.put({ key, value: 'v', lease: rec.id }), (e) => e instanceof EtcdError && e.code === 'ErrLeaseNotFound')
      for (let j = r.range(1, 5); j > 0 && i < quota; j--) {
        i++
        const d = r.int(10)
        if (d < 3) {
          const k = await call(() => store.lease.keepAliveOnce({ id: rec.id }), (e) => e instanceof EtcdError && e.code === 'ErrLeaseNotFound')
          if (k.ok && k.value.ttl > 0) rec.keepAlives!.push(now())
        } else if (d < 9) {
          const invoked = now()
          const rr = await call(() => pickMember(r).kv.range({ key: 'lease/', rangeEnd: 'lease0' }))
          if (rr.ok) for (const kv of rr.value.kvs) if (kv.lease !== '0') observations.push({ key: DEC.decode(kv.key), lease: kv.lease, time: invoked, completed: now() })
        } else {
          const v = await call(() => store.lease.revoke({ id: rec.id }), (e) => e instanceof EtcdError && e.code === 'ErrLeaseNotFound')
          if (v.ok) rec.revokedAt = now()
          break
        }
        await sleep(r.range(50, 600))
      }
    }
  }

  async function lockClient(c: number, r: Random, quota: number): Promise<void> {
    for (let i = 0; i < quota; i += 3) {
      const g = await call(() => store.lease.grant({ ttl: 3 }))
      if (!g.ok) {
        await sleep(r.range(10, 50))
        continue
      }
      const refreshedAt = now()
      const lease = g.value.id
      const rec: LeaseRecord = { id: lease, ttlMs: 3000, grantedAt: refreshedAt, keepAlives: [] }
      leases.push(rec)
      const abort = new AbortController()
      const timer = sim.clock.setTimer(2_000, () => abort.abort())
      const l = await call(() => store.lock.lock({ name: LOCK_NAME, lease }, { signal: abort.signal }), (e) => e instanceof EtcdError || (e instanceof Error && e.name === 'AbortError'))
      timer.cancel()
      if (l.ok) {
        const acquired = now()
        await sleep(r.range(0, 100))
        const releaseAt = now()
        // the hold ends at the release, or when the lease may have expired, whichever is first
        // (a member clock running fast expires it early)
        const earliestExpiry = refreshedAt + 3000 / nemesis.maxClockRate
        const u = await call(() => store.lock.unlock({ key: l.value.key }))
        // the client stops acting as the holder when it asks to unlock, whatever becomes of the unlock
        void u
        holds.push({ client: c, lock: LOCK_NAME, acquired, released: Math.min(releaseAt, earliestExpiry) })
      }
      const v = await call(() => store.lease.revoke({ id: lease }), (e) => e instanceof EtcdError && e.code === 'ErrLeaseNotFound')
      if (v.ok) rec.revokedAt = now()
      await sleep(r.range(0, 50))
    }
  }

  // --- watchers ---
  const watchers: (WatcherRecord & { live: boolean; last: number; on: string })[] = []
  let stopWatching = false
  async function watcher(w: number, r: Random): Promise<void> {
    let from = 0
    while (!stopWatching) {
      let stream
      const on = pickName(r)
      try {
        stream = await store.member(on).watch.watch({ key: '\0', rangeEnd: '\0', ...(from > 0 ? { startRevision: from } : {}) })
      } catch (err) {
        if (!unavailable(err)) errors.push(`watch: ${describe(err)}`)
        await sleep(50)
        continue
      }
      const first = await stream.next()
      if (first.done || first.value.canceled) continue
      const start = from > 0 ? from : first.value.header.revision + 1
      const rec = { id: `w${w}.${watchers.length}`, key: '\0', rangeEnd: '\0', startRevision: start, responses: [] as { events: KvEvent[] }[], live: true, last: start - 1, on }
      watchers.push(rec)
      for (;;) {
        const n = await stream.next()
        if (n.done || n.value.canceled) break
        if (n.value.events.length > 0) {
          rec.responses.push({ events: n.value.events.map(kvEventOf) })
          rec.last = n.value.events[n.value.events.length - 1]!.kv.modRevision
        }
        if (stopWatching) {
          await stream.cancel()
          return
        }
      }
      rec.live = false
      from = rec.last + 1
    }
  }

  // --- maintenance: compactions and defragments under the faults ---
  let compactions = 0
  let defragments = 0
  /** The write history up to `savedTo`, read from the leader before a compaction could drop it (the watch checker needs all of it). */
  const savedHistory: KvEvent[] = []
  let savedTo = 0
  /**
   * The highest revision a compaction may reach without cutting into a watcher's history: a
   * watcher resumes at its last seen revision + 1, and a watch from below the compaction
   * revision is refused. A watcher with no stream yet starts at the current revision.
   */
  const watcherFloor = (): number => {
    let floor = Number.MAX_SAFE_INTEGER
    for (const w of [0, 1]) {
      const own = watchers.filter((x) => x.id.startsWith(`w${w}.`))
      const last = own[own.length - 1]
      if (last !== undefined) floor = Math.min(floor, last.last + 1)
    }
    return floor
  }
  let finishClients: () => void = () => undefined
  /** Settles when every client is done: the maintenance client stops then, without waiting for the clock. */
  const clientsFinished = new Promise<void>((resolve) => (finishClients = resolve))
  async function maintenanceClient(r: Random): Promise<void> {
    let compactedTo = 0
    while (clientsDone < clients.length) {
      await Promise.race([sleep(r.range(200, 1_000)), clientsFinished])
      if (clientsDone >= clients.length) return
      if (r.chance(0.6)) {
        const head = await call(() => pickMember(r).kv.range({ key: '\0', countOnly: true, serializable: true }))
        if (!head.ok) continue
        const floor = Math.min(watcherFloor(), head.value.header.revision)
        if (floor <= compactedTo + 1) continue
        const revision = compactedTo + 1 + r.int(floor - compactedTo - 1)
        if (revision > savedTo) {
          const leader = sim.leader()
          const lm = leader === undefined ? undefined : store.runningMember(leader)
          if (lm === undefined || lm.store.rev < revision) continue
          const events = await lm.store.eventsBetween(new Uint8Array(0), new Uint8Array(0), savedTo + 1, revision).catch(() => undefined)
          if (events === undefined) continue
          for (const e of events) savedHistory.push(writeOf(e))
          savedTo = revision
        }
        // another compaction may have passed it meanwhile (a retried one), or the serving member lag behind
        const c = await call(() => store.kv.compact({ revision, physical: r.chance(0.5) }), (e) => e instanceof EtcdError && (e.code === 'ErrCompacted' || e.code === 'ErrFutureRev'))
        if (c.ok) {
          compactedTo = revision
          compactions++
        }
      } else {
        const d = await call(() => pickMember(r).maintenance.defragment())
        if (d.ok) defragments++
      }
    }
  }

  const started = now()
  const watcherRuns = [0, 1].map((w) => watcher(w, rng.fork(`watcher${w}`)))
  // not awaited with the clients: a call of it may still wait on the clock when they are done
  void maintenanceClient(rng.fork('maintenance')).catch((err: unknown) => errors.push(`maintenance threw: ${describe(err)}`))
  const runs = clients.map((cl, c) => {
    const quota = Math.max(1, Math.round(options.ops * cl.share))
    const r = rng.fork(`client${c}`)
    const p = cl.kind === 'register' ? registerClient(c, r, quota) : cl.kind === 'list' ? listClient(c, r, quota) : cl.kind === 'lease' ? leaseClient(c, r, quota) : lockClient(c, r, quota)
    return p
      .catch((err: unknown) => errors.push(`client ${c} threw: ${describe(err)}`))
      .finally(() => {
        if (++clientsDone === clients.length) finishClients()
      })
  })

  try {
    const nr = rng.fork('nemesis-timing')
    let nextFault = now() + nr.range(100, 600)
    while (clientsDone < clients.length && now() - started < 600_000) {
      await sim.advance(10)
      if (now() >= nextFault && clientsDone < clients.length) {
        if (nr.chance(0.2)) await nemesis.heal()
        else await nemesis.step()
        nextFault = now() + nr.range(100, 800)
      }
    }
    // a membership change still running finishes first (it needs the clock to move), then everything heals
    nemesis.stopReconfiguring()
    await nemesis.heal()
    if (!(await sim.until(() => !nemesis.reconfiguring, 60_000))) flag('liveness', 'a membership change did not finish within 60 s of healing')
    await nemesis.heal()
    let listed: string[] | undefined
    // ask once a leader is known: the Store then sends the list to it, not to whichever member answers
    await sim.until(() => sim.leader() !== undefined, 10_000)
    void store.cluster.memberList().then((l) => (listed = l.members.map((m) => m.name)), () => undefined)
    await sim.until(() => listed !== undefined, 10_000)
    if (listed !== undefined) clusterMembers = store.memberNames.filter((n) => listed!.includes(n))
    const finished = await sim.until(() => clientsDone === clients.length, 120_000)
    if (!finished) flag('liveness', `${clients.length - clientsDone} clients still waiting 120 s after healing`)
    await Promise.race([Promise.all(runs), sleep(1)])

    // settle: every member applied what the leader committed
    const settled = await sim.until(() => {
      const leader = sim.leader()
      if (leader === undefined) return false
      const lm = store.runningMember(leader)!
      const commit = lm.raftStatus().hardState.commit
      return current().every((n) => {
        const m = store.runningMember(n)
        return m !== undefined && m.applied >= commit && m.leaderId === lm.id
      })
    }, 60_000)
    if (!settled) flag('liveness', 'members did not catch up with the leader within 60 s of healing')
    // a transient Unavailable (a leadership transfer the nemesis asked for still finishing, a
    // leader change) is retried, as etcd's clients do; the write must succeed within 10 s
    let finalError = ''
    const finalDeadline = now() + 10_000
    const finalWrite = async (): Promise<boolean> => {
      for (;;) {
        try {
          await store.kv.put({ key: 'final', value: 'final' })
          return true
        } catch (err) {
          finalError = describe(err)
          if (!unavailable(err) || now() >= finalDeadline) return false
          await sleep(100)
        }
      }
    }
    let finalOk: boolean | undefined
    void finalWrite().then((v) => (finalOk = v))
    await sim.until(() => finalOk !== undefined, 10_000)
    if (finalOk !== true) flag('liveness', `a write after healing did not succeed (${finalOk === undefined ? 'still pending' : `failed: ${finalError}`})`)
    await sim.until(() => current().every((n) => (store.runningMember(n)?.applied ?? -1) >= (store.runningMember(sim.leader() ?? current()[0]!)?.applied ?? 0)), 10_000)
    await sim.settle()

    // watchers catch up with the final revision, then stop
    const finalRev = store.runningMember(sim.leader() ?? current()[0]!)?.store.rev ?? 0
    // a watcher on a member the cluster removed sees no more events (etcd closes its streams when it stops): not expected to be complete
    const expectComplete = (w: { live: boolean; on: string }) => w.live && current().includes(w.on)
    await sim.until(() => watchers.filter(expectComplete).every((w) => w.last >= finalRev), 10_000)
    for (const w of watchers) if (expectComplete(w)) w.complete = finalRev
    stopWatching = true

    // --- checks ---
    nemesis.checkStopped()
    for (const v of nemesis.violations) flag('nemesis', v)
    if (errors.length > 0) flag('errors', `${errors.length} unexpected errors, first: ${errors.slice(0, 3).join(' | ')}`)

    // only current members count: a removed member stopped where it was removed
    const hs = (await memberHashes(store)).filter((h) => current().includes(h.member))
    if (hs.length !== current().length || !hs.every((h) => h.revision === hs[0]!.revision && h.hash === hs[0]!.hash)) {
      flag('convergence', `members differ: ${hs.map((h) => `${h.member}@${h.revision}=${h.hash}`).join(', ')}`)
    }

    const checkTimeoutMs = options.checkTimeoutMs ?? 10_000
    const regResult = checkLinearizability(reg.history(), registerModel, { timeoutMs: checkTimeoutMs })
    if (regResult.verdict === 'illegal') flag('register', regResult.report)
    else if (regResult.verdict === 'unknown') verdicts.register = 'unknown'
    const listHistory = lists.history()
    const listResult = checkLinearizability(listHistory, listAppendModel, { timeoutMs: checkTimeoutMs })
    if (listResult.verdict === 'illegal') flag('list-append', `${listResult.report}\n${listAppendAnomalies(listHistory).map((a) => a.message).join('\n')}`)
    else if (listResult.verdict === 'unknown') verdicts['list-append'] = 'unknown'

    const m = store.runningMember(current()[0]!)
    if (m !== undefined) {
      // the history compaction dropped was kept before each compaction
      const events = await m.store.eventsBetween(new Uint8Array(0), new Uint8Array(0), savedTo + 1, m.store.rev)
      const writes: KvEvent[] = [...savedHistory, ...events.map(writeOf)]
      const wv = checkWatches(writes, watchers)
      if (wv.length > 0) flag('watch', `${wv.length} violations, first: ${wv.slice(0, 3).map((v) => v.message).join(' | ')}`)
    }

    // a leader change refreshes every lease (etcd's lessor Promote), so it counts as a keep-alive
    // Lease time runs on the leader's clock: while a member's clock is stopped (the nemesis'
    // `clock` fault) a lease it leads cannot expire. The end of each stop therefore counts as a
    // keep-alive too (its frozen remaining time is at most a full TTL), and a key observed while
    // some clock is stopped cannot be judged.
    const stops = stoppedIntervals(nemesis.clockEvents, now())
    const resumes = stops.filter((i) => Number.isFinite(i.end)).map((i) => i.end)
    const withPromotions = leases.map((l) => ({ ...l, keepAlives: [...(l.keepAlives ?? []), ...[...leaderChanges, ...resumes].filter((t) => t >= l.grantedAt)] }))
    const judgeable = observations.filter((o) => !stops.some((i) => o.time >= i.start && o.time <= i.end))
    const lv = checkLeases(withPromotions, judgeable, leaseAllowedMs)
    if (lv.length > 0) flag('lease', `${lv.length} violations, first: ${lv.slice(0, 3).map((v) => v.message).join(' | ')}`)
    const kv = checkLocks(holds)
    if (kv.length > 0) flag('lock', `${kv.length} violations, first: ${kv.slice(0, 3).map((v) => v.message).join(' | ')}`)

    return {
      seed,
      members,
      ops: opsDone,
      known: opsDone - unknownOps,
      unknown: unknownOps,
      faults: { ...nemesis.counts },
      restarts: nemesis.restarts,
      verdicts,
      coverage: {
        registerOk: reg.history().filter((o) => o.outcome === 'ok').length,
        listAppendOk: listHistory.filter((o) => o.outcome === 'ok').length,
        watchEvents: watchers.reduce((n, w) => n + w.responses.reduce((k, r) => k + r.events.length, 0), 0),
        leaseObservations: observations.length,
        lockHolds: holds.length,
        writeFaultsFired: [...backends.values()].reduce((n, b) => n + b.fired.fail + b.fired.torn, 0),
        compactions,
        defragments,
      },
      violations,
      simTimeMs: now() - started,
    }
  } finally {
    stopWatching = true
    await store.close()
    await Promise.race([Promise.all(watcherRuns), new Promise((resolve) => setTimeoutShim(resolve))])
  }
}

/** One turn of the host's event loop, without importing node: modules. */
function setTimeoutShim(fn: (v: unknown) => void): void {
  globalThis.setTimeout(() => fn(undefined), 0)
}

/** Runs seeds one after another and sums their results; `onSeed` sees each as it finishes. */
export async function runCampaign(seeds: readonly number[], options: Omit<SeedOptions, 'seed'>, onSeed?: (r: SeedResult) => void): Promise<CampaignSummary> {
  const t0 = globalThis.performance.now()
  const summary: CampaignSummary = {
    seeds: 0,
    ops: 0,
    unknown: 0,
    faults: Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>,
    restarts: 0,
    coverage: { registerOk: 0, listAppendOk: 0, watchEvents: 0, leaseObservations: 0, lockHolds: 0, writeFaultsFired: 0, compactions: 0, defragments: 0 },
    verdicts: Object.fromEntries(CHECKERS.map((c) => [c, { ok: 0, violation: 0, unknown: 0 }])) as CampaignSummary['verdicts'],
    failures: [],
    wallMs: 0,
  }
  for (const seed of seeds) {
    let r: SeedResult
    try {
      r = await runSeed({ ...options, seed })
    } catch (err) {
      // the run itself broke (a member failed to restart, an invariant thrown to the caller): a violation of this seed
      const members = options.members ?? 0
      summary.seeds++
      summary.failures.push({ seed, members, violations: [`run: threw ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`], replay: replayCommand(seed, options.ops, members, options.faults ?? FAULT_KINDS) })
      continue
    }
    summary.seeds++
    summary.ops += r.ops
    summary.unknown += r.unknown
    summary.restarts += r.restarts
    for (const k of FAULT_KINDS) summary.faults[k] += r.faults[k]
    for (const k of Object.keys(summary.coverage) as (keyof Coverage)[]) summary.coverage[k] += r.coverage[k]
    for (const c of CHECKERS) summary.verdicts[c][r.verdicts[c]]++
    if (r.violations.length > 0) summary.failures.push({ seed, members: r.members, violations: r.violations, replay: replayCommand(seed, options.ops, r.members, options.faults ?? FAULT_KINDS) })
    onSeed?.(r)
  }
  summary.wallMs = globalThis.performance.now() - t0
  return summary
}

/** A human-readable summary: seeds, operations, faults by kind, verdicts, and each failure with its replay command. */
export function formatSummary(s: CampaignSummary): string {
  const lines = [
    `seeds: ${s.seeds}, operations: ${s.ops} (${s.unknown} with unknown outcome), wall time ${(s.wallMs / 1000).toFixed(1)} s`,
    `faults injected: ${FAULT_KINDS.filter((k) => s.faults[k] > 0).map((k) => `${k} ${s.faults[k]}`).join(', ') || 'none'}; restarts ${s.restarts}`,
    `checked: ${s.coverage.registerOk} acknowledged register ops, ${s.coverage.listAppendOk} list-append txns, ${s.coverage.watchEvents} watch events, ` +
      `${s.coverage.leaseObservations} leased-key reads, ${s.coverage.lockHolds} lock holds, ${s.coverage.writeFaultsFired} write faults fired, ` +
      `${s.coverage.compactions} compactions, ${s.coverage.defragments} defragments`,
    'checkers (seeds ok / violation / unknown):',
    ...CHECKERS.map((c) => `  ${c.padEnd(12)} ${s.verdicts[c].ok} / ${s.verdicts[c].violation} / ${s.verdicts[c].unknown}`),
    `violations: ${s.failures.length === 0 ? 0 : s.failures.reduce((n, f) => n + f.violations.length, 0)}`,
  ]
  for (const f of s.failures) {
    lines.push(`FAILED seed ${f.seed} (${f.members} members): replay with: ${f.replay}`)
    for (const v of f.violations) lines.push(`  ${v.split('\n').slice(0, 12).join('\n  ')}`)
  }
  return lines.join('\n')
}

/** The intervals during which a member's clock was stopped, from the nemesis' clock events (one still open ends at `until`). */
function stoppedIntervals(events: readonly { at: number; member: string; rate: number }[], until: number): { start: number; end: number }[] {
  const open = new Map<string, number>()
  const out: { start: number; end: number }[] = []
  for (const e of events) {
    const started = open.get(e.member)
    if (e.rate === 0) {
      if (started === undefined) open.set(e.member, e.at)
    } else if (started !== undefined) {
      out.push({ start: started, end: e.at })
      open.delete(e.member)
    }
  }
  // still stopped at the end of the run: nothing it leads could expire since
  for (const start of open.values()) out.push({ start, end: Math.max(until, start) })
  return out
}
