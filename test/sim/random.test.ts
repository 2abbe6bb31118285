import { strict as assert } from 'node:assert'
import { describe, it } from 'node:test'
import { InvalidArgumentError } from '../../src/errors.js'
import { Random } from '../../src/sim/random.js'

function draws(r: Random, n: number): number[] {
  return Array.from({ length: n }, () => r.uint32())
}

describe('Random', () => {
  it('pins the stream for a seed, so recorded seeds replay on every version and host', () => {
    assert.deepEqual(draws(new Random(42), 5), [889339978, 1134675734, 3930202184, 1437827531, 3270270774])
    const net = new Random(42).fork('net')
    assert.equal(net.seed, 1243678031)
    assert.equal(net.path, 'net')
    assert.deepEqual(draws(net, 3), [3721715409, 984505936, 4210483820])
  })

  it('gives the same sequence for the same seed across every method', () => {
    const run = (seed: number) => {
      const r = new Random(seed)
      return [r.next(), r.int(1000), r.range(-5, 5), r.chance(0.5), r.pick(['a', 'b', 'c']), r.shuffle([1, 2, 3, 4, 5]), r.uint64()]
    }
    assert.deepEqual(run(7), run(7))
    assert.notDeepEqual(run(7), run(8))
  })

  it('uses every bit of the seed, including negative and above 2^32', () => {
    const seeds = [0, 1, -1, 2 ** 32, 2 ** 32 + 1, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER]
    const firsts = seeds.map((s) => draws(new Random(s), 2).join(','))
    assert.equal(new Set(firsts).size, seeds.length)
    assert.throws(() => new Random(1.5), InvalidArgumentError)
    assert.throws(() => new Random(2 ** 53), InvalidArgumentError)
  })

  it('forks independently of how many draws the parent made', () => {
    const a = new Random(99)
    const b = new Random(99)
    draws(b, 1000)
    assert.deepEqual(draws(a.fork('raft'), 10), draws(b.fork('raft'), 10))
    // A component adding draws to its stream does not shift a sibling's stream.
    const x = new Random(99)
    const raft = x.fork('raft')
    const net = x.fork('net')
    draws(raft, 500)
    assert.deepEqual(draws(net, 10), draws(new Random(99).fork('net'), 10))
  })

  it('gives different streams for different labels, and a fork replays from its seed', () => {
    const root = new Random(5)
    const labels = ['a', 'b', 'ab', 'ba', 'm1', 'm2', '']
    const streams = labels.map((l) => draws(root.fork(l), 3).join(','))
    assert.equal(new Set(streams).size, labels.length)
    assert.notDeepEqual(draws(root.fork('a'), 3), draws(new Random(6).fork('a'), 3))
    const nested = root.fork('sim').fork('net')
    assert.equal(nested.path, 'sim/net')
    assert.deepEqual(draws(new Random(nested.seed), 5), draws(root.fork('sim').fork('net'), 5))
  })

  it('int(n) is uniform and in range (chi-squared over 100k draws)', () => {
    const seed = 1234
    const r = new Random(seed)
    const n = 10
    const N = 100_000
    const counts = new Array<number>(n).fill(0)
    for (let i = 0; i < N; i++) {
      const v = r.int(n)
      assert.ok(Number.isInteger(v) && v >= 0 && v < n)
      counts[v] = (counts[v] ?? 0) + 1
    }
    const expected = N / n
    const chi2 = counts.reduce((s, c) => s + (c - expected) ** 2 / expected, 0)
    // 9 degrees of freedom: p = 0.001 at 27.9.
    assert.ok(chi2 < 27.9, `chi2 ${chi2} too large (seed ${seed})`)
  })

  it('next(), range(), chance() stay in bounds with sane rates', () => {
    const r = new Random(77)
    let sum = 0
    let hits = 0
    const N = 50_000
    for (let i = 0; i < N; i++) {
      const x = r.next()
      assert.ok(x >= 0 && x < 1)
      sum += x
      const y = r.range(-3, 4)
      assert.ok(y >= -3 && y < 4)
      if (r.chance(0.3)) hits++
    }
    assert.ok(Math.abs(sum / N - 0.5) < 0.01)
    assert.ok(Math.abs(hits / N - 0.3) < 0.01)
    assert.equal(r.chance(0), false)
    assert.equal(r.chance(1), true)
  })

  it('handles large n for int() and produces 64-bit ids', () => {
    const r = new Random(3)
    for (let i = 0; i < 1000; i++) {
      const v = r.int(2 ** 40)
      assert.ok(Number.isSafeInteger(v) && v >= 0 && v < 2 ** 40)
      const id = r.uint64()
      assert.ok(id >= 0n && id < 2n ** 64n)
    }
    assert.equal(r.int(1), 0)
  })

  it('pick() and shuffle() are fair and deterministic', () => {
    const r = new Random(11)
    const seen = new Set<string>()
    for (let i = 0; i < 200; i++) seen.add(r.pick(['x', 'y', 'z']))
    assert.deepEqual([...seen].sort(), ['x', 'y', 'z'])
    const arr = [1, 2, 3, 4, 5, 6, 7, 8]
    const out = r.shuffle(arr)
    assert.equal(out, arr, 'shuffles in place')
    assert.deepEqual([...arr].sort(), [1, 2, 3, 4, 5, 6, 7, 8])
    assert.deepEqual(new Random(1).shuffle([1, 2, 3, 4, 5, 6]), new Random(1).shuffle([1, 2, 3, 4, 5, 6]))
    // Every permutation of 3 shows up, roughly equally.
    const perms = new Map<string, number>()
    for (let i = 0; i < 6000; i++) {
      const k = r.shuffle(['a', 'b', 'c']).join('')
      perms.set(k, (perms.get(k) ?? 0) + 1)
    }
    assert.equal(perms.size, 6)
    for (const c of perms.values()) assert.ok(c > 850 && c < 1150)
  })

  it('rejects bad arguments', () => {
    const r = new Random(0)
    for (const f of [
      () => r.int(0),
      () => r.int(1.5),
      () => r.int(2 ** 53 + 2),
      () => r.range(3, 3),
      () => r.range(0.5, 2),
      () => r.chance(1.1),
      () => r.chance(Number.NaN),
      () => r.pick([]),
    ]) {
      assert.throws(f, InvalidArgumentError)
    }
  })
})
