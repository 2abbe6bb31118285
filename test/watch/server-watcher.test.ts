import { test } from 'node:test'
import assert from 'node:assert/strict'
import { toBinaryString } from '../../src/api/bytes.js'
import { ServerWatcher } from '../../src/watch/watchable-store.js'
import type { WatchSink } from '../../src/watch/watchable-store.js'
import { Random } from '../../src/sim/random.js'

const sink: WatchSink = { send: () => true, hasRoom: () => true, close: () => undefined }

test('ServerWatcher.containsName agrees with contains on random keys and ranges (single key, [key, end), from key)', () => {
  const seed = 40_417
  const rnd = new Random(seed)
  // short keys over a small alphabet with the edge bytes, so that prefixes and equal keys are common
  const alphabet = [0x00, 0x01, 0x61, 0x62, 0x7f, 0x80, 0xfe, 0xff]
  const key = (): Uint8Array => Uint8Array.from({ length: rnd.int(4) }, () => alphabet[rnd.int(alphabet.length)]!)
  for (let i = 0; i < 2_000; i++) {
    const kind = rnd.int(3)
    const end = kind === 0 ? undefined : kind === 1 ? new Uint8Array(0) : key()
    const w = new ServerWatcher(String(i), { key: key(), end, startRevision: 1, filters: [], progressNotify: false, sink })
    for (let j = 0; j < 10; j++) {
      const k = key()
      assert.equal(w.containsName(toBinaryString(k)), w.contains(k), `seed ${seed}, watcher ${i} [${w.key}, ${w.end}) key [${k}]`)
    }
  }
})
