import { test } from 'node:test'
import assert from 'node:assert/strict'
import { MemoryLevel } from 'memory-level'
import { Backend } from '../../src/mvcc/backend.js'
import { AlarmStore } from '../../src/maintenance/alarms.js'

test('AlarmStore: has() answers per type and for any type, list() is sorted, both survive a reopen', async () => {
  const db = new MemoryLevel()
  const be = await Backend.open(db)
  const alarms = await AlarmStore.open(be)
  for (const t of ['NONE', 'NOSPACE', 'CORRUPT'] as const) assert.equal(alarms.has(t), false, `${t} before any alarm`)
  await be.write(alarms.activate({ memberID: '20', alarm: 'NOSPACE' }))
  await be.write(alarms.activate({ memberID: '3', alarm: 'NOSPACE' }))
  assert.deepEqual(alarms.activate({ memberID: '3', alarm: 'NOSPACE' }), [], 'raising a raised alarm writes nothing')
  assert.equal(alarms.has('NOSPACE'), true)
  assert.equal(alarms.has('NONE'), true)
  assert.equal(alarms.has('CORRUPT'), false)
  // member ids order as numbers, not as text
  assert.deepEqual(alarms.list(), [{ memberID: '3', alarm: 'NOSPACE' }, { memberID: '20', alarm: 'NOSPACE' }])

  const reopened = await AlarmStore.open(be)
  assert.equal(reopened.has('NOSPACE'), true)
  assert.deepEqual(reopened.list(), alarms.list())

  for (const m of ['3', '20']) await be.write(alarms.deactivate({ memberID: m, alarm: 'NOSPACE' }).ops)
  assert.equal(alarms.has('NOSPACE'), false)
  assert.equal(alarms.has('NONE'), false)
  assert.equal((await AlarmStore.open(be)).has('NONE'), false)
  await db.close()
})
