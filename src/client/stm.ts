/**
 * `store.stm(fn, options)`: the typed entry to etcd's software transactional memory.
 *
 * @module
 */
import type { KVApi } from '../services/kv-api.js'
import { stm } from '../concurrency/stm.js'
import type { STM, STMOptions } from '../concurrency/stm.js'

/**
 * Runs `fn` as a software transaction on `kv` (etcd `concurrency.NewSTM`), re-running it on
 * conflict, and resolves with what `fn` returned on the attempt that committed.
 */
export async function runStm<T>(kv: KVApi, fn: (tx: STM) => T | Promise<T>, options: STMOptions = {}): Promise<T> {
  const r = await stm(kv, fn, options)
  return r.value
}
