/**
 * Child process of the SIGKILL durability test: opens a 3-member Store on the data dir given
 * as argv[2] (real clock), writes keys `w/<n>` with value `v<n>` (4 in flight at a time) and
 * prints `ack <key> <value> <revision>` for each acknowledged put, one line each, until killed.
 * Usage: node --import tsx test/support/kill-child-writer.ts <dataDir>
 */
import { Store } from '../../src/store.js'

const dataDir = process.argv[2]
if (dataDir === undefined) {
  console.error('usage: kill-child-writer.ts <dataDir>')
  process.exit(2)
}
const store = await Store.open({ dataDir, members: 3, seed: 7 })
process.stdout.write('ready\n')
let next = 0
async function writer(): Promise<void> {
  for (;;) {
    const n = ++next
    const key = `w/${String(n).padStart(6, '0')}`
    const value = `v${n}`
    const r = await store.kv.put({ key, value })
    process.stdout.write(`ack ${key} ${value} ${r.header.revision}\n`)
  }
}
await Promise.all([writer(), writer(), writer(), writer()])
