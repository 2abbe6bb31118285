/**
 * Where the client tests get a real KVApi. One place, so switching backends is one line.
 */
import { Namespace } from '../../src/client/index.js'
import { MemoryKV } from './memory-kv.js'
import { RecordingKV } from './recording-kv.js'

/** A fresh, empty store seen through the root {@link Namespace}, the recorder of its requests, and `close`. */
export interface Fixture {
  store: Namespace
  kv: RecordingKV
  close(): Promise<void>
}

/** Opens a fresh, empty KV service for one test. */
export async function openFixture(): Promise<Fixture> {
  const kv = new RecordingKV(new MemoryKV())
  return { store: new Namespace(kv), kv, close: async () => {} }
}

/** Bytes from numbers, for non-UTF-8 keys and values. */
export function bytes(...values: number[]): Uint8Array {
  return new Uint8Array(values)
}
