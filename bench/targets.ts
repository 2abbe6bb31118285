/**
 * What the benchmarks run against: pocket-etcd `Store`s (the subjects) and the baselines
 * they are compared with in the same run — raw memory-level, a plain `Map` with a sorted
 * key array (the in-memory floor), and a real etcd 3.4 with 1 and 3 members, started here
 * on 127.0.0.1 with its data on tmpfs and driven over gRPC by the `etcd3` client, the way
 * Node users reach etcd. Every target exposes the same five primitive operations over pre-encoded keys.
 *
 * @module
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { existsSync, statSync } from 'node:fs'
import { MemoryLevel } from 'memory-level'
import type { Store } from '../src/store.js'
import type { KVApi } from '../src/services/kv-api.js'
import { Etcd3 } from 'etcd3'
import { findEtcdBinary, startEtcdCluster, ETCD_MISSING } from '../test/support/etcd-process.js'

/** Bytes as the benchmarks pass them: views over plain (not shared) ArrayBuffers, as etcd's API types want. */
export type Bytes = Uint8Array<ArrayBuffer>

/** A CAS token: what the next compare-and-swap must see (a mod revision, or the current value for raw level). */
export type CasToken = number | Bytes

/** Identifiers of every target, in the order they are run and printed. */
export const TARGET_IDS = ['mem-1', 'mem-3', 'mem-5', 'classic-1', 'classic-3', 'classic-5', 'level', 'map', 'etcd', 'etcd-3'] as const
/** One target's identifier (`--targets`). */
export type TargetId = (typeof TARGET_IDS)[number]
/** Targets that are baselines: ratios are printed against each of these. */
export const BASELINE_IDS: readonly TargetId[] = ['level', 'map', 'etcd', 'etcd-3']
/** Real etcd targets: `etcd` (1 member) and `etcd-3` (3 members). */
export const ETCD_IDS: readonly TargetId[] = ['etcd', 'etcd-3']

/** A system under measurement, with the operations the workloads need. */
export interface Target {
  /** Its identifier (`--targets`). */
  readonly id: TargetId
  /** Puts one key. */
  put(key: Bytes, value: Bytes): Promise<void>
  /** Gets one key; resolves whether it was found. `serializable` reads the local member without a quorum round. */
  get(key: Bytes, serializable: boolean): Promise<boolean>
  /** Counts the keys in `[start, end)`, at most `limit`, reading their values too. */
  range(start: Bytes, end: Bytes, limit: number): Promise<number>
  /** The token a first compare-and-swap of `key` needs. */
  casRead(key: Bytes): Promise<CasToken>
  /** Puts `value` if `key` is unchanged since `token`; resolves the new token, or `undefined` when the compare failed. */
  cas(key: Bytes, token: CasToken, value: Bytes): Promise<CasToken | undefined>
  /** Loads keys fast (batched), all with `value`. */
  preload(keys: readonly Bytes[], value: Bytes): Promise<void>
  /** Releases everything (members, processes, directories). */
  close(): Promise<void>
  /** The Store itself, for Store targets (W6 watches it, W7 compacts it). */
  readonly store?: Store
}

/** Runs `fn` over `items` with at most `concurrency` calls in flight. */
async function pool<T>(items: readonly T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) await fn(items[next++] as T)
    }),
  )
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
  return out
}

/** etcd's default `--max-txn-ops`: preloads batch this many puts per txn. */
const TXN_BATCH = 128

/** A target over etcd's KV API (a Store). */
class KVApiTarget implements Target {
  constructor(
    readonly id: TargetId,
    private readonly kv: KVApi,
    private readonly release: () => Promise<void>,
    readonly store?: Store,
  ) {}

  async put(key: Bytes, value: Bytes): Promise<void> {
    await this.kv.put({ key, value })
  }

  async get(key: Bytes, serializable: boolean): Promise<boolean> {
    const r = await this.kv.range(serializable ? { key, serializable } : { key })
    return r.kvs.length === 1
  }

  async range(start: Bytes, end: Bytes, limit: number): Promise<number> {
    const r = await this.kv.range({ key: start, rangeEnd: end, limit })
    return r.kvs.length
  }

  async casRead(key: Bytes): Promise<CasToken> {
    const r = await this.kv.range({ key })
    return r.kvs[0]?.modRevision ?? 0
  }

  async cas(key: Bytes, token: CasToken, value: Bytes): Promise<CasToken | undefined> {
    const r = await this.kv.txn({
      compare: [{ result: 'EQUAL', target: 'MOD', key, modRevision: token as number }],
      success: [{ requestPut: { key, value } }],
    })
    return r.succeeded ? r.header.revision : undefined
  }

  async preload(keys: readonly Bytes[], value: Bytes): Promise<void> {
    await pool(chunks(keys, TXN_BATCH), 8, async (batch) => {
      await this.kv.txn({ success: batch.map((key) => ({ requestPut: { key, value } })) })
    })
  }

  close(): Promise<void> {
    return this.release()
  }
}

/** Which pocket-etcd the Store targets run: the compiled package users install, or the sources. */
export type StoreBuild = 'dist' | 'src'

let storeClass: typeof Store | undefined

/**
 * Loads the `Store` the Store targets run: `dist` (the default) is the compiled package, what
 * `npm install pocket-etcd` gives users (`npm run bench` builds it first); `src` is the
 * TypeScript sources as tsx transpiles them, which adds tsx's own work to hot paths (its
 * `keepNames` wraps every closure created). Returns a line saying which one and from when.
 */
export async function loadStoreBuild(build: StoreBuild): Promise<string> {
  const url = new URL(build === 'dist' ? '../dist/store.js' : '../src/store.js', import.meta.url)
  if (build === 'dist' && !existsSync(url)) throw new Error('dist/store.js is missing: run `npm run build` first, or pass --src')
  storeClass = ((await import(url.href)) as { Store: typeof Store }).Store
  if (build === 'src') return 'Store from src/ (TypeScript through tsx)'
  return `Store from dist/ (the compiled package, built ${statSync(url).mtime.toISOString()})`
}

async function openStore(id: TargetId, members: 1 | 3 | 5, disk: boolean): Promise<Target> {
  const Store = storeClass
  if (Store === undefined) throw new Error('loadStoreBuild() first')
  let dir: string | undefined
  if (disk) dir = await mkdtemp(join(tmpdir(), 'pocket-etcd-bench-'))
  const store = await Store.open(dir === undefined ? { members } : { members, dataDir: dir })
  store.on('fatal', (e) => {
    // a member that stops mid-benchmark makes every later number meaningless: say so loudly
    console.error(`${id}: member ${e.member} stopped:`, e.error)
  })
  return new KVApiTarget(id, store.kv, async () => {
    await store.close()
    if (dir !== undefined) await rm(dir, { recursive: true, force: true })
  }, store)
}

/** Raw memory-level, every operation awaited: what one member's database costs with nothing on top. */
class LevelTarget implements Target {
  readonly id = 'level' as const
  private readonly db = new MemoryLevel<Bytes, Bytes>({ keyEncoding: 'view', valueEncoding: 'view' })

  async put(key: Bytes, value: Bytes): Promise<void> {
    await this.db.put(key, value)
  }

  async get(key: Bytes): Promise<boolean> {
    return (await this.db.get(key)) !== undefined
  }

  async range(start: Bytes, end: Bytes, limit: number): Promise<number> {
    const entries = await this.db.iterator({ gte: start, lt: end, limit }).all()
    return entries.length
  }

  async casRead(key: Bytes): Promise<CasToken> {
    return (await this.db.get(key)) ?? new Uint8Array(new ArrayBuffer(0))
  }

  /** Read, compare the bytes, write: not atomic, a floor for what a txn costs. */
  async cas(key: Bytes, token: CasToken, value: Bytes): Promise<CasToken | undefined> {
    const cur = await this.db.get(key)
    if (cur === undefined || !(token instanceof Uint8Array) || Buffer.compare(cur, token) !== 0) return undefined
    await this.db.put(key, value)
    return value
  }

  async preload(keys: readonly Bytes[], value: Bytes): Promise<void> {
    for (const batch of chunks(keys, 1000)) await this.db.batch(batch.map((key) => ({ type: 'put' as const, key, value })))
  }

  async close(): Promise<void> {
    await this.db.close()
  }
}

interface MapEntry {
  value: Bytes
  mod: number
}

/** A `Map` plus a sorted key array: the in-memory floor, no encoding, no persistence, no consensus. */
class MapTarget implements Target {
  readonly id = 'map' as const
  private readonly map = new Map<string, MapEntry>()
  private readonly sorted: string[] = []
  private revision = 0

  private static str(b: Bytes): string {
    return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1')
  }

  /** First index whose key is >= `k`. */
  private lowerBound(k: string): number {
    let lo = 0
    let hi = this.sorted.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if ((this.sorted[mid] as string) < k) lo = mid + 1
      else hi = mid
    }
    return lo
  }

  private set(k: string, value: Bytes): number {
    const mod = ++this.revision
    const e = this.map.get(k)
    if (e === undefined) {
      this.map.set(k, { value, mod })
      this.sorted.splice(this.lowerBound(k), 0, k)
    } else {
      e.value = value
      e.mod = mod
    }
    return mod
  }

  async put(key: Bytes, value: Bytes): Promise<void> {
    this.set(MapTarget.str(key), value)
  }

  async get(key: Bytes): Promise<boolean> {
    return this.map.get(MapTarget.str(key)) !== undefined
  }

  async range(start: Bytes, end: Bytes, limit: number): Promise<number> {
    const s = MapTarget.str(start)
    const e = MapTarget.str(end)
    let n = 0
    for (let i = this.lowerBound(s); i < this.sorted.length && n < limit; i++) {
      const k = this.sorted[i] as string
      if (k >= e) break
      if (this.map.get(k) !== undefined) n++
    }
    return n
  }

  async casRead(key: Bytes): Promise<CasToken> {
    return this.map.get(MapTarget.str(key))?.mod ?? 0
  }

  async cas(key: Bytes, token: CasToken, value: Bytes): Promise<CasToken | undefined> {
    const k = MapTarget.str(key)
    if ((this.map.get(k)?.mod ?? 0) !== token) return undefined
    return this.set(k, value)
  }

  async preload(keys: readonly Bytes[], value: Bytes): Promise<void> {
    for (const key of keys) {
      const k = MapTarget.str(key)
      if (!this.map.has(k)) this.sorted.push(k)
      this.map.set(k, { value, mod: ++this.revision })
    }
    this.sorted.sort()
  }

  async close(): Promise<void> {
    this.map.clear()
    this.sorted.length = 0
  }
}

/** A zero-copy `Buffer` view of bench bytes (the `etcd3` client takes Buffers). */
function buf(b: Bytes): Buffer {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength)
}

/**
 * Real etcd through the `etcd3` client (gRPC over @grpc/grpc-js), with every member's
 * endpoint: the client spreads calls over them, as etcd's own clients do, and a member that
 * is not the leader forwards writes and linearizable reads' ReadIndex to it. Each operation
 * is the builder call an etcd3 user would write.
 */
class Etcd3Target implements Target {
  constructor(
    readonly id: TargetId,
    private readonly client: Etcd3,
    private readonly release: () => Promise<void>,
  ) {}

  async put(key: Bytes, value: Bytes): Promise<void> {
    await this.client.put(buf(key)).value(buf(value)).exec()
  }

  async get(key: Bytes, serializable: boolean): Promise<boolean> {
    const r = await this.client.get(buf(key)).serializable(serializable).exec()
    return r.kvs.length === 1
  }

  async range(start: Bytes, end: Bytes, limit: number): Promise<number> {
    const r = await this.client.getAll().inRange({ start: buf(start), end: buf(end) }).limit(limit).exec()
    return r.kvs.length
  }

  async casRead(key: Bytes): Promise<CasToken> {
    const r = await this.client.get(buf(key)).exec()
    return Number(r.kvs[0]?.mod_revision ?? 0)
  }

  async cas(key: Bytes, token: CasToken, value: Bytes): Promise<CasToken | undefined> {
    const k = buf(key)
    const r = await this.client.if(k, 'Mod', '==', token as number).then(this.client.put(k).value(buf(value))).commit()
    return r.succeeded ? Number(r.header.revision) : undefined
  }

  async preload(keys: readonly Bytes[], value: Bytes): Promise<void> {
    const v = buf(value)
    await pool(chunks(keys, TXN_BATCH), 8, async (batch) => {
      await this.client.kv.txn({ success: batch.map((key) => ({ request_put: { key: buf(key), value: v } })) })
    })
  }

  close(): Promise<void> {
    return this.release()
  }
}

/** Starts a fresh `members`-member etcd on 127.0.0.1 (data on tmpfs) and connects an `etcd3` client to every member. */
async function openEtcd(id: TargetId, members: number): Promise<Target> {
  const cluster = await startEtcdCluster({ members })
  const client = new Etcd3({ hosts: cluster.clientUrls })
  try {
    // a few round trips first: the client connects lazily, and a member that failed to start shows here
    for (let i = 0; i < members; i++) await client.get('bench/warm').serializable(true).exec()
  } catch (err) {
    client.close()
    await cluster.stop()
    throw err
  }
  return new Etcd3Target(id, client, async () => {
    client.close()
    await cluster.stop()
  })
}

/** Why a target cannot run on this machine, or `undefined` when it can. */
export function unavailable(id: TargetId): string | undefined {
  if (ETCD_IDS.includes(id) && findEtcdBinary() === undefined) return ETCD_MISSING
  return undefined
}

/** Opens a fresh, empty target. */
export async function openTarget(id: TargetId): Promise<Target> {
  switch (id) {
    case 'mem-1':
      return openStore(id, 1, false)
    case 'mem-3':
      return openStore(id, 3, false)
    case 'mem-5':
      return openStore(id, 5, false)
    case 'classic-1':
      return openStore(id, 1, true)
    case 'classic-3':
      return openStore(id, 3, true)
    case 'classic-5':
      return openStore(id, 5, true)
    case 'level':
      return new LevelTarget()
    case 'map':
      return new MapTarget()
    case 'etcd':
      return openEtcd(id, 1)
    case 'etcd-3':
      return openEtcd(id, 3)
  }
}
