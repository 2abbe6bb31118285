/**
 * Checks mutual exclusion: no two clients hold one lock at the same instant. A client holds a
 * lock from when its acquire returned until it asked to release it; when the release is
 * uncertain (the client crashed, the unlock timed out) the hold lasts until a known point
 * (its lease's latest expiry), or forever.
 *
 * @module
 */
import { formatTime } from './history.js'

/** One client's hold of one lock, in cluster time. */
export interface LockHold {
  client: string | number
  /** The lock's name. */
  lock: string
  /** When the acquire's response arrived. */
  acquired: number
  /** When the client invoked its release; `Infinity` (or absent) when unknown and unbounded. */
  released?: number
}

/** Two holds of one lock that overlap. */
export interface LockViolation {
  lock: string
  a: LockHold
  b: LockHold
  message: string
}

/** Returns every pair of holds of one lock by different clients whose intervals overlap. */
export function checkLocks(holds: readonly LockHold[]): LockViolation[] {
  const out: LockViolation[] = []
  const byLock = new Map<string, LockHold[]>()
  for (const h of holds) {
    let l = byLock.get(h.lock)
    if (l === undefined) byLock.set(h.lock, (l = []))
    l.push(h)
  }
  for (const [lock, hs] of byLock) {
    const sorted = [...hs].sort((x, y) => x.acquired - y.acquired)
    const open: LockHold[] = []
    for (const h of sorted) {
      // holds whose release came at or before this acquire no longer matter
      for (let i = open.length - 1; i >= 0; i--) if ((open[i]!.released ?? Infinity) <= h.acquired) open.splice(i, 1)
      for (const o of open) {
        if (o.client === h.client) continue
        out.push({
          lock, a: o, b: h,
          message: `lock ${lock}: client ${String(h.client)} acquired it at ${h.acquired} while client ${String(o.client)} held it [${o.acquired}, ${formatTime(o.released ?? Infinity)}]`,
        })
      }
      open.push(h)
    }
  }
  return out
}

/** Throws an `Error` listing every overlap unless no two clients ever held a lock at once. */
export function assertMutualExclusion(holds: readonly LockHold[]): void {
  const v = checkLocks(holds)
  if (v.length > 0) throw new Error(`two clients held one lock at once (${v.length}):\n${v.map((x) => `  ${x.message}`).join('\n')}`)
}
