/**
 * The leader's view of each follower's log (etcd-io/raft's `tracker.Progress` and
 * `tracker.Inflights`): how far it matches, what to send next, and how much may be in flight.
 *
 * @module
 */
import { assert } from './assert.js'

/**
 * A bounded window of in-flight MsgApp messages, identified by the last index each carried;
 * the leader stops sending to a replicating follower while the window is full.
 */
export class Inflights {
  private readonly buffer: number[] = []

  constructor(readonly size: number) {
    assert(size > 0, 'inflights size must be positive')
  }

  /** Records a sent MsgApp ending at `index`; indexes must increase. */
  add(index: number): void {
    assert(!this.full(), 'cannot add into a full inflights')
    const last = this.buffer[this.buffer.length - 1]
    assert(last === undefined || index > last, `inflights must increase: ${index} after ${last}`)
    this.buffer.push(index)
  }

  /** Frees every message ending at or before `to` (acknowledged). */
  freeLE(to: number): void {
    let n = 0
    while (n < this.buffer.length && (this.buffer[n] as number) <= to) n++
    if (n > 0) this.buffer.splice(0, n)
  }

  /** Frees the oldest message, letting a heartbeat response unstick a full window. */
  freeFirstOne(): void {
    this.buffer.shift()
  }

  /** Whether no more messages may be sent. */
  full(): boolean {
    return this.buffer.length >= this.size
  }

  /** How many messages are in flight. */
  count(): number {
    return this.buffer.length
  }

  /** Forgets everything in flight. */
  reset(): void {
    this.buffer.length = 0
  }
}

/**
 * How the leader replicates to a follower: `Probe` sends one MsgApp per heartbeat until the
 * match is found, `Replicate` streams optimistically, `Snapshot` waits for a snapshot to land.
 */
export type ProgressStateType = 'Probe' | 'Replicate' | 'Snapshot'

/** The leader's replication state for one member (`tracker.Progress`). */
export class Progress {
  /** Highest index known to match the leader's log. */
  match = 0
  /** Next index to send. */
  next: number
  state: ProgressStateType = 'Probe'
  /** In `Snapshot` state, the index of the snapshot being sent. */
  pendingSnapshot = 0
  /** Whether the member was heard from since the last CheckQuorum round. */
  recentActive = false
  /** In `Probe` state, a MsgApp was sent and we wait for its answer or a heartbeat response. */
  probeSent = false
  readonly inflights: Inflights
  isLearner: boolean

  constructor(next: number, maxInflight: number, isLearner: boolean) {
    this.next = next
    this.inflights = new Inflights(maxInflight)
    this.isLearner = isLearner
  }

  private resetState(state: ProgressStateType): void {
    this.probeSent = false
    this.pendingSnapshot = 0
    this.state = state
    this.inflights.reset()
  }

  /** Switches to probing, resuming after the match (or after a snapshot just sent). */
  becomeProbe(): void {
    if (this.state === 'Snapshot') {
      const pending = this.pendingSnapshot
      this.resetState('Probe')
      this.next = Math.max(this.match + 1, pending + 1)
    } else {
      this.resetState('Probe')
      this.next = this.match + 1
    }
  }

  /** Switches to optimistic streaming from after the match. */
  becomeReplicate(): void {
    this.resetState('Replicate')
    this.next = this.match + 1
  }

  /** Waits for the snapshot at `snapshotIndex` to be installed. */
  becomeSnapshot(snapshotIndex: number): void {
    this.resetState('Snapshot')
    this.pendingSnapshot = snapshotIndex
  }

  /** Records an acknowledged index; returns whether the match advanced. */
  maybeUpdate(n: number): boolean {
    let updated = false
    if (this.match < n) {
      this.match = n
      updated = true
      this.probeSent = false
    }
    this.next = Math.max(this.next, n + 1)
    return updated
  }

  /** Advances `next` past entries just sent in replicate state, before they are acknowledged. */
  optimisticUpdate(n: number): void {
    this.next = n + 1
  }

  /**
   * Handles a rejected MsgApp for index `rejected`, with `matchHint` the follower's guess at
   * where logs may match; returns false if the rejection is stale.
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === 'Replicate') {
      if (rejected <= this.match) return false
      this.next = this.match + 1
      return true
    }
    if (this.next - 1 !== rejected) return false
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1)
    this.probeSent = false
    return true
  }

  /** Whether the leader must hold off sending MsgApp to this member. */
  isPaused(): boolean {
    switch (this.state) {
      case 'Probe':
        return this.probeSent
      case 'Replicate':
        return this.inflights.full()
      case 'Snapshot':
        return true
    }
  }
}
