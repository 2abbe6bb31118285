/**
 * Differential test of the Lease service: the same requests against pocket-etcd (3 members,
 * real clock, etcd's default timing: 100 ms ticks, 10-tick elections, so the minimum TTL is
 * etcd's 2 s) and a real etcd 3.4 through its JSON gateway, comparing every field: header
 * revisions, ids, TTLs, keys, error messages and gRPC codes. Server-chosen ids are paired by
 * position; remaining TTLs (wall time) are compared within 1 s; a lease's keys (a Go map in
 * etcd) and the lease list (ordered by expiry) are compared as sorted sets.
 *
 * Seeded: `DIFF_SEED=... DIFF_OPS=...` replays or extends a run.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { Store } from '../../src/store.js'
import { EtcdError } from '../../src/errors.js'
import { Random } from '../../src/sim/random.js'
import type { KVApi } from '../../src/services/kv-api.js'
import type { LeaseApi } from '../../src/services/lease-api.js'
import { EtcdGateway, EtcdLeaseGateway } from '../support/etcd-gateway.js'
import { etcdBinaryOrSkip, findEtcdBinary, startEtcd, type EtcdProcess } from '../support/etcd-process.js'

const text = (b: Uint8Array) => Buffer.from(b).toString('latin1')

type Outcome = { ok: true; value: unknown } | { ok: false; message: string; grpcCode: string }

async function outcome(p: Promise<unknown>): Promise<Outcome> {
  try {
    return { ok: true, value: await p }
  } catch (err) {
    if (!(err instanceof EtcdError)) throw err
    return { ok: false, message: err.message, grpcCode: err.grpcCode }
  }
}

/** A response reduced to what both sides must agree on; `ids` maps their server-chosen ids to ours. */
function normalize(v: unknown, ids: Map<string, string>): unknown {
  if (v === null || typeof v !== 'object') return v
  if (v instanceof Uint8Array) return text(v)
  if (Array.isArray(v)) return v.map((x) => normalize(x, ids))
  const out: Record<string, unknown> = {}
  for (const [k, x] of Object.entries(v)) {
    if (k === 'header') out.revision = (x as { revision: number }).revision
    else if ((k === 'id' || k === 'lease') && typeof x === 'string') out[k] = ids.get(x) ?? x
    else out[k] = normalize(x, ids)
  }
  return out
}

interface Side {
  kv: KVApi
  lease: LeaseApi
}

describe('Lease service against etcd 3.4', () => {
  let etcd: EtcdProcess | undefined
  let store: Store | undefined
  let ref: Side
  let ours: Side
  const theirsToOurs = new Map<string, string>()

  before(async () => {
    if (findEtcdBinary() === undefined) return
    etcd = await startEtcd()
    const gw = new EtcdGateway(etcd.clientUrl)
    ref = { kv: gw, lease: new EtcdLeaseGateway(gw) }
    store = await Store.open({ members: 3, tickMs: 100, electionTicks: 10 })
    ours = { kv: store.kv, lease: store.lease }
  })
  after(async () => {
    await store?.close()
    await etcd?.stop()
  })

  /** Runs one request on both sides and asserts the same outcome; returns both raw results. */
  async function both<T>(what: string, run: (s: Side) => Promise<T>, opts: { ttlTolerance?: boolean; sortKeys?: boolean; sortLeases?: boolean } = {}): Promise<[T | undefined, T | undefined]> {
    const [a, b] = [await outcome(run(ours)), await outcome(run(ref))]
    if (a.ok && b.ok) {
      const na = normalize(a.value, new Map()) as Record<string, unknown>
      const nb = normalize(b.value, theirsToOurs) as Record<string, unknown>
      for (const n of [na, nb]) {
        if (opts.sortKeys && Array.isArray(n.keys)) n.keys = [...(n.keys as string[])].sort()
        if (opts.sortLeases && Array.isArray(n.leases)) n.leases = (n.leases as { id: string }[]).map((l) => l.id).sort()
      }
      if (opts.ttlTolerance && typeof na.ttl === 'number' && typeof nb.ttl === 'number') {
        assert.ok(Math.abs(na.ttl - nb.ttl) <= 1, `${what}: remaining TTL ${na.ttl} vs etcd ${nb.ttl}`)
        if (na.ttl > 0 || nb.ttl > 0) na.ttl = nb.ttl
      }
      assert.deepEqual(na, nb, what)
      return [a.value as T, b.value as T]
    }
    assert.deepEqual(a, b, `${what}: outcomes differ`)
    return [undefined, undefined]
  }

  test('grant rules, attach, timeToLive, keepAlive, leases, revoke', async (t) => {
    if (etcdBinaryOrSkip(t) === undefined) return
    // server-chosen ids: positive, distinct; compared without the id
    const chosen: { ours: string; theirs: string }[] = []
    for (const ttl of [1, -5, 0, 30]) {
      const a = await ours.lease.grant({ ttl })
      const b = await ref.lease.grant({ ttl })
      assert.ok(BigInt(a.id) > 0n && BigInt(b.id) > 0n)
      assert.deepEqual({ ttl: a.ttl, revision: a.header.revision, error: a.error }, { ttl: b.ttl, revision: b.header.revision, error: b.error }, `grant ttl=${ttl}`)
      theirsToOurs.set(b.id, a.id)
      chosen.push({ ours: a.id, theirs: b.id })
    }
    const id = (s: Side, c: { ours: string; theirs: string }) => (s === ours ? c.ours : c.theirs)
    // the 2 s leases would expire on wall time: revoke them now, on both sides
    for (const c of chosen.slice(0, 3)) await both('revoke chosen', (s) => s.lease.revoke({ id: id(s, c) }))

    await both('grant id 7', (s) => s.lease.grant({ ttl: 100, id: 7 }))
    await both('grant id 7 again', (s) => s.lease.grant({ ttl: 100, id: 7 }))
    await both('grant too large', (s) => s.lease.grant({ ttl: 9_000_000_001, id: 8 }))
    await both('grant max', (s) => s.lease.grant({ ttl: 9_000_000_000, id: 9 }))
    await both('grant negative id', (s) => s.lease.grant({ ttl: 100, id: -3 }))
    await both('put a lease 7', (s) => s.kv.put({ key: 'a', value: 'x', lease: 7 }))
    await both('put b lease 7', (s) => s.kv.put({ key: 'b', value: 'x', lease: 7, prevKv: true }))
    await both('put c unknown lease', (s) => s.kv.put({ key: 'c', value: 'x', lease: 77 }))
    await both('put b ignoreLease', (s) => s.kv.put({ key: 'b', value: 'y', ignoreLease: true, prevKv: true }))
    await both('put d lease 9', (s) => s.kv.put({ key: 'd', value: 'x', lease: 9 }))
    await both('put d no lease', (s) => s.kv.put({ key: 'd', value: 'z', prevKv: true }))
    await both('put e lease -3', (s) => s.kv.put({ key: 'e', value: 'x', lease: -3 }))
    await both('delete e', (s) => s.kv.deleteRange({ key: 'e', prevKv: true }))
    await both('put f chosen', (s) => s.kv.put({ key: 'f', value: 'x', lease: id(s, chosen[3]!) }))
    await both('txn put unknown lease', (s) => s.kv.txn({ success: [{ requestPut: { key: 'g', value: 'x', lease: 78 } }] }))
    await both('ttl 7 keys', (s) => s.lease.timeToLive({ id: 7, keys: true }), { ttlTolerance: true, sortKeys: true })
    await both('ttl 7', (s) => s.lease.timeToLive({ id: 7 }), { ttlTolerance: true })
    await both('ttl -3 keys', (s) => s.lease.timeToLive({ id: -3, keys: true }), { ttlTolerance: true })
    await both('ttl 9', (s) => s.lease.timeToLive({ id: 9, keys: true }), { ttlTolerance: true })
    await both('ttl missing', (s) => s.lease.timeToLive({ id: 77, keys: true }))
    await both('ttl chosen', (s) => s.lease.timeToLive({ id: id(s, chosen[3]!), keys: true }), { ttlTolerance: true })
    await both('leases', (s) => s.lease.leases(), { sortLeases: true })
    await both('keepalive 7', (s) => s.lease.keepAliveOnce({ id: 7 }))
    await both('keepalive missing', (s) => s.lease.keepAliveOnce({ id: 77 }))
    await both('revoke 7', (s) => s.lease.revoke({ id: 7 }))
    await both('revoke 7 again', (s) => s.lease.revoke({ id: 7 }))
    await both('revoke 9 (no keys)', (s) => s.lease.revoke({ id: 9 }))
    await both('revoke 0', (s) => s.lease.revoke({ id: 0 }))
    await both('revoke chosen', (s) => s.lease.revoke({ id: id(s, chosen[3]!) }))
    await both('range all', (s) => s.kv.range({ key: '\0', rangeEnd: '\0' }))
    await both('leases after', (s) => s.lease.leases(), { sortLeases: true })
    await both('ttl revoked', (s) => s.lease.timeToLive({ id: 7, keys: true }))
  })

  test('seeded random lease and key operations', async (t) => {
    if (etcdBinaryOrSkip(t) === undefined) return
    const seed = Number(process.env.DIFF_SEED ?? 11)
    const count = Number(process.env.DIFF_OPS ?? 150)
    const rnd = new Random(seed)
    const keys = ['k0', 'k1', 'k2', 'k3', 'k4', 'k5']
    const leaseIds = [101, 102, 103, 104, 105]
    const ttl = () => [10, 30, 120, 0, -1, 3600][rnd.int(6)]!
    t.diagnostic(`replay: DIFF_SEED=${seed} DIFF_OPS=${count} node --import tsx --test test/diff/lease.test.ts`)
    for (let i = 0; i < count; i++) {
      const op = rnd.int(8)
      const lease = leaseIds[rnd.int(leaseIds.length)]!
      const key = keys[rnd.int(keys.length)]!
      const what = `#${i} (seed ${seed})`
      switch (op) {
        case 0:
        case 1: {
          const l = ttl()
          await both(`${what} grant ${lease} ttl ${l}`, (s) => s.lease.grant({ ttl: Math.max(l, 10), id: lease }))
          break
        }
        case 2:
        case 3:
        {
          const prevKv = rnd.chance(0.5)
          await both(`${what} put ${key} lease ${lease}`, (s) => s.kv.put({ key, value: String(i), lease, prevKv }))
          break
        }
        case 4:
          if (rnd.chance(0.5)) await both(`${what} put ${key}`, (s) => s.kv.put({ key, value: String(i), ignoreLease: true }))
          else await both(`${what} delete ${key}`, (s) => s.kv.deleteRange({ key, prevKv: true }))
          break
        case 5:
          await both(`${what} revoke ${lease}`, (s) => s.lease.revoke({ id: lease }))
          break
        case 6:
          await both(`${what} timeToLive ${lease}`, (s) => s.lease.timeToLive({ id: lease, keys: true }), { ttlTolerance: true, sortKeys: true })
          break
        default:
          await both(`${what} keepAlive ${lease}`, (s) => s.lease.keepAliveOnce({ id: lease }))
      }
    }
    await both('final range', (s) => s.kv.range({ key: '\0', rangeEnd: '\0' }))
    await both('final leases', (s) => s.lease.leases(), { sortLeases: true })
  })
})
