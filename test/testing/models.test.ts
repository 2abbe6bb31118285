/**
 * The list-append model on hand-made txn histories: correct ones are linearizable; a lost,
 * duplicated or reordered append, or a torn multi-key txn, is not, and the anomaly finder
 * names it.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { checkLinearizability, history, listAppendModel, listAppendAnomalies, encodeList, decodeList } from '../../src/testing/index.js'
import type { ListAppendInput, ListAppendOutput, ListAppendStep, OperationSpec } from '../../src/testing/index.js'

type Op = OperationSpec<ListAppendInput, ListAppendOutput>

const append = (key: string, value: string): ListAppendStep => ({ type: 'append', key, value })
const read = (key: string): ListAppendStep => ({ type: 'read', key })
/** A txn: `reads` gives, per step, the list read (or null for appends); omit it for unknown outcomes. */
const txn = (process: number, invoke: number, complete: number, steps: ListAppendStep[], reads?: (string[] | null)[]): Op => ({
  process, invoke, complete, op: { steps }, outcome: reads === undefined ? 'info' : 'ok', ...(reads === undefined ? {} : { output: { reads } }),
})
const app = (p: number, i: number, c: number, key: string, v: string) => txn(p, i, c, [append(key, v)], [null])
const rd = (p: number, i: number, c: number, key: string, list: string[]) => txn(p, i, c, [read(key)], [list])

describe('list-append model', () => {
  const cases: { name: string; ops: Op[]; verdict: 'ok' | 'illegal'; anomaly?: string }[] = [
    { name: 'appends then a read of both', ops: [app(1, 0, 10, 'x', '1'), app(2, 20, 30, 'x', '2'), rd(3, 40, 50, 'x', ['1', '2'])], verdict: 'ok' },
    { name: 'concurrent appends read in one order', ops: [app(1, 0, 100, 'x', '1'), app(2, 0, 100, 'x', '2'), rd(3, 110, 120, 'x', ['2', '1'])], verdict: 'ok' },
    { name: 'a read while an append is running may miss it', ops: [app(1, 0, 10, 'x', '1'), app(2, 20, 100, 'x', '2'), rd(3, 30, 40, 'x', ['1'])], verdict: 'ok' },
    { name: 'an unknown append may show up', ops: [app(1, 0, 10, 'x', '1'), txn(2, 20, 30, [append('x', '2')]), rd(3, 40, 50, 'x', ['1', '2'])], verdict: 'ok' },
    { name: 'an unknown append may never show up', ops: [app(1, 0, 10, 'x', '1'), txn(2, 20, 30, [append('x', '2')]), rd(3, 40, 50, 'x', ['1'])], verdict: 'ok' },
    { name: 'a txn reads its own append', ops: [app(1, 0, 10, 'x', '1'), txn(2, 20, 30, [append('x', '2'), read('x')], [null, ['1', '2']])], verdict: 'ok' },
    {
      name: 'lost append',
      ops: [app(1, 0, 10, 'x', '1'), app(2, 20, 30, 'x', '2'), rd(3, 40, 50, 'x', ['2'])],
      verdict: 'illegal', anomaly: 'lost',
    },
    {
      name: 'duplicated append',
      ops: [app(1, 0, 10, 'x', '1'), app(2, 20, 30, 'x', '2'), rd(3, 40, 50, 'x', ['1', '2', '1'])],
      verdict: 'illegal', anomaly: 'duplicated',
    },
    {
      name: 'reordered append',
      ops: [app(1, 0, 100, 'x', '1'), app(2, 0, 100, 'x', '2'), rd(3, 110, 120, 'x', ['1', '2']), rd(4, 130, 140, 'x', ['2', '1'])],
      verdict: 'illegal', anomaly: 'reordered',
    },
    {
      name: 'a read that goes back to a shorter list',
      ops: [app(1, 0, 100, 'x', '1'), app(2, 0, 100, 'x', '2'), rd(3, 50, 60, 'x', ['1', '2']), rd(4, 70, 80, 'x', ['1'])],
      verdict: 'illegal', anomaly: 'lost',
    },
    {
      name: 'a value nobody appended',
      ops: [app(1, 0, 10, 'x', '1'), rd(3, 40, 50, 'x', ['1', '9'])],
      verdict: 'illegal', anomaly: 'phantom',
    },
    {
      name: 'a torn multi-key txn (one key\'s append seen without the other\'s)',
      ops: [txn(1, 0, 10, [append('x', '1'), append('y', '1')], [null, null]), txn(2, 20, 30, [read('x'), read('y')], [['1'], []])],
      verdict: 'illegal',
    },
  ]
  for (const c of cases) {
    it(`${c.name}: ${c.verdict === 'ok' ? 'linearizable' : 'not linearizable'}`, () => {
      const h = history(c.ops)
      const r = checkLinearizability(h, listAppendModel)
      assert.equal(r.verdict, c.verdict, r.report)
      const anomalies = listAppendAnomalies(h)
      if (c.anomaly !== undefined) assert.ok(anomalies.some((a) => a.kind === c.anomaly), `expected a ${c.anomaly} anomaly, got ${JSON.stringify(anomalies)}`)
      if (c.verdict === 'ok') assert.deepEqual(anomalies, [])
    })
  }

  it('groups txns by the keys they share', () => {
    const h = history([app(1, 0, 10, 'x', '1'), app(1, 0, 10, 'y', '1'), txn(2, 20, 30, [append('y', '2'), append('z', '1')], [null, null]), rd(3, 40, 50, 'z', ['1'])])
    assert.equal(checkLinearizability(h, listAppendModel).groups, 2)
  })

  it('the report shows txns readably', () => {
    const r = checkLinearizability(history([app(1, 0, 10, 'x', '1'), app(2, 20, 30, 'x', '2'), rd(3, 40, 50, 'x', ['2'])]), listAppendModel)
    assert.match(r.report, /txn\[read x\] -> ok \[\[2\]\]/)
    assert.match(r.report, /txn\[append x 2\]/)
  })

  it('encodes lists as comma-separated etcd values', () => {
    assert.equal(encodeList(['1', '2']), '1,2')
    assert.deepEqual(decodeList('1,2'), ['1', '2'])
    assert.deepEqual(decodeList(''), [])
    assert.deepEqual(decodeList(null), [])
  })
})
