// Quick start: a 3-member in-memory etcd cluster in this process. A watch on a prefix, a few
// writes, a historical read, a transaction, then a failover: the leader crashes, the others
// elect a new one, no acknowledged write is lost, the watch carries on from another member
// without a gap, and the old leader rejoins and catches up.
//
// Run it with `npm start`.
import { Store } from '../src/index.js'
import { assertConverged } from '../src/testing/index.js'
import { z } from 'zod'

const User = z.object({ name: z.string(), age: z.number() })

const store = await Store.open({ members: 3 })
console.log(`cluster ${store.clusterId}: members ${store.memberNames.join(', ')}, leader ${store.sim.leader()}`)

// A watch on every key under user/: events arrive in revision order, each exactly once.
const watcher = await store.watch().prefix('user/').withPreviousKV().create()
const events: string[] = []
const text = (b: Uint8Array): string => new TextDecoder().decode(b)
watcher.on('put', (kv, prev) => {
  events.push(`${text(kv.key)}@${kv.modRevision}`)
  console.log(`  watch: put ${text(kv.key)} at revision ${kv.modRevision}${prev ? ` (was ${text(prev.value)})` : ''}`)
})

// Writes go through Raft: answered once a quorum has them and the leader applied them.
const first = await store.kv.put({ key: 'user/john', value: JSON.stringify({ name: 'John', age: 45 }) })
await store.put('user/mary').value(JSON.stringify({ name: 'Mary', age: 38 }))
await store.put('user/john').value(JSON.stringify({ name: 'John', age: 46 }))
console.log('put user/john at revision', first.header.revision)

// Typed reads, validated by a zod schema.
const john = await store.get('user/john').json(User)
console.log('user/john now:', john)
console.log('user/ keys:', await store.getAll().prefix('user/').keys())

// etcd's MVCC: read the past.
const past = await store.kv.range({ key: 'user/john', revision: first.header.revision })
console.log('user/john at revision', first.header.revision, ':', new TextDecoder().decode(past.kvs[0]!.value))

// A transaction: compare-and-set on the key's version.
const cas = await store.if('config/mode', 'Version', '==', 0).then(store.put('config/mode').value('blue')).commit()
console.log('create-if-absent succeeded:', cas.succeeded)

// Failover: crash the leader, keep writing, bring it back.
const oldLeader = store.sim.leader()!
await store.sim.crash(oldLeader)
const elected = await store.sim.until(() => store.sim.leader() !== undefined && store.sim.leader() !== oldLeader, 10_000)
console.log(`crashed leader ${oldLeader}; new leader: ${elected ? store.sim.leader() : 'none'}`)
await store.put('user/ann').value(JSON.stringify({ name: 'Ann', age: 29 }))
console.log('write during failover ok; users:', await store.getAll().prefix('user/').count())
await store.sim.restart(oldLeader)
const hashes = await assertConverged(store)
console.log(`${oldLeader} restarted and caught up: every member at revision ${hashes[0]!.revision}, hash ${hashes[0]!.hash}`)

// The watch saw every user/ write, the one made during the failover included.
await store.sim.until(() => events.length === 4, 10_000)
console.log('watch saw, in order:', events.join(', '))
await watcher.cancel()

await store.close()
console.log('closed')
