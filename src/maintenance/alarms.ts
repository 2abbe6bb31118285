/**
 * The replicated alarm list (etcd's `alarm.AlarmStore`): alarms are raised and cleared
 * through Raft, so every member holds the same list, persisted in its `alarm` bucket in the
 * batch of the entry that changed it.
 *
 * @module
 */
import type { Backend, BackendOp, Bucket } from '../mvcc/backend.js'

/** An alarm type (etcd `AlarmType`). */
export type AlarmType = 'NONE' | 'NOSPACE' | 'CORRUPT'

/** One raised alarm (etcd `AlarmMember`). */
export interface AlarmMember {
  /** The member that raised it, a decimal string. */
  memberID: string
  /** What is wrong. */
  alarm: AlarmType
}

const enc = new TextEncoder()
const dec = new TextDecoder()

function alarmKey(a: AlarmMember): Uint8Array {
  return enc.encode(`${a.memberID}/${a.alarm}`)
}

/** The alarms of one member's applied state. */
export class AlarmStore {
  private readonly raised = new Map<string, AlarmMember>()

  private constructor(private readonly bucket: Bucket) {}

  /** Loads the alarms persisted in `backend`. */
  static async open(backend: Backend): Promise<AlarmStore> {
    const s = new AlarmStore(backend.sublevel('alarm'))
    for await (const v of s.bucket.values() as AsyncIterable<Uint8Array>) {
      const a = JSON.parse(dec.decode(v)) as AlarmMember
      s.raised.set(`${a.memberID}/${a.alarm}`, a)
    }
    return s
  }

  /** Every raised alarm, ordered by member id then type (etcd returns its map's walk; we sort). */
  list(type: AlarmType = 'NONE'): AlarmMember[] {
    return [...this.raised.values()].filter((a) => type === 'NONE' || a.alarm === type).sort((a, b) => (a.memberID === b.memberID ? a.alarm.localeCompare(b.alarm) : BigInt(a.memberID) < BigInt(b.memberID) ? -1 : 1))
  }

  /** True when an alarm of `type` (any type for `'NONE'`) is raised by any member. Asked on every applied request: it allocates nothing. */
  has(type: AlarmType): boolean {
    if (this.raised.size === 0) return false
    for (const a of this.raised.values()) if (type === 'NONE' || a.alarm === type) return true
    return false
  }

  /** Raises an alarm; returns the ops that persist it (none if already raised). */
  activate(a: AlarmMember): BackendOp[] {
    const k = `${a.memberID}/${a.alarm}`
    if (this.raised.has(k)) return []
    this.raised.set(k, { ...a })
    return [{ type: 'put', bucket: this.bucket, key: alarmKey(a), value: enc.encode(JSON.stringify(a)) }]
  }

  /** Clears an alarm; returns the ops and whether it was raised. */
  deactivate(a: AlarmMember): { ops: BackendOp[]; found: boolean } {
    const k = `${a.memberID}/${a.alarm}`
    if (!this.raised.delete(k)) return { ops: [], found: false }
    return { ops: [{ type: 'del', bucket: this.bucket, key: alarmKey(a) }], found: true }
  }
}
