/**
 * Pending linearizable reads on the leader (etcd-io/raft's `readOnly`, ReadOnlySafe): each
 * read waits for a heartbeat round, carrying its context, to be acknowledged by a quorum.
 *
 * @module
 */
import type { Message, NodeId } from './types.js'

/** A pending read: the commit index when it arrived, the request, and who acknowledged it. */
export interface ReadIndexStatus {
  req: Message
  index: number
  acks: Set<NodeId>
}

/** Encodes a request context as a map key (each byte as one UTF-16 code unit; exact). */
function ctxKey(ctx: Uint8Array): string {
  let s = ''
  for (const b of ctx) s += String.fromCharCode(b)
  return s
}

/** The queue of pending read requests on a leader, answered in arrival order. */
export class ReadOnly {
  private readonly pending = new Map<string, ReadIndexStatus>()
  private readonly queue: string[] = []

  /** Queues a read at commit index `index`; a duplicate context is ignored. */
  addRequest(index: number, m: Message): void {
    const ctx = m.entries[0]?.data
    if (ctx === undefined) return
    const key = ctxKey(ctx)
    if (this.pending.has(key)) return
    this.pending.set(key, { req: m, index, acks: new Set() })
    this.queue.push(key)
  }

  /** Records `id`'s heartbeat acknowledgement of `ctx`; returns all acknowledgers, or undefined if unknown. */
  recvAck(id: NodeId, ctx: Uint8Array): ReadonlySet<NodeId> | undefined {
    const rs = this.pending.get(ctxKey(ctx))
    if (rs === undefined) return undefined
    rs.acks.add(id)
    return rs.acks
  }

  /** Removes and returns every read up to and including the one with `ctx` (all now safe to serve). */
  advance(ctx: Uint8Array): ReadIndexStatus[] {
    const key = ctxKey(ctx)
    const at = this.queue.indexOf(key)
    if (at < 0) return []
    const keys = this.queue.splice(0, at + 1)
    const out: ReadIndexStatus[] = []
    for (const k of keys) {
      const rs = this.pending.get(k)
      if (rs !== undefined) out.push(rs)
      this.pending.delete(k)
    }
    return out
  }

  /** The context of the newest pending read, piggybacked on regular heartbeats. */
  lastPendingRequestCtx(): Uint8Array | undefined {
    const key = this.queue[this.queue.length - 1]
    if (key === undefined) return undefined
    return this.pending.get(key)?.req.entries[0]?.data
  }
}
