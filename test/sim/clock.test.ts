import { spawnSync } from 'node:child_process'
import { strict as assert } from 'node:assert'
import { describe, it } from 'node:test'
import { InvalidArgumentError, InvariantError } from '../../src/errors.js'
import { ManualClock, RealClock, whileHeld } from '../../src/sim/clock.js'
import { Random } from '../../src/sim/random.js'

describe('ManualClock', () => {
  it('does not move or fire anything by itself', () => {
    const clock = new ManualClock({ start: 100 })
    let fired = 0
    clock.setTimer(0, () => fired++)
    assert.equal(clock.now(), 100)
    assert.equal(fired, 0)
    assert.equal(clock.advance(0), 1)
    assert.equal(fired, 1)
  })

  it('fires due timers in time order, same-time timers in creation order', () => {
    const clock = new ManualClock()
    const log: string[] = []
    clock.setTimer(30, () => log.push(`c@${clock.now()}`))
    clock.setTimer(10, () => log.push(`a1@${clock.now()}`))
    clock.setTimer(20, () => log.push(`b@${clock.now()}`))
    clock.setTimer(10, () => log.push(`a2@${clock.now()}`))
    clock.setTimer(10, () => log.push(`a3@${clock.now()}`))
    assert.equal(clock.advance(25), 4)
    assert.deepEqual(log, ['a1@10', 'a2@10', 'a3@10', 'b@20'])
    assert.equal(clock.now(), 25)
    clock.advance(5)
    assert.deepEqual(log.at(-1), 'c@30')
  })

  it('fires timers created while advancing when they fall due inside the window', () => {
    const clock = new ManualClock()
    const log: string[] = []
    clock.setTimer(10, () => {
      log.push(`outer@${clock.now()}`)
      clock.setTimer(0, () => log.push(`zero@${clock.now()}`))
      clock.setTimer(5, () => {
        log.push(`inner@${clock.now()}`)
        clock.setTimer(100, () => log.push(`late@${clock.now()}`))
      })
    })
    clock.setTimer(10, () => log.push(`sibling@${clock.now()}`))
    clock.advance(20)
    assert.deepEqual(log, ['outer@10', 'sibling@10', 'zero@10', 'inner@15'])
    assert.equal(clock.pendingTimers(), 1)
    assert.equal(clock.nextTimerAt(), 115)
  })

  it('cancels timers, idempotently, including from another timer at the same time', () => {
    const clock = new ManualClock()
    const log: string[] = []
    const a = clock.setTimer(10, () => log.push('a'))
    const b = clock.setTimer(10, () => log.push('b'))
    clock.setTimer(5, () => b.cancel())
    a.cancel()
    a.cancel()
    assert.equal(clock.pendingTimers(), 2)
    clock.advance(10)
    assert.deepEqual(log, [])
    assert.equal(clock.pendingTimers(), 0)
    assert.equal(clock.nextTimerAt(), undefined)
  })

  it('cancel after firing is a no-op and does not disturb the count', () => {
    const clock = new ManualClock()
    const h = clock.setTimer(1, () => {})
    clock.setTimer(5, () => {})
    clock.advance(1)
    h.cancel()
    assert.equal(clock.pendingTimers(), 1)
  })

  it('every() ticks at a fixed rate and stops when cancelled, even from its own callback', () => {
    const clock = new ManualClock()
    const times: number[] = []
    const h = clock.every(100, () => {
      times.push(clock.now())
      if (times.length === 3) h.cancel()
    })
    clock.advance(1000)
    assert.deepEqual(times, [100, 200, 300])
    assert.equal(clock.pendingTimers(), 0)
  })

  it('every() keeps ticking when its callback throws', () => {
    const clock = new ManualClock()
    let n = 0
    clock.every(10, () => {
      n++
      throw new Error('boom')
    })
    assert.throws(() => clock.advance(10), /boom/)
    assert.throws(() => clock.advance(10), /boom/)
    assert.equal(n, 2)
    assert.equal(clock.pendingTimers(), 1)
  })

  it('a throwing timer leaves time at its due time and later timers pending', () => {
    const clock = new ManualClock()
    const log: number[] = []
    clock.setTimer(10, () => {
      throw new Error('boom')
    })
    clock.setTimer(20, () => log.push(clock.now()))
    assert.throws(() => clock.advance(50), /boom/)
    assert.equal(clock.now(), 10)
    assert.equal(clock.pendingTimers(), 1)
    clock.advanceTo(50)
    assert.deepEqual(log, [20])
  })

  it('step() jumps to the next due time only', () => {
    const clock = new ManualClock()
    clock.setTimer(7, () => {})
    clock.setTimer(7, () => {})
    clock.setTimer(9, () => {})
    assert.equal(clock.step(), 2)
    assert.equal(clock.now(), 7)
    assert.equal(clock.step(), 1)
    assert.equal(clock.step(), 0)
    assert.equal(clock.now(), 9)
  })

  it('rejects bad arguments and re-entrant advance', () => {
    const clock = new ManualClock()
    assert.throws(() => clock.advance(-1), InvalidArgumentError)
    assert.throws(() => clock.advance(Number.NaN), InvalidArgumentError)
    clock.advance(10)
    assert.throws(() => clock.advanceTo(5), InvalidArgumentError)
    assert.throws(() => clock.setTimer(Number.NaN, () => {}), InvalidArgumentError)
    assert.throws(() => clock.every(0, () => {}), InvalidArgumentError)
    clock.setTimer(1, () => clock.advance(1))
    assert.throws(() => clock.advance(1), InvariantError)
  })

  it('close() cancels everything and makes later timers inert', () => {
    const clock = new ManualClock()
    let fired = 0
    clock.setTimer(1, () => fired++)
    clock.every(1, () => fired++)
    clock.close()
    assert.equal(clock.pendingTimers(), 0)
    clock.setTimer(1, () => fired++).cancel()
    clock.setTimer(1, () => fired++)
    clock.advance(10)
    assert.equal(fired, 0)
    assert.equal(clock.closed, true)
  })

  it('advanceAsync() settles between due times so async work sees each step', async () => {
    const clock = new ManualClock()
    const log: string[] = []
    clock.every(10, () => {
      const at = clock.now()
      void Promise.resolve().then(() => log.push(`reply@${at} seen@${clock.now()}`))
    })
    const fired = await clock.advanceAsync(30)
    assert.equal(fired, 3)
    assert.deepEqual(log, ['reply@10 seen@10', 'reply@20 seen@20', 'reply@30 seen@30'])
    assert.equal(clock.now(), 30)
  })

  it('agrees with a naive sorted list over random schedules and cancellations', () => {
    const seed = 20240607
    const rng = new Random(seed)
    for (let round = 0; round < 20; round++) {
      const clock = new ManualClock()
      const expected: { at: number; id: number; cancelled: boolean }[] = []
      const fired: number[] = []
      const handles: { cancel(): void }[] = []
      for (let id = 0; id < 300; id++) {
        const at = rng.int(50)
        expected.push({ at, id, cancelled: false })
        handles.push(clock.setTimer(at, () => fired.push(id)))
      }
      for (let k = 0; k < 200; k++) {
        const id = rng.int(300)
        ;(handles[id] as { cancel(): void }).cancel()
        ;(expected[id] as { cancelled: boolean }).cancelled = true
      }
      const want = expected.filter((e) => !e.cancelled).sort((x, y) => x.at - y.at || x.id - y.id)
      assert.equal(clock.pendingTimers(), want.length, `seed ${seed}`)
      clock.advance(50)
      assert.deepEqual(fired, want.map((e) => e.id), `seed ${seed} round ${round}`)
    }
  })
})

describe('RealClock', () => {
  it('fires timers and every(), honours cancel, and counts outstanding timers', async () => {
    const clock = new RealClock()
    const t0 = clock.now()
    const log: string[] = []
    clock.setTimer(5, () => log.push('once'))
    clock.setTimer(5, () => log.push('cancelled')).cancel()
    const ticks = clock.every(3, () => log.push('tick'))
    assert.equal(clock.pendingTimers(), 2)
    await new Promise((resolve) => setTimeout(resolve, 40))
    ticks.cancel()
    assert.ok(log.includes('once'))
    assert.ok(!log.includes('cancelled'))
    assert.ok(log.filter((e) => e === 'tick').length >= 2)
    assert.ok(clock.now() - t0 >= 5)
    assert.equal(clock.pendingTimers(), 0)
    clock.close()
  })

  it('close() cancels outstanding timers', async () => {
    const clock = new RealClock()
    let fired = 0
    clock.setTimer(1, () => fired++)
    clock.every(1, () => fired++)
    clock.close()
    clock.setTimer(1, () => fired++)
    await new Promise((resolve) => setTimeout(resolve, 15))
    assert.equal(fired, 0)
    assert.equal(clock.pendingTimers(), 0)
  })

  it('unrefs host timers by default, not when told otherwise', () => {
    const real = globalThis.setTimeout
    const handles: NodeJS.Timeout[] = []
    const spy = ((fn: () => void, ms: number) => {
      const h = real(fn, ms)
      handles.push(h)
      return h
    }) as typeof globalThis.setTimeout
    globalThis.setTimeout = spy
    try {
      const quiet = new RealClock()
      quiet.setTimer(60_000, () => {})
      const loud = new RealClock({ unref: false })
      loud.setTimer(60_000, () => {})
      assert.equal(handles.length, 2)
      assert.equal(handles[0]?.hasRef(), false)
      assert.equal(handles[1]?.hasRef(), true)
      quiet.close()
      loud.close()
    } finally {
      globalThis.setTimeout = real
    }
  })

  it('does not keep the process alive with a pending timer', () => {
    const script = [
      "import { RealClock } from './src/sim/clock.ts'",
      'const clock = new RealClock()',
      "clock.setTimer(3_600_000, () => console.log('fired'))",
      "clock.every(1_000, () => console.log('tick'))",
    ].join('\n')
    const started = Date.now()
    const res = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      encoding: 'utf8',
      timeout: 20_000,
    })
    assert.equal(res.status, 0, res.stderr)
    assert.equal(res.stdout, '')
    assert.ok(Date.now() - started < 15_000)
  })
})

describe('whileHeld', () => {
  /** A hold that counts what is held, as a clock's `hold` keeps the host alive while it is above 0. */
  function counter(): { hold: () => () => void; held: () => number } {
    let n = 0
    return {
      hold: () => {
        n++
        return () => void n--
      },
      held: () => n,
    }
  }

  it('holds while the run is pending and releases when it settles, before the caller continues', async () => {
    const c = counter()
    let resolve!: (v: string) => void
    const p = whileHeld(c.hold, () => new Promise<string>((r) => (resolve = r)))
    assert.equal(c.held(), 1)
    resolve('done')
    const seen = await p.then((v) => [v, c.held()])
    assert.deepEqual(seen, ['done', 0])
  })

  it('a rejection reaches the caller and releases the hold', async () => {
    const c = counter()
    const p = whileHeld(c.hold, () => Promise.reject(new Error('refused')))
    await assert.rejects(p, /refused/)
    assert.equal(c.held(), 0)
  })

  it('a run that throws at once becomes a rejection, with the hold released', async () => {
    const c = counter()
    const p = whileHeld(c.hold, () => {
      throw new Error('bad request')
    })
    assert.equal(c.held(), 0)
    await assert.rejects(p, /bad request/)
  })
})
