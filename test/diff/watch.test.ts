/**
 * The Watch differential test: pocket-etcd (one member) against a real etcd 3.4 through its
 * JSON gateway. Seeded writes (put, delete, range delete, txn) and compactions run on both;
 * watches are created at several points with random ranges, start revisions (now, past,
 * compacted), filters and prevKv; every watch's responses must agree: the created response,
 * the flattened events (type, every kv field, prevKv) and the compaction cancel.
 *
 * `DIFF_SEED=1,2` and `DIFF_OPS=200` override the defaults; `CI=true` makes a missing etcd a failure.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Store } from '../../src/store.js'
import type { WatchCreateRequest, WatchEvent, WatchResponse } from '../../src/api/messages.js'
import type { WatchStream } from '../../src/services/watch-api.js'
import { parseRequest } from '../../src/services/kv-schema.js'
import { watchCreateRequestSchema } from '../../src/services/watch-schema.js'
import { EtcdGateway } from '../support/etcd-gateway.js'
import { etcdBinaryOrSkip, startEtcd } from '../support/etcd-process.js'
import { gatewayWatch, type GatewayWatch } from '../support/etcd-watch.js'

const seeds = process.env.DIFF_SEED ? process.env.DIFF_SEED.split(',').map((s) => Number(s.trim())) : [1, 2, 3]
const opsPerSeed = process.env.DIFF_OPS ? Number(process.env.DIFF_OPS) : 120

function rng(seed: number): () => number {
  let a = seed >>> 0 || 1
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const txt = (b: Uint8Array): string => Buffer.from(b).toString('utf8')
const kvText = (kv: WatchEvent['kv']): string => `${txt(kv.key)}=${txt(kv.value)} c${kv.createRevision} m${kv.modRevision} v${kv.version} l${kv.lease}`
const eventText = (e: WatchEvent): string => `${e.type} ${kvText(e.kv)}${e.prevKv ? ` prev(${kvText(e.prevKv)})` : ''}`

/** What is compared of one watch: everything but member and cluster ids, watch ids and response boundaries. */
function shape(rs: WatchResponse[]): { created: unknown; events: string[]; end: unknown } {
  const created = rs[0] && { created: rs[0].created, canceled: rs[0].canceled, revision: rs[0].header.revision, cancelReason: rs[0].cancelReason }
  const last = rs.at(-1)
  const end = last && last.canceled && !last.created ? { canceled: true, compactRevision: last.compactRevision, revision: last.header.revision } : undefined
  return { created, events: rs.flatMap((r) => r.events.map(eventText)), end }
}

/** Reads responses until none arrives for `idleMs`. */
async function drain(next: () => Promise<WatchResponse | undefined>, idleMs = 250): Promise<WatchResponse[]> {
  const out: WatchResponse[] = []
  let pending = next()
  for (;;) {
    const r = await Promise.race([pending, new Promise<'idle'>((res) => setTimeout(() => res('idle'), idleMs))])
    if (r === 'idle' || r === undefined) return out
    out.push(r)
    if (r.canceled && !r.created) return out
    pending = next()
  }
}

const KEYS = ['a', 'b', 'b1', 'b2', 'c', 'd', 'd/x', 'd/y', 'e']

test(`watch differential: Store({ members: 1 }) vs etcd 3.4, seeds ${seeds.join(',')}, ${opsPerSeed} ops each`, async (t) => {
  if (etcdBinaryOrSkip(t) === undefined) return
  for (const seed of seeds) {
    await t.test(`seed ${seed}`, async (st) => {
      const etcd = await startEtcd()
      st.after(() => etcd.stop())
      const store = await Store.open({ members: 1 })
      st.after(() => store.close())
      const ref = new EtcdGateway(etcd.clientUrl)
      const rand = rng(seed)
      const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!
      const watches: { req: WatchCreateRequest; ours: WatchStream; theirs: GatewayWatch }[] = []
      let rev = 1
      let compacted = 0
      for (let i = 0; i < opsPerSeed; i++) {
        const x = rand()
        if (x < 0.1) {
          // a watch: key, range or prefix; now, past or compacted start; filters; prevKv
          const key = pick(KEYS)
          const shapeOf = rand()
          const rangeEnd = shapeOf < 0.4 ? '' : shapeOf < 0.7 ? key + '\xff' : shapeOf < 0.85 ? '\0' : pick(KEYS)
          const startRevision = rand() < 0.4 ? 0 : Math.max(1, Math.floor(rand() * (rev + 2)) - 1)
          const filters = rand() < 0.2 ? [pick(['NOPUT', 'NODELETE'] as const)] : []
          const req = parseRequest(watchCreateRequestSchema, { key, rangeEnd, startRevision, filters, prevKv: rand() < 0.5 }, 'WatchCreateRequest')
          watches.push({ req, ours: await store.watch.watch(req), theirs: await gatewayWatch(etcd.clientUrl, req) })
          continue
        }
        if (x < 0.14 && rev > compacted + 2) {
          const at = compacted + 1 + Math.floor(rand() * (rev - compacted - 1))
          // etcd catches unsynced watchers up every 100 ms: let it, so a compaction never races a catch-up there
          await new Promise((res) => setTimeout(res, 150))
          await store.kv.compact({ revision: at })
          await ref.compact({ revision: at })
          compacted = at
          continue
        }
        let op: (kv: EtcdGateway | Store['kv']) => Promise<{ header: { revision: number } }>
        if (x < 0.6) {
          const key = pick(KEYS)
          const value = `v${i}`
          op = (kv) => kv.put({ key, value })
        } else if (x < 0.75) {
          const key = pick(KEYS)
          op = (kv) => kv.deleteRange({ key })
        } else if (x < 0.85) {
          const key = pick(KEYS)
          op = (kv) => kv.deleteRange({ key, rangeEnd: key + '\xff' })
        } else {
          const [k1, k2, k3] = [pick(KEYS), pick(KEYS), pick(KEYS)]
          op = (kv) =>
            kv.txn({
              compare: [{ key: k1, target: 'VERSION', result: 'GREATER', version: 0 }],
              success: k2 === k3 ? [{ requestPut: { key: k2, value: `t${i}` } }] : [{ requestPut: { key: k2, value: `t${i}` } }, { requestDeleteRange: { key: k3 } }],
              failure: [{ requestPut: { key: k1, value: `f${i}` } }],
            })
        }
        const a = await op(store.kv)
        const b = await op(ref)
        assert.equal(a.header.revision, b.header.revision, `op ${i}: revisions diverge`)
        rev = a.header.revision
      }
      const results = await Promise.all(watches.map(async (w) => ({ w, ours: await drain(() => w.ours.next().then((r) => r.value)), theirs: await drain(() => w.theirs.next()) })))
      let events = 0
      let compactedWatches = 0
      for (const [n, r] of results.entries()) {
        const what = `watch ${n} ${JSON.stringify({ key: txt(r.w.req.key), rangeEnd: txt(r.w.req.rangeEnd), start: r.w.req.startRevision, filters: r.w.req.filters, prevKv: r.w.req.prevKv })} (seed ${seed}; replay: DIFF_SEED=${seed} DIFF_OPS=${opsPerSeed} node scripts/test.mjs test/diff/watch)`
        assert.deepEqual(shape(r.ours), shape(r.theirs), what)
        events += shape(r.ours).events.length
        if (shape(r.ours).end) compactedWatches++
        r.w.theirs.close()
        await r.w.ours.cancel()
      }
      st.diagnostic(`seed ${seed}: ${watches.length} watches, ${events} events, ${compactedWatches} compacted, final revision ${rev}`)
      assert.ok(events > 0, 'the seed produced events to compare')
    })
  }
})
