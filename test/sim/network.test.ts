import { strict as assert } from 'node:assert'
import { describe, it } from 'node:test'
import { InvalidArgumentError } from '../../src/errors.js'
import { ManualClock } from '../../src/sim/clock.js'
import { Network, type NetworkEvent, type NetworkFaults } from '../../src/sim/network.js'
import { Random } from '../../src/sim/random.js'

const MEMBERS = ['m1', 'm2', 'm3', 'm4', 'm5']

/** A network of five endpoints whose inboxes record `from:msg`. */
function setup(seed = 1, faults?: Partial<NetworkFaults>) {
  const clock = new ManualClock()
  const events: NetworkEvent<string>[] = []
  const net = new Network<string>({ clock, random: new Random(seed), trace: (e) => events.push(e), faults })
  const inbox = new Map<string, string[]>()
  for (const id of MEMBERS) {
    inbox.set(id, [])
    net.register(id, (from, msg) => inbox.get(id)?.push(`${from}:${msg}`))
  }
  const got = (id: string): string[] => inbox.get(id) ?? []
  return { clock, net, events, got }
}

/** Lets queued microtasks (the network's zero-delay drain) run. */
async function tick(): Promise<void> {
  await new Promise<void>((resolve) => setImmediate(resolve))
}

function checkStats(net: Network<string>): void {
  const s = net.stats()
  assert.equal(s.sent + s.duplicated, s.delivered + s.dropped + s.inFlight, JSON.stringify(s))
  assert.equal(Object.values(s.droppedBy).reduce((a, b) => a + b, 0), s.dropped)
}

describe('Network', () => {
  it('delivers asynchronously, in send order', async () => {
    const { net, got } = setup()
    for (let i = 0; i < 5; i++) net.send('m1', 'm2', `a${i}`)
    net.send('m3', 'm2', 'b0')
    net.send('m1', 'm2', 'a5')
    assert.deepEqual(got('m2'), [], 'nothing is delivered synchronously')
    await tick()
    assert.deepEqual(got('m2'), ['m1:a0', 'm1:a1', 'm1:a2', 'm1:a3', 'm1:a4', 'm3:b0', 'm1:a5'])
    checkStats(net)
  })

  it('delivers messages sent by handlers, and flush() delivers synchronously', () => {
    const clock = new ManualClock()
    const net = new Network<number>({ clock, random: new Random(1) })
    const seen: number[] = []
    net.register('a', (_from, n) => {
      seen.push(n)
      if (n < 3) net.send('a', 'b', n + 1)
    })
    net.register('b', (_from, n) => {
      seen.push(n)
      net.send('b', 'a', n + 1)
    })
    net.send('a', 'b', 0)
    assert.deepEqual(seen, [])
    assert.equal(net.flush(), 4)
    assert.deepEqual(seen, [0, 1, 2, 3])
  })

  it('drops messages to or from unregistered endpoints', async () => {
    const { net, got } = setup()
    net.send('m1', 'nobody', 'x')
    net.send('ghost', 'm1', 'y')
    net.send('m1', 'm2', 'z')
    net.unregister('m2')
    await tick()
    assert.deepEqual(got('m2'), [])
    assert.equal(net.stats().droppedBy.unregistered, 3)
    assert.throws(() => net.register('m1', () => {}), InvalidArgumentError)
    checkStats(net)
  })

  it('drops messages in flight across a restart (unregister, register again)', async () => {
    const { net } = setup()
    const seen: string[] = []
    net.send('m1', 'm2', 'old')
    net.unregister('m2')
    net.register('m2', (from, msg) => seen.push(`${from}:${msg}`))
    net.send('m1', 'm2', 'new')
    await tick()
    assert.deepEqual(seen, ['m1:new'])
    assert.equal(net.stats().droppedBy.restarted, 1)
  })

  describe('partitions', () => {
    const cases: { name: string; apply: (net: Network<string>) => void; reach: [string, string, boolean][] }[] = [
      {
        name: 'two listed groups; unlisted members form a third group together',
        apply: (net) => net.partition(['m1', 'm2'], ['m3']),
        reach: [
          ['m1', 'm2', true],
          ['m2', 'm1', true],
          ['m1', 'm3', false],
          ['m3', 'm1', false],
          ['m4', 'm5', true],
          ['m1', 'm4', false],
          ['m3', 'm5', false],
          ['m3', 'm3', true],
        ],
      },
      {
        name: 'one listed group: the rest stay connected among themselves',
        apply: (net) => net.partition(['m1']),
        reach: [
          ['m1', 'm2', false],
          ['m2', 'm3', true],
          ['m5', 'm1', false],
        ],
      },
      {
        name: 'isolate cuts one member off both ways, on top of a partition',
        apply: (net) => {
          net.partition(['m1', 'm2', 'm3'], ['m4', 'm5'])
          net.isolate('m2')
        },
        reach: [
          ['m1', 'm2', false],
          ['m2', 'm3', false],
          ['m1', 'm3', true],
          ['m4', 'm5', true],
          ['m1', 'm4', false],
        ],
      },
      {
        name: 'cut is one way',
        apply: (net) => net.cut('m1', 'm2'),
        reach: [
          ['m1', 'm2', false],
          ['m2', 'm1', true],
          ['m1', 'm3', true],
        ],
      },
      {
        name: 'a new partition replaces the previous one',
        apply: (net) => {
          net.partition(['m1'], ['m2'])
          net.partition(['m1', 'm2'])
        },
        reach: [
          ['m1', 'm2', true],
          ['m2', 'm3', false],
          ['m3', 'm4', true],
        ],
      },
    ]
    for (const c of cases) {
      it(c.name, async () => {
        const { net, got } = setup()
        c.apply(net)
        for (const [from, to, ok] of c.reach) {
          assert.equal(net.canReach(from, to), ok, `${from} -> ${to}`)
          net.send(from, to, `${from}>${to}`)
        }
        await tick()
        for (const [from, to, ok] of c.reach) {
          assert.equal(got(to).includes(`${from}:${from}>${to}`), ok, `${from} -> ${to} delivered`)
        }
        net.heal()
        for (const [from, to] of c.reach) assert.ok(net.canReach(from, to), `healed ${from} -> ${to}`)
        checkStats(net)
      })
    }

    it('takes effect for messages already in flight, and heal() reconnects', async () => {
      const { net, got, clock } = setup(1, { delayMs: [5, 5] })
      net.send('m1', 'm2', 'queued')
      net.partition(['m1'], ['m2'])
      clock.advance(10)
      await tick()
      assert.deepEqual(got('m2'), [])
      assert.equal(net.stats().droppedBy.partitioned, 1)
      net.heal()
      net.send('m1', 'm2', 'after')
      clock.advance(10)
      assert.deepEqual(got('m2'), ['m1:after'])
    })

    it('rejects a member listed in two groups', () => {
      const { net } = setup()
      assert.throws(() => net.partition(['m1', 'm2'], ['m2']), InvalidArgumentError)
    })
  })

  it('down() drops messages to and from a member until up()', async () => {
    const { net, got } = setup()
    net.down('m3')
    assert.equal(net.isDown('m3'), true)
    net.send('m1', 'm3', 'to-down')
    net.send('m3', 'm1', 'from-down')
    net.send('m1', 'm2', 'ok')
    await tick()
    assert.deepEqual(got('m3'), [])
    assert.deepEqual(got('m1'), [])
    assert.deepEqual(got('m2'), ['m1:ok'])
    assert.equal(net.stats().droppedBy.down, 2)
    net.send('m1', 'm3', 'while-down')
    net.heal()
    assert.equal(net.isDown('m3'), true, 'heal() does not restart crashed members')
    net.up('m3')
    net.send('m1', 'm3', 'back')
    net.send('m1', 'm2', 'in-flight')
    net.down('m2')
    await tick()
    assert.deepEqual(got('m3'), ['m1:back'])
    assert.deepEqual(got('m2'), ['m1:ok'], 'down() takes effect for messages in flight')
    assert.equal(net.stats().droppedBy.down, 4)
    checkStats(net)
  })

  it('drops and duplicates at roughly the configured rates', async () => {
    const seed = 4242
    const { net, got } = setup(seed, { drop: 0.2, duplicate: 0.1 })
    const N = 10_000
    for (let i = 0; i < N; i++) net.send('m1', 'm2', String(i))
    await tick()
    const s = net.stats()
    assert.ok(Math.abs(s.droppedBy.random / N - 0.2) < 0.02, `drop rate ${s.droppedBy.random / N} (seed ${seed})`)
    assert.ok(Math.abs(s.duplicated / (N - s.dropped) - 0.1) < 0.02, `duplicate rate (seed ${seed})`)
    assert.equal(got('m2').length, s.delivered)
    assert.equal(s.inFlight, 0)
    checkStats(net)
    // Duplicates arrive right after their original when there is no delay.
    const msgs = got('m2')
    assert.equal(new Set(msgs).size, N - s.dropped)
  })

  it('with a delay, nothing arrives before the clock advances', async () => {
    const { net, got, clock, events } = setup(9, { delayMs: [10, 20] })
    for (let i = 0; i < 50; i++) net.send('m1', 'm2', String(i))
    await tick()
    assert.deepEqual(got('m2'), [])
    clock.advance(9)
    assert.deepEqual(got('m2'), [])
    assert.equal(net.stats().inFlight, 50)
    clock.advance(11)
    assert.equal(got('m2').length, 50)
    const times = events.filter((e) => e.type === 'deliver').map((e) => e.time)
    assert.ok(times.every((t) => t >= 10 && t <= 20))
    assert.ok(new Set(times).size > 1, 'delays vary')
    assert.deepEqual(got('m2'), Array.from({ length: 50 }, (_, i) => `m1:${i}`), 'FIFO per link without reorder')
    assert.equal(clock.pendingTimers(), 0)
  })

  it('keeps FIFO per link when a zero-delay message follows a delayed one', async () => {
    const { net, got, clock } = setup(1, { delayMs: [5, 5] })
    net.send('m1', 'm2', 'slow')
    net.configure({ delayMs: [0, 0] })
    net.send('m1', 'm2', 'fast')
    net.send('m3', 'm2', 'other-link')
    await tick()
    assert.deepEqual(got('m2'), ['m3:other-link'])
    clock.advance(5)
    assert.deepEqual(got('m2'), ['m3:other-link', 'm1:slow', 'm1:fast'])
  })

  it('delivers queued zero-delay messages before a timed one when time advances synchronously', () => {
    const { net, got, clock } = setup()
    net.send('m1', 'm2', 'first')
    net.configure({ delayMs: [3, 3] })
    net.send('m1', 'm2', 'second')
    clock.advance(3)
    assert.deepEqual(got('m2'), ['m1:first', 'm1:second'])
  })

  it('reorder lets messages on one link overtake each other', async () => {
    const { net, got, clock } = setup(5, { delayMs: [0, 30], reorder: true })
    for (let i = 0; i < 100; i++) net.send('m1', 'm2', String(i))
    await tick()
    clock.advance(30)
    await tick()
    const order = got('m2').map((m) => Number(m.slice(3)))
    assert.equal(order.length, 100)
    assert.notDeepEqual(order, [...order].sort((a, b) => a - b))
  })

  it('reorder without delay shuffles the microtask queue', async () => {
    const { net, got } = setup(5, { reorder: true })
    for (let i = 0; i < 50; i++) net.send('m1', 'm2', String(i))
    await tick()
    const order = got('m2').map((m) => Number(m.slice(3)))
    assert.deepEqual([...order].sort((a, b) => a - b), Array.from({ length: 50 }, (_, i) => i))
    assert.notDeepEqual(order, [...order].sort((a, b) => a - b))
  })

  it('validates configure() and merges partial updates', () => {
    const { net } = setup()
    net.configure({ drop: 0.5 })
    net.configure({ delayMs: [1, 2] })
    assert.deepEqual(net.faults, { drop: 0.5, duplicate: 0, delayMs: [1, 2], reorder: false })
    for (const bad of [{ drop: -0.1 }, { duplicate: 2 }, { delayMs: [5, 1] as const }, { delayMs: [0.5, 1] as const }]) {
      assert.throws(() => net.configure(bad), InvalidArgumentError)
    }
    assert.deepEqual(net.faults.delayMs, [1, 2], 'a rejected configure changes nothing')
  })

  it('close() drops everything in flight and cancels its timers', async () => {
    const { net, got, clock } = setup(1, { delayMs: [0, 10] })
    for (let i = 0; i < 20; i++) net.send('m1', 'm2', String(i))
    net.close()
    assert.equal(clock.pendingTimers(), 0)
    net.send('m1', 'm2', 'late')
    clock.advance(100)
    await tick()
    assert.deepEqual(got('m2'), [])
    const s = net.stats()
    assert.equal(s.droppedBy.closed, 21)
    assert.equal(s.inFlight, 0)
    checkStats(net)
  })

  describe('determinism', () => {
    /** A fault-heavy run whose trace (every send, delivery, drop) is returned. */
    async function run(seed: number): Promise<string[]> {
      const clock = new ManualClock()
      const trace: string[] = []
      const net = new Network<string>({
        clock,
        random: new Random(seed).fork('network'),
        trace: (e) => trace.push(`${e.time} ${e.type} #${e.seq} ${e.from}>${e.to} ${e.msg}${e.type === 'drop' ? ` (${e.reason})` : ''}`),
        faults: { drop: 0.1, duplicate: 0.05, delayMs: [0, 15], reorder: true },
      })
      const driver = new Random(seed).fork('driver')
      let n = 0
      for (const id of MEMBERS) {
        net.register(id, (from, msg) => {
          // Reply sometimes, so deliveries cause sends.
          if (driver.chance(0.3) && n < 2000) net.send(id, from, `re:${msg}:${n++}`)
        })
      }
      for (let step = 0; step < 200; step++) {
        if (step === 50) net.partition(['m1', 'm2'], ['m3'])
        if (step === 100) net.heal()
        if (step === 120) net.down('m4')
        if (step === 150) net.up('m4')
        for (let k = 0; k < 3; k++) net.send(driver.pick(MEMBERS), driver.pick(MEMBERS), `s${step}.${k}`)
        clock.advance(driver.int(10))
        await tick()
      }
      clock.advance(100)
      await tick()
      net.close()
      return trace
    }

    it('two runs with the same seed produce identical traces', async () => {
      const seed = 31337
      const a = await run(seed)
      const b = await run(seed)
      assert.ok(a.length > 1000, `trace has ${a.length} events`)
      assert.ok(a.some((l) => l.includes('(random)')) && a.some((l) => l.includes(' duplicate ')))
      assert.deepEqual(a, b, `replay: seed ${seed}`)
      assert.notDeepEqual(await run(seed + 1), a)
    })
  })
})
