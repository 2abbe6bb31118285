/**
 * Differential test of the Cluster and Maintenance services against a real etcd 3.4 through
 * its JSON gateway: member list shape, adding a learner and the add errors (duplicate peer
 * URL, invalid URL, a second learner), promoting a learner that is not in sync, removing an
 * unknown id, status fields and the alarm list. Ids and URLs differ by nature; shapes and
 * error messages must not.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { Store } from '../../src/store.js'
import { EtcdError } from '../../src/errors.js'
import { EtcdGateway } from '../support/etcd-gateway.js'
import { etcdBinaryOrSkip, findEtcdBinary, startEtcd, type EtcdProcess } from '../support/etcd-process.js'

type Outcome = { ok: true; value: unknown } | { ok: false; message: string }

async function outcome(p: Promise<unknown>): Promise<Outcome> {
  try {
    return { ok: true, value: await p }
  } catch (err) {
    if (!(err instanceof EtcdError)) throw err
    return { ok: false, message: err.message }
  }
}

/** etcd's gateway member (proto names, defaults omitted) in our shape. */
function theirMember(m: Record<string, unknown>): Record<string, unknown> {
  return { id: String(m.ID ?? '0'), name: m.name ?? '', peerURLs: m.peerURLs ?? [], clientURLs: m.clientURLs ?? [], isLearner: m.isLearner ?? false }
}

function shape(v: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, Array.isArray(x) ? 'array' : typeof x]))
}

describe('Cluster and Maintenance services against etcd 3.4', () => {
  let etcd: EtcdProcess | undefined
  let gw: EtcdGateway
  let store: Store | undefined

  before(async () => {
    if (findEtcdBinary() === undefined) return
    etcd = await startEtcd()
    gw = new EtcdGateway(etcd.clientUrl)
    store = await Store.open({ members: 1 })
  })
  after(async () => {
    await store?.close()
    await etcd?.stop()
  })

  test('member list, learner add and its errors, promote not ready, remove unknown', async (t) => {
    if (etcdBinaryOrSkip(t) === undefined) return
    const theirs = ((await gw.call('cluster/member/list', {})).members as Record<string, unknown>[]).map(theirMember)
    const ours = (await store!.cluster.memberList()).members
    assert.equal(ours.length, theirs.length)
    assert.deepEqual(shape(ours[0]! as unknown as Record<string, unknown>), shape(theirs[0]!))

    const url = 'http://127.0.0.1:12380'
    const tAdd = await gw.call('cluster/member/add', { peerURLs: [url], isLearner: true })
    const oAdd = await store!.cluster.memberAdd({ peerURLs: [url], isLearner: true })
    const tMember = theirMember(tAdd.member as Record<string, unknown>)
    assert.equal(tMember.isLearner, true)
    assert.equal(oAdd.member.isLearner, true)
    assert.deepEqual(oAdd.member.peerURLs, tMember.peerURLs)
    assert.equal((tAdd.members as unknown[]).length, oAdd.members.length)
    // our learner is started in-process; stop it so it stays behind as etcd's never-started one
    await store!.sim.crash(oAdd.member.name)

    const cases: [string, (side: 'ours' | 'theirs') => Promise<unknown>][] = [
      // etcd derives a new member's id from its peer URLs and the current second, so re-adding the
      // very same URL list within a second reports `member ID already exist`; a list that only
      // shares one URL reaches the duplicate URL check on both sides
      ['duplicate peer URL', (s) => (s === 'ours' ? store!.cluster.memberAdd({ peerURLs: [url, 'http://127.0.0.1:12999'], isLearner: false }) : gw.call('cluster/member/add', { peerURLs: [url, 'http://127.0.0.1:12999'] }))],
      ['invalid URL', (s) => (s === 'ours' ? store!.cluster.memberAdd({ peerURLs: ['127.0.0.1:2380'] }) : gw.call('cluster/member/add', { peerURLs: ['127.0.0.1:2380'] }))],
      ['URL with a path', (s) => (s === 'ours' ? store!.cluster.memberAdd({ peerURLs: ['http://127.0.0.1:2380/x'] }) : gw.call('cluster/member/add', { peerURLs: ['http://127.0.0.1:2380/x'] }))],
      ['second learner', (s) => (s === 'ours' ? store!.cluster.memberAdd({ peerURLs: ['http://127.0.0.1:12381'], isLearner: true }) : gw.call('cluster/member/add', { peerURLs: ['http://127.0.0.1:12381'], isLearner: true }))],
      ['promote a learner not in sync', (s) => (s === 'ours' ? store!.cluster.memberPromote({ id: oAdd.member.id }) : gw.call('cluster/member/promote', { ID: tMember.id }))],
      ['promote a voter', (s) => (s === 'ours' ? store!.cluster.memberPromote({ id: store!.member('m1').id }) : gw.call('cluster/member/promote', { ID: theirs[0]!.id }))],
      ['remove an unknown id', (s) => (s === 'ours' ? store!.cluster.memberRemove({ id: '1234567' }) : gw.call('cluster/member/remove', { ID: '1234567' }))],
    ]
    for (const [what, run] of cases) {
      const [o, th] = [await outcome(run('ours')), await outcome(run('theirs'))]
      assert.equal(o.ok, false, `${what}: ours succeeded`)
      assert.equal(th.ok, false, `${what}: etcd succeeded`)
      if (!o.ok && !th.ok) assert.equal(o.message, th.message, what)
    }
    // both remove the learner again
    await gw.call('cluster/member/remove', { ID: tMember.id })
    const removed = await store!.cluster.memberRemove({ id: oAdd.member.id })
    assert.equal(removed.members.length, 1)
  })

  test('status fields and the alarm list', async (t) => {
    if (etcdBinaryOrSkip(t) === undefined) return
    const theirs = await gw.call('maintenance/status', {})
    const ours = await store!.maintenance.status()
    for (const k of ['version', 'dbSize', 'leader', 'raftIndex', 'raftTerm']) assert.ok(k in theirs, `etcd status has ${k}`)
    assert.equal(ours.version, String(theirs.version))
    for (const k of ['version', 'dbSize', 'dbSizeInUse', 'leader', 'raftIndex', 'raftTerm', 'raftAppliedIndex', 'errors', 'isLearner']) assert.ok(k in ours, k)
    const tAlarms = await gw.call('maintenance/alarm', { action: 'GET' })
    const oAlarms = await store!.maintenance.alarm({ action: 'GET' })
    assert.deepEqual(oAlarms.alarms, (tAlarms.alarms as unknown[] | undefined) ?? [])
  })
})
