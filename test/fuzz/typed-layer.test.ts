/**
 * Hostile-input fuzzing of the typed layer (src/client): every builder method and factory
 * (`get`, `getAll`, `put`, `delete`, `if`, `namespace`, `range`, `Range`, `watch()`,
 * `lease(ttl)`, `lock(name)`, `election(name)`) is called with arbitrary JS values: null,
 * undefined, numbers (NaN, fractions, huge), bigints, symbols, functions, plain, array and
 * null-prototype objects, boxed values, huge strings. The only failures allowed are
 * `EtcdError`s with an etcd-style message; never a TypeError, RangeError or InvariantError,
 * and never a hang. A table then pins the contract: a wrongly typed argument raises an
 * `InvalidArgumentError` naming the argument, synchronously (or as the commit's rejection
 * for `if(...)` chains), before anything is sent. fast-check prints its seed and path on
 * failure; replay with FUZZ_SEED=<seed> (and FUZZ_RUNS=<n> for longer runs).
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { Store } from '../../src/store.js'
import { EtcdError, InvalidArgumentError, InvariantError } from '../../src/errors.js'
import { Namespace, Range } from '../../src/client/index.js'
import type { KVApi } from '../../src/services/kv-api.js'

const RUNS = Number(process.env.FUZZ_RUNS ?? 150)
const SEED = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED)
const params = { numRuns: RUNS, ...(SEED !== undefined ? { seed: SEED } : {}), verbose: 1 as const }
const MESSAGE = /^(etcdserver: |mvcc: |pocket-etcd: |auth: |election: |mutex: |concurrency: |lease )/

type Outcome = { ok: true } | { ok: false; error: unknown } | 'hang'

/** Runs `fn` (a synchronous throw counts as a rejection) on the manual clock for at most `ms` of cluster time. */
async function settleWithin(store: Store, fn: () => unknown, ms = 20_000): Promise<Outcome> {
  let p: Promise<unknown>
  try {
    p = Promise.resolve(fn())
  } catch (error) {
    return { ok: false, error }
  }
  let out: Outcome | undefined
  p.then(() => (out = { ok: true }), (error: unknown) => (out = { ok: false, error }))
  await store.sim.until(() => out !== undefined, ms)
  return out ?? 'hang'
}

function checkOutcome(what: string, out: Outcome): void {
  assert.notEqual(out, 'hang', `${what} did not settle`)
  if (out === 'hang' || out.ok) return
  const e = out.error
  assert.ok(!(e instanceof InvariantError), `${what} broke an invariant: ${String(e)}`)
  assert.ok(e instanceof EtcdError, `${what} threw a ${e instanceof Error ? e.name : typeof e}, not an EtcdError: ${e instanceof Error ? e.stack : String(e)}`)
  assert.match(e.message, MESSAGE, `${what}: not an etcd-style message: ${e.message}`)
}

function short(v: unknown): string {
  if (typeof v === 'symbol' || typeof v === 'function') return String(v).slice(0, 60)
  try {
    const s = JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? `${x}n` : typeof x === 'string' && x.length > 20 ? `${x.slice(0, 10)}...(${x.length})` : x instanceof Uint8Array ? `bytes[${x.length}]` : x))
    return s === undefined ? String(v) : s.length > 120 ? `${s.slice(0, 120)}...` : s
  } catch {
    return Object.prototype.toString.call(v)
  }
}

const HUGE = 'k'.repeat(2_000_000)
/** Any JS value a caller without types could pass. */
const junk: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: fc.constant(undefined), weight: 3 },
  { arbitrary: fc.constant(null), weight: 3 },
  fc.constant(HUGE),
  fc.constant(NaN),
  fc.constant(Infinity),
  fc.constant(-0.5),
  fc.constant(1e300),
  fc.constant(Symbol('s')),
  fc.constant(() => 'f'),
  fc.constant(Object.create(null) as unknown),
  fc.constant([1, 2]),
  fc.integer(),
  fc.double(),
  fc.bigInt(),
  fc.boolean(),
  fc.string({ maxLength: 8 }),
  fc.uint8Array({ maxLength: 8 }),
  fc.anything({ maxDepth: 2, withBoxedValues: true, withNullPrototype: true, withMap: true, withSet: true, withTypedArray: true, withSparseArray: true, withBigInt: true, withDate: true }),
)
/** A well-typed value half of the time, junk otherwise. */
const or = (good: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> => fc.oneof(good, junk)
const key = or(fc.oneof(fc.constant(''), fc.constant('\0'), fc.string({ maxLength: 4 }), fc.uint8Array({ maxLength: 4 })))
const rev = or(fc.integer({ min: -2, max: 40 }))
const bool = or(fc.boolean())
const value = or(fc.oneof(fc.string({ maxLength: 4 }), fc.integer(), fc.uint8Array({ maxLength: 4 })))
const leaseId = or(fc.constantFrom('0', '1', '-1', 1, 0n, '99999999999999999999999'))
const rangable = or(fc.oneof(key, fc.record({ start: key, end: key }, { requiredKeys: [] }), fc.record({ prefix: key })))
const ttl = or(fc.integer({ min: 1, max: 10 }))
// lock and election names of their own (an election on '' would wait for every older key in the store, as in etcd)
const name = (prefix: string): fc.Arbitrary<unknown> => or(fc.string({ maxLength: 4 })).map((n) => (typeof n === 'string' ? `${prefix}/${n}` : n instanceof Uint8Array ? new Uint8Array([...new TextEncoder().encode(`${prefix}/`), ...n]) : n))

type Step = { name: string; args: unknown[] }
const step = (name: string, ...args: fc.Arbitrary<unknown>[]): fc.Arbitrary<Step> => fc.tuple(...args).map((a) => ({ name, args: a }))
const steps = (...choices: fc.Arbitrary<Step>[]): fc.Arbitrary<Step[]> => fc.array(fc.oneof(...choices), { maxLength: 4 })

/** Calls each step on `target` (a fluent builder: every method returns the builder). */
function apply<T extends object>(target: T, list: Step[]): T {
  for (const s of list) {
    const fn = (target as unknown as Record<string, (...a: unknown[]) => unknown>)[s.name]
    assert.equal(typeof fn, 'function', `no method ${s.name}`)
    fn!.apply(target, s.args)
  }
  return target
}
const call = (target: object, name: string, ...args: unknown[]): unknown => (target as unknown as Record<string, (...a: unknown[]) => unknown>)[name]!(...args)
const describeSteps = (list: Step[]): string => list.map((s) => `.${s.name}(${s.args.map(short).join(', ')})`).join('')

const rangeSteps = [step('revision', rev), step('serializable', bool), step('minModRevision', rev), step('maxModRevision', rev), step('minCreateRevision', rev), step('maxCreateRevision', rev)]

interface Case {
  what: string
  run: (s: Store) => unknown
}

/** One arbitrary per builder or factory, each fuzzed on its own so every method sees every kind of value. */
const families: Record<string, fc.Arbitrary<Case>> = {
  get: fc.tuple(key, steps(...rangeSteps), fc.constantFrom('string', 'number', 'buffer', 'json', 'exists', 'kv', 'exec', 'op')).map(([k, st, end]): Case => ({
    what: `get(${short(k)})${describeSteps(st)}.${end}()`,
    run: (s) => call(apply(call(s, 'get', k) as object, st), end),
  })),
  getAll: fc.tuple(
    steps(...rangeSteps, step('prefix', key), step('inRange', rangable), step('inRange', key, key), step('limit', rev), step('sort', or(fc.constantFrom('Key', 'Version', 'Create', 'Mod', 'Value')), or(fc.constantFrom('None', 'Ascend', 'Descend'))), step('all')),
    fc.constantFrom('count', 'keys', 'keyBuffers', 'strings', 'buffers', 'numbers', 'json', 'exec', 'op'),
  ).map(([st, end]): Case => ({
    what: `getAll()${describeSteps(st)}.${end}()`,
    run: (s) => call(apply(s.getAll(), st), end),
  })),
  put: fc.tuple(key, steps(step('value', value), step('lease', leaseId), step('ignoreLease', bool), step('ignoreValue', bool)), fc.constantFrom('exec', 'getPrevious', 'touch', 'op')).map(([k, st, end]): Case => ({
    what: `put(${short(k)})${describeSteps(st)}.${end}()`,
    run: (s) => call(apply(call(s, 'put', k) as object, st), end),
  })),
  delete: fc.tuple(steps(step('key', key), step('prefix', key), step('range', rangable), step('range', key, key), step('inRange', rangable), step('all')), fc.constantFrom('exec', 'getPrevious', 'op')).map(([st, end]): Case => ({
    what: `delete()${describeSteps(st)}.${end}()`,
    run: (s) => call(apply(s.delete(), st), end),
  })),
  if: fc.tuple(
    fc.tuple(key, or(fc.constantFrom('Value', 'Version', 'Create', 'Mod', 'Lease')), or(fc.constantFrom('==', '===', '!=', '!==', '<', '>')), or(fc.oneof(value, leaseId, rev))),
    fc.array(fc.tuple(fc.constantFrom('then', 'else'), fc.array(or(fc.constant('put')), { maxLength: 2 })), { maxLength: 2 }),
  ).map(([args, branches]): Case => ({
    what: `if(${args.map(short).join(', ')})${branches.map(([b, ops]) => `.${b}(${ops.map(short).join(', ')})`).join('')}.commit()`,
    run: (s) => {
      const txn = call(s, 'if', ...args) as object
      for (const [b, ops] of branches) call(txn, b, ...ops.map((o) => (o === 'put' ? s.put('t').value('v') : o)))
      return call(txn, 'commit')
    },
  })),
  namespace: fc.tuple(key, fc.constantFrom('get', 'getAll', 'put')).map(([p, then]): Case => ({
    what: `namespace(${short(p)}).${then}(...)`,
    run: (s) => {
      const ns = call(s, 'namespace', p) as Namespace
      return then === 'get' ? ns.get('x').string() : then === 'getAll' ? ns.getAll().keys() : ns.put('x').value('y').exec()
    },
  })),
  Range: fc.tuple(rangable, key, fc.constantFrom('from', 'prefix', 'new', 'range')).map(([r, k, how]): Case => ({
    what: `Range ${how}(${short(r)}).includes(${short(k)})`,
    run: (s) => {
      const range = how === 'from' ? Range.from(r as never) : how === 'prefix' ? Range.prefix(r as never) : how === 'new' ? new Range(r as never, k as never) : s.range(r as never)
      return range.includes(k as never)
    },
  })),
  watch: steps(step('key', key), step('prefix', key), step('inRange', rangable), step('startRevision', rev), step('ignore', or(fc.constantFrom('put', 'delete')), or(fc.constantFrom('put', 'delete'))), step('withPreviousKV'), step('withProgressNotify')).map((st): Case => ({
    what: `watch()${describeSteps(st)}.create()`,
    run: async (s) => {
      const w = await apply(s.watch(), st).create()
      await w.cancel()
    },
  })),
  lease: fc.tuple(ttl, or(fc.record({ autoKeepAlive: bool }, { requiredKeys: [] }))).map(([t, o]): Case => ({
    what: `lease(${short(t)}, ${short(o)})`,
    run: async (s) => {
      const l = (s.lease as unknown as (...a: unknown[]) => ReturnType<Store['lease']>)(t, o)
      try {
        await l.grant()
        await l.revoke()
      } finally {
        l.release()
      }
    },
  })),
  lock: fc.tuple(name('lock'), ttl).map(([n, t]): Case => ({
    what: `lock(${short(n)}).ttl(${short(t)}).tryAcquire()`,
    run: async (s) => {
      const lock = call(call(s, 'lock', n) as object, 'ttl', t) as ReturnType<Store['lock']>
      await lock.tryAcquire()
      await lock.release()
    },
  })),
  election: fc.tuple(name('election'), ttl, key).map(([n, t, v]): Case => ({
    what: `election(${short(n)}).ttl(${short(t)}).campaign(${short(v)})`,
    run: async (s) => {
      const c = call(call(s, 'election', n) as object, 'ttl', t) as ReturnType<Store['election']>
      try {
        await call(c, 'campaign', v)
        await call(c, 'proclaim', v)
      } finally {
        await c.resign()
      }
    },
  })),
}

describe(`fuzzing the typed layer with arbitrary JS values (${RUNS} runs)`, () => {
  let store: Store
  before(async () => {
    store = await Store.open({ members: 1, clock: 'manual', seed: 11, requestTimeoutMs: 1_000 })
  })
  after(async () => {
    await store.close()
  })

  for (const [family, cases] of Object.entries(families)) {
    it(`${family}: every method ends in a result or an etcd-style EtcdError, never a TypeError`, async () => {
      await fc.assert(
        fc.asyncProperty(cases, async (c) => {
          checkOutcome(c.what, await settleWithin(store, () => c.run(store)))
        }),
        params,
      )
      // still serving
      assert.deepEqual(await settleWithin(store, () => store.put('after').value('ok')), { ok: true })
    })
  }

  it('a wrongly typed argument is an InvalidArgumentError naming it, raised before anything is sent', async () => {
    let sent = 0
    const refuse = (): Promise<never> => {
      sent++
      return Promise.reject(new Error('sent'))
    }
    const spy: KVApi = { range: refuse, put: refuse, deleteRange: refuse, txn: refuse, compact: refuse }
    const ns = new Namespace(spy)
    const bad = <T>(v: unknown): T => v as T
    const table: [string, () => unknown][] = [
      ['key in get(key)', () => ns.get(bad(null)).string()],
      ['prefix in getAll().prefix(prefix)', () => ns.getAll().prefix(bad(null)).keys()],
      ['range', () => ns.getAll().inRange(bad(null)).keys()],
      ['range', () => ns.getAll().inRange(bad([])).keys()],
      ['range start', () => ns.getAll().inRange(bad({ start: 1 })).keys()],
      ['range end', () => ns.getAll().inRange('a', bad(5)).keys()],
      ['prefix', () => ns.getAll().inRange(bad({ prefix: Symbol('p') })).keys()],
      ['count in getAll().limit(count)', () => ns.getAll().limit(bad('5')).keys()],
      ['count in getAll().limit(count)', () => ns.getAll().limit(1.5).keys()],
      ['sort target', () => ns.getAll().sort(bad(Symbol('t'))).keys()],
      ['sort target', () => ns.getAll().sort(bad({ toString: 1 })).keys()],
      ['sort order', () => ns.getAll().sort('Key', bad({})).keys()],
      ['revision in revision(rev)', () => ns.get('k').revision(bad('3')).string()],
      ['revision in revision(rev)', () => ns.get('k').revision(1.5).string()],
      ['flag in serializable(flag)', () => ns.get('k').serializable(bad('yes')).string()],
      ['revision in minModRevision(rev)', () => ns.get('k').minModRevision(bad(null)).string()],
      ['revision in maxModRevision(rev)', () => ns.get('k').maxModRevision(bad(2n)).string()],
      ['revision in minCreateRevision(rev)', () => ns.get('k').minCreateRevision(NaN).string()],
      ['revision in maxCreateRevision(rev)', () => ns.get('k').maxCreateRevision(Infinity).string()],
      ['key in put(key)', () => ns.put(bad(undefined)).value('v').exec()],
      ['value in put(key).value(value)', () => ns.put('k').value(bad(null)).exec()],
      ['value in put(key).value(value)', () => ns.put('k').value(NaN).exec()],
      ['value in put(key).value(value)', () => ns.put('k').value(bad({})).exec()],
      ['lease id in put(key).lease(id)', () => ns.put('k').value('v').lease(bad({})).exec()],
      ['lease id in put(key).lease(id)', () => ns.put('k').value('v').lease('abc').exec()],
      ['lease id in put(key).lease(id)', () => ns.put('k').value('v').lease(1.5).exec()],
      ['lease id in put(key).lease(id)', () => ns.put('k').value('v').lease('99999999999999999999').exec()],
      ['flag in put(key).ignoreLease(flag)', () => ns.put('k').value('v').ignoreLease(bad(1)).exec()],
      ['flag in put(key).ignoreValue(flag)', () => ns.put('k').ignoreValue(bad('no')).exec()],
      ['key in delete().key(key)', () => ns.delete().key(bad(null)).exec()],
      ['prefix in delete().prefix(prefix)', () => ns.delete().prefix(bad(5)).exec()],
      ['range', () => ns.delete().range(bad(null)).exec()],
      ['range end', () => ns.delete().range('a', bad(null)).exec()],
      ['range', () => ns.delete().inRange(bad(() => 1)).exec()],
      ['key in if(key, ...)', () => ns.if(bad(null), 'Value', '==', 'x').commit()],
      ['comparison column in if(...)', () => ns.if('k', bad<'Value'>(null), '==', 'x').commit()],
      ['comparator in if(...)', () => ns.if('k', 'Value', bad(Symbol('c')), 'x').commit()],
      ['value in if(key, "Value", ...)', () => ns.if('k', 'Value', '==', bad(null)).commit()],
      ['Version in if(key, "Version", ...)', () => ns.if('k', 'Version', '>', 1.5).commit()],
      ['lease id in if(key, "Lease", ...)', () => ns.if('k', 'Lease', '==', bad({})).commit()],
      ['operation in then(...)/else(...)', () => ns.if('k', 'Version', '==', 0).then(bad(null)).commit()],
      ['operation in then(...)/else(...)', () => ns.if('k', 'Version', '==', 0).else(bad({ op: 1 })).commit()],
      ['prefix in namespace(prefix)', () => ns.namespace(bad(null)).get('k').string()],
      ['namespace prefix', () => new Namespace(spy, bad(7)).get('k').string()],
      ['range', () => ns.range(bad(undefined))],
      ['prefix', () => Range.prefix(bad(null))],
      ['range start', () => new Range(bad(1))],
      ['range end', () => new Range('a', bad(null))],
      ['key in Range.includes(key)', () => Range.prefix('a').includes(bad(null))],
      ['key in watch().key(key)', () => store.watch().key(bad(null)).create()],
      ['prefix in watch().prefix(prefix)', () => store.watch().prefix(bad({})).create()],
      ['range', () => store.watch().inRange(bad(null)).create()],
      ['revision in watch().startRevision(rev)', () => store.watch().startRevision(bad('1')).create()],
      ['event type in watch().ignore(...types)', () => store.watch().ignore(bad('puts')).create()],
      ['ttl in lease(ttl)', () => store.lease(bad('10'))],
      ['ttl in lease(ttl)', () => store.lease(-1)],
      ['options in lease(ttl, options)', () => store.lease(10, bad('x'))],
      ['autoKeepAlive in lease(ttl, options)', () => store.lease(10, bad({ autoKeepAlive: 'yes' }))],
      ['name in lock(name)', () => store.lock(bad(null))],
      ['seconds in lock(name).ttl(seconds)', () => store.lock('l').ttl(bad(Symbol('t')))],
      ['name in election(name)', () => store.election(bad(5))],
      ['seconds in election(name).ttl(seconds)', () => store.election('e').ttl(bad('5'))],
      ['value in campaign(value)', () => store.election('e').campaign(bad(null))],
      ['value in proclaim(value)', () => store.election('e').proclaim(bad(undefined))],
    ]
    const rev = (await store.get('anything').exec()).header.revision
    for (const [name, fn] of table) {
      let err: unknown
      try {
        await fn()
      } catch (e) {
        err = e
      }
      assert.ok(err instanceof InvalidArgumentError, `${name}: expected an InvalidArgumentError, got ${err instanceof Error ? err.stack : String(err)}`)
      assert.ok(err.message.startsWith('pocket-etcd: '), `${name}: ${err.message}`)
      assert.ok(err.message.includes(name), `the message names the argument (${name}): ${err.message}`)
      assert.equal(sent, 0, `${name}: a request was sent`)
    }
    assert.equal((await store.get('anything').exec()).header.revision, rev, 'nothing was written')
  })
})
