/**
 * A process killed with SIGKILL in the middle of a write load loses no acknowledged write:
 * a child (test/support/kill-child-writer.ts) opens a 3-member Store on a dataDir and prints
 * every acknowledged put; the test kills it after N acknowledgements, reopens the Store on the
 * same dataDir and checks every acknowledged key holds its value at its revision, the members
 * converge (equal hashKV) and the cluster serves writes. Repeated over several kill points,
 * and twice on the same directory (a kill after a recovery).
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Store } from '../../src/store.js'
import { assertConverged, dumpMember, hashes } from '../store/helpers.js'

let root: string
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'pocket-etcd-kill-'))
})
after(async () => {
  await rm(root, { recursive: true, force: true })
})

interface Ack {
  key: string
  value: string
  revision: number
}

/** Runs the writer on `dataDir` and SIGKILLs it once `acks` puts were acknowledged. */
function runAndKill(dataDir: string, acks: number): Promise<Ack[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/support/kill-child-writer.ts', dataDir], { stdio: ['ignore', 'pipe', 'pipe'] })
    const seen: Ack[] = []
    let buf = ''
    let stderr = ''
    let killed = false
    child.stdout.setEncoding('utf8')
    child.stdout.on('data', (d: string) => {
      buf += d
      let nl: number
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl)
        buf = buf.slice(nl + 1)
        const m = /^ack (\S+) (\S+) (\d+)$/.exec(line)
        if (m === null || killed) continue
        seen.push({ key: m[1]!, value: m[2]!, revision: Number(m[3]) })
        if (seen.length >= acks) {
          killed = true
          child.kill('SIGKILL')
        }
      }
    })
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    child.on('error', reject)
    child.on('exit', (code, signal) => {
      if (signal === 'SIGKILL') resolve(seen)
      else reject(new Error(`writer exited with ${code}/${signal} after ${seen.length} acks: ${stderr}`))
    })
  })
}

async function checkRecovered(dataDir: string, acked: readonly Ack[], context: string): Promise<void> {
  const store = await Store.open({ dataDir, members: 3, clock: 'manual', seed: 1 })
  try {
    await assertConverged(store, context)
    const hs = await hashes(store)
    assert.equal(new Set(Object.values(hs).map((h) => `${h.hash}/${h.revision}`)).size, 1, `members converge ${context}: ${JSON.stringify(hs)}`)
    const kvs = new Map((await dumpMember(store, 'm1')).kvs.map((kv) => [kv.key, kv]))
    for (const a of acked) {
      const kv = kvs.get(a.key)
      assert.ok(kv, `acknowledged ${a.key} (rev ${a.revision}) is lost ${context}`)
      assert.equal(kv.value, a.value, `${a.key}'s value ${context}`)
      assert.equal(kv.modRevision, a.revision, `${a.key}'s revision ${context}`)
    }
    const put = await store.kv.put({ key: 'after-kill', value: context })
    assert.ok(put.header.revision > Math.max(0, ...acked.map((a) => a.revision)), 'the reopened cluster serves writes past every acknowledged revision')
  } finally {
    await store.close()
  }
}

describe('SIGKILL during a write load', () => {
  for (const acks of [1, 40, 150]) {
    it(`loses no acknowledged write when killed after ${acks} acknowledgements`, async () => {
      const dir = join(root, `kill-${acks}`)
      const acked = await runAndKill(dir, acks)
      assert.ok(acked.length >= acks)
      await checkRecovered(dir, acked, `(killed after ${acks})`)
    })
  }

  it('a second kill after a recovery on the same directory loses nothing either', async () => {
    const dir = join(root, 'kill-twice')
    const first = await runAndKill(dir, 30)
    await checkRecovered(dir, first, '(first kill)')
    // the writer's keys restart at w/000001: the second run overwrites them, with new revisions
    const second = await runAndKill(dir, 60)
    const latest = new Map<string, Ack>()
    for (const a of [...first, ...second]) if ((latest.get(a.key)?.revision ?? 0) < a.revision) latest.set(a.key, a)
    await checkRecovered(dir, [...latest.values()], '(second kill)')
  })
})
