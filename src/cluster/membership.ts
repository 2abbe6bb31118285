/**
 * The replicated membership of the cluster (etcd's `membership.RaftCluster`): every member
 * applies the same committed conf changes and keeps the same member list, persisted in its
 * own buckets (`members`, `members_removed`) in the batch of the entry that changed it, so
 * it survives a restart and travels in snapshots.
 *
 * @module
 */
import type { Backend, BackendOp, Bucket } from '../mvcc/backend.js'
import { etcdError } from '../errors.js'

/** One member as the cluster records it (etcd `etcdserverpb.Member`). */
export interface ClusterMember {
  /** The member's 64-bit id, a decimal string. */
  id: string
  /** Its name (`m1`, ...). */
  name: string
  /** URLs its peers use (synthetic in-process, validated like etcd's). */
  peerURLs: string[]
  /** URLs clients use (synthetic in-process). */
  clientURLs: string[]
  /** True for a non-voting member (etcd learner). */
  isLearner: boolean
}

/** The most learners a cluster may hold (etcd 3.4's `maxLearners`). */
export const MAX_LEARNERS = 1

const enc = new TextEncoder()
const dec = new TextDecoder()

/** The synthetic URLs of an in-process member: its peers reach it on 2380, clients on 2379. */
export function syntheticUrls(name: string): { peerURLs: string[]; clientURLs: string[] } {
  return { peerURLs: [`http://${name}.pocket-etcd:2380`], clientURLs: [`http://${name}.pocket-etcd:2379`] }
}

/**
 * Checks URLs as etcd's `types.NewURLs` does: at least one, scheme http/https/unix/unixs,
 * a `host:port` address and no path. Throws `etcdserver: given member URLs are invalid`.
 */
export function validateUrls(urls: readonly string[]): string[] {
  if (urls.length === 0) throw etcdError('MemberBadURLs')
  return urls.map((raw) => {
    const s = raw.trim()
    const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/([^/?#]*)([^?#]*)/.exec(s)
    if (m === null) throw etcdError('MemberBadURLs')
    const scheme = m[1]!.toLowerCase()
    if (!['http', 'https', 'unix', 'unixs'].includes(scheme)) throw etcdError('MemberBadURLs')
    const host = m[2]!.replace(/^[^@]*@/, '')
    // net.SplitHostPort: "host:port" or "[v6]:port", the host may be empty, the port may be empty too
    if (!/^(\[[^\]]*\]|[^:[\]]*):[^:]*$/.test(host)) throw etcdError('MemberBadURLs')
    if (m[3] !== '') throw etcdError('MemberBadURLs')
    return s
  })
}

/** A membership change as a conf change entry carries it (etcd puts the Member in the ConfChange context). */
export type MembershipChange =
  | { type: 'add'; member: ClusterMember }
  | { type: 'promote'; id: string }
  | { type: 'remove'; id: string }
  | { type: 'update'; id: string; peerURLs: string[] }

/** The member list of one member's applied state. */
export class Membership {
  private readonly byId = new Map<string, ClusterMember>()
  private readonly removedIds = new Set<string>()

  private constructor(
    private readonly bucket: Bucket,
    private readonly removedBucket: Bucket,
  ) {}

  /** Loads the membership persisted in `backend` (empty for a member that has not joined yet). */
  static async open(backend: Backend): Promise<Membership> {
    const m = new Membership(backend.sublevel('members'), backend.sublevel('members_removed'))
    for await (const v of m.bucket.values() as AsyncIterable<Uint8Array>) {
      const rec = JSON.parse(dec.decode(v)) as ClusterMember
      m.byId.set(rec.id, rec)
    }
    for await (const k of m.removedBucket.keys() as AsyncIterable<Uint8Array>) m.removedIds.add(dec.decode(k))
    return m
  }

  /** The ops that record the initial members of a new cluster (every member bootstraps the same list). */
  seed(members: readonly ClusterMember[]): BackendOp[] {
    const ops: BackendOp[] = []
    for (const member of members) ops.push(...this.put(member))
    return ops
  }

  /** Every member, ordered by id as etcd lists them (MembersByID). */
  list(): ClusterMember[] {
    return [...this.byId.values()].sort((a, b) => (BigInt(a.id) < BigInt(b.id) ? -1 : BigInt(a.id) > BigInt(b.id) ? 1 : 0)).map((m) => ({ ...m, peerURLs: [...m.peerURLs], clientURLs: [...m.clientURLs] }))
  }

  /** Member `id`, if it belongs to the cluster. */
  get(id: string): ClusterMember | undefined {
    return this.byId.get(id)
  }

  /** True once `id` was removed (etcd refuses messages and re-adds of removed ids). */
  isRemoved(id: string): boolean {
    return this.removedIds.has(id)
  }

  /** Number of members, learners included. */
  get size(): number {
    return this.byId.size
  }

  /** The voting members. */
  voters(): ClusterMember[] {
    return this.list().filter((m) => !m.isLearner)
  }

  /**
   * Checks a change against the current list (etcd `ValidateConfigurationChange`): ids,
   * duplicate peer URLs, learner limits. Throws etcd's error; changes nothing.
   */
  validate(change: MembershipChange): void {
    switch (change.type) {
      case 'add': {
        const m = change.member
        if (this.removedIds.has(m.id)) throw etcdError('MemberNotFound')
        if (this.byId.has(m.id)) throw etcdError('MemberExist')
        this.checkPeerUrls(m.id, m.peerURLs)
        if (m.isLearner && this.list().filter((x) => x.isLearner).length + 1 > MAX_LEARNERS) throw etcdError('TooManyLearners')
        return
      }
      case 'promote': {
        const m = this.byId.get(change.id)
        if (m === undefined) throw etcdError('MemberNotFound')
        if (!m.isLearner) throw etcdError('MemberNotLearner')
        return
      }
      case 'remove':
        if (!this.byId.has(change.id)) throw etcdError('MemberNotFound')
        return
      case 'update':
        if (!this.byId.has(change.id)) throw etcdError('MemberNotFound')
        this.checkPeerUrls(change.id, change.peerURLs)
        return
    }
  }

  private checkPeerUrls(self: string, urls: readonly string[]): void {
    const taken = new Set<string>()
    for (const m of this.byId.values()) if (m.id !== self) for (const u of m.peerURLs) taken.add(u)
    for (const u of urls) if (taken.has(u)) throw etcdError('PeerURLExist')
  }

  /** Applies a validated change in memory and returns the ops that persist it (in the entry's batch). */
  apply(change: MembershipChange): BackendOp[] {
    switch (change.type) {
      case 'add':
        return this.put({ ...change.member })
      case 'promote':
        return this.put({ ...this.byId.get(change.id)!, isLearner: false })
      case 'update':
        return this.put({ ...this.byId.get(change.id)!, peerURLs: [...change.peerURLs] })
      case 'remove': {
        this.byId.delete(change.id)
        this.removedIds.add(change.id)
        const key = enc.encode(change.id)
        return [
          { type: 'del', bucket: this.bucket, key },
          { type: 'put', bucket: this.removedBucket, key, value: enc.encode('removed') },
        ]
      }
    }
  }

  private put(m: ClusterMember): BackendOp[] {
    this.byId.set(m.id, m)
    return [{ type: 'put', bucket: this.bucket, key: enc.encode(m.id), value: enc.encode(JSON.stringify(m)) }]
  }
}
