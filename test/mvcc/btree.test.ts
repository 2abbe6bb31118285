import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { BTree, compareStrings } from '../../src/mvcc/btree.js'

type Op = { kind: 'set'; key: number; value: number } | { kind: 'del'; key: number } | { kind: 'scan'; from: number }

/** Applies `ops` to a tree and to a sorted-array oracle, checking they agree throughout. */
function runAgainstOracle(ops: Op[], order: number): void {
  const tree = new BTree<number, number>((a, b) => a - b, order)
  const oracle = new Map<number, number>()
  for (const op of ops) {
    if (op.kind === 'set') {
      assert.equal(tree.set(op.key, op.value), !oracle.has(op.key))
      oracle.set(op.key, op.value)
    } else if (op.kind === 'del') {
      assert.equal(tree.delete(op.key), oracle.delete(op.key))
    } else {
      const want = [...oracle.entries()].filter(([k]) => k >= op.from).sort((a, b) => a[0] - b[0])
      const got: [number, number][] = []
      tree.ascend(op.from, (k, v) => {
        got.push([k, v])
      })
      assert.deepEqual(got, want)
      assert.deepEqual([...tree.entries(op.from)], want)
    }
    assert.equal(tree.size, oracle.size)
  }
  tree.check()
  for (const [k, v] of oracle) assert.equal(tree.get(k), v)
  assert.deepEqual([...tree.entries()].map(([k]) => k), [...oracle.keys()].sort((a, b) => a - b))
}

const opArb = (keys: number): fc.Arbitrary<Op> =>
  fc.oneof(
    { arbitrary: fc.record({ kind: fc.constant('set' as const), key: fc.nat(keys), value: fc.integer() }), weight: 5 },
    { arbitrary: fc.record({ kind: fc.constant('del' as const), key: fc.nat(keys) }), weight: 4 },
    { arbitrary: fc.record({ kind: fc.constant('scan' as const), from: fc.nat(keys) }), weight: 1 },
  )

describe('BTree', () => {
  it('agrees with a sorted-map oracle under random operations (fast-check; seed printed on failure)', () => {
    for (const order of [4, 5, 8]) {
      fc.assert(fc.property(fc.array(opArb(200), { maxLength: 600 }), (ops) => runAgainstOracle(ops, order)), { numRuns: 150 })
    }
  })

  it('grows and shrinks through many levels (seeded loop)', () => {
    const seed = Number(process.env.BTREE_SEED ?? Date.now() % 1_000_000)
    let state = seed
    const rand = (n: number): number => {
      state = (state * 1103515245 + 12345) % 2147483648
      return state % n
    }
    const ops: Op[] = []
    for (let i = 0; i < 20000; i++) ops.push({ kind: 'set', key: rand(5000), value: i })
    for (let i = 0; i < 20000; i++) ops.push(rand(10) < 7 ? { kind: 'del', key: rand(5000) } : { kind: 'set', key: rand(5000), value: i })
    for (let i = 0; i < 5000; i++) ops.push({ kind: 'del', key: i })
    try {
      runAgainstOracle(ops, 4)
      runAgainstOracle(ops, 32)
    } catch (err) {
      console.error(`BTree seeded loop failed; replay: BTREE_SEED=${seed} node scripts/test.mjs test/mvcc/btree`)
      throw err
    }
  })

  it('stops a walk when the visitor returns false', () => {
    const tree = new BTree<string, number>(compareStrings)
    for (let i = 0; i < 1000; i++) tree.set(String(i).padStart(4, '0'), i)
    const seen: string[] = []
    tree.ascend('0500', (k) => {
      seen.push(k)
      return seen.length < 3
    })
    assert.deepEqual(seen, ['0500', '0501', '0502'])
    tree.clear()
    assert.equal(tree.size, 0)
    assert.deepEqual([...tree.entries()], [])
  })

  it('inserts 1M binary-string keys in a few seconds', () => {
    const tree = new BTree<string, number>(compareStrings)
    const n = 1_000_000
    const keys: string[] = new Array(n)
    let state = 42
    for (let i = 0; i < n; i++) {
      state = (state * 1103515245 + 12345) % 2147483648
      keys[i] = `key/${state.toString(16)}/${i}`
    }
    const heapBefore = process.memoryUsage().heapUsed
    // CPU time, not wall time: the assertion must hold on a loaded CI machine.
    const cpu0 = process.cpuUsage()
    const t0 = performance.now()
    for (let i = 0; i < n; i++) tree.set(keys[i]!, i)
    const wallMs = performance.now() - t0
    const cpu = process.cpuUsage(cpu0)
    const ms = (cpu.user + cpu.system) / 1000
    const mb = (process.memoryUsage().heapUsed - heapBefore) / 2 ** 20
    console.log(`BTree: 1M random inserts in ${ms.toFixed(0)} ms CPU (${wallMs.toFixed(0)} ms wall), ~${mb.toFixed(0)} MB heap`)
    assert.equal(tree.size, n)
    assert.ok(ms < 10_000, `1M inserts took ${ms} ms of CPU`)
    let count = 0
    let prev = ''
    tree.ascend(undefined, (k) => {
      assert.ok(k > prev)
      prev = k
      count++
    })
    assert.equal(count, n)
  })
})
