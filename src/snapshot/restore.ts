/**
 * Restoring a snapshot image into a new cluster (etcdctl `snapshot restore`): the image is
 * checked completely first (nothing is created for a corrupt one), then every member's
 * database is seeded with its state — revision, data, compaction and leases kept — under a
 * new cluster id and new member ids, membership reset to the new members, the consistent
 * index set to the fresh Raft log's first index, and the cluster opened.
 *
 * @module
 */
import { MemoryLevel } from 'memory-level'
import { ERRORS, InvalidArgumentError } from '../errors.js'
import { Backend } from '../mvcc/backend.js'
import type { Database } from '../mvcc/backend.js'
import { Random } from '../sim/random.js'
import { decodeSnapshot } from './image.js'
import type { DecodedSnapshot } from './image.js'
import { collectSnapshot } from './snapshot.js'
import type { SnapshotImageSource } from './snapshot.js'
import { dirState, removeDir } from './data-dir.js'

/** The cluster identity a restored member database is created with. */
export interface RestoredIdentity {
  clusterId: string
  members: { name: string; id: string }[]
}

/** What a restore needs from the Store: opening a cluster and writing a database's identity. */
export interface RestoreHost<S, O extends RestoreStoreOptions> {
  open(options: O): Promise<S>
  writeIdentity(db: Database, identity: RestoredIdentity): Promise<void>
}

/** The Store options a restore reads (the rest is passed to the Store as given). */
export interface RestoreStoreOptions {
  members?: number
  seed?: number
  dataDir?: string
  backend?: (memberName: string) => Database
}

/**
 * Buckets of the source cluster's membership (etcd's `members` and `members_removed`), which a
 * restore drops: the new cluster's membership is its new members (etcd's saveDB deletes them).
 */
export const MEMBERSHIP_BUCKETS: readonly string[] = ['members', 'members_removed']

/** The Raft index every new member's log starts at (the bootstrap snapshot); applies continue after it. */
const BOOT_INDEX = 1

const WRITE_BATCH = 4096

function notEmpty(what: string): InvalidArgumentError {
  const d = ERRORS.DataDirNotEmpty
  return new InvalidArgumentError(`data-dir ${JSON.stringify(what)} not empty or could not be read`, d.grpcCode, d.code)
}

/** Writes the image's state into an empty, open database, as a member of the new cluster. */
async function seed(db: Database, image: DecodedSnapshot, identity: RestoredIdentity, host: { writeIdentity(db: Database, identity: RestoredIdentity): Promise<void> }): Promise<void> {
  const records = image.records.filter((r) => !MEMBERSHIP_BUCKETS.includes(r.bucket) && !r.bucket.startsWith('raft'))
  const backend = await Backend.open(db)
  for (let i = 0; i < records.length; i += WRITE_BATCH) {
    const slice = records.slice(i, i + WRITE_BATCH)
    await backend.write(slice.filter((r) => r.bucket !== '').map((r) => ({ type: 'put' as const, bucket: backend.sublevel(r.bucket), key: r.key, value: r.value })))
    const root = slice.filter((r) => r.bucket === '')
    if (root.length > 0) await db.batch(root.map((r) => ({ type: 'put' as const, key: r.key, value: r.value, keyEncoding: 'view', valueEncoding: 'view' })))
  }
  // the new Raft log starts at BOOT_INDEX: entries after it must apply (etcd's saveDB sets the consistent index to the new commit)
  await backend.write([backend.metaPut('consistentIndex', BOOT_INDEX)])
  await host.writeIdentity(db, identity)
}

async function isEmpty(db: Database): Promise<boolean> {
  for await (const _ of db.keys({ limit: 1, keyEncoding: 'view' }) as AsyncIterable<Uint8Array>) return false
  return true
}

async function closeQuietly(db: Database): Promise<void> {
  // best effort on a failed restore: the original error is the one worth reporting
  if (db.status === 'open') await db.close().catch(() => undefined)
}

/**
 * Starts a new cluster from a snapshot image (etcdctl `snapshot restore`, then starting the
 * members). The image is checked before anything is created; a restore into a `dataDir` whose
 * member directories exist and are not empty is refused, and a failed restore removes the
 * directories it created.
 */
export async function restoreStore<S, O extends RestoreStoreOptions>(source: SnapshotImageSource, options: O, host: RestoreHost<S, O>): Promise<S> {
  const image = await decodeSnapshot(await collectSnapshot(source))
  const count = options.members ?? 3
  if (![1, 3, 5, 7].includes(count)) throw new InvalidArgumentError('pocket-etcd: invalid Store options: members: must be 1, 3, 5 or 7', 'InvalidArgument', 'ErrInvalidRequest')
  const names = Array.from({ length: count }, (_, i) => `m${i + 1}`)
  // new ids, derived from the seed and the image, so a restore never reuses the source cluster's ids
  const ids = new Random(options.seed ?? 1).fork(`restore/${image.sha256}`)
  const identity: RestoredIdentity = { clusterId: ids.uint64().toString(), members: names.map((name) => ({ name, id: ids.uint64().toString() })) }

  if (options.backend === undefined && options.dataDir !== undefined) return restoreIntoDir(image, options, options.dataDir, names, identity, host)

  const make = options.backend ?? (() => new MemoryLevel({ storeEncoding: 'view', keyEncoding: 'view', valueEncoding: 'view' }) as unknown as Database)
  const dbs = new Map<string, Database>()
  try {
    for (const name of names) {
      const db = make(name)
      dbs.set(name, db)
      if (db.status !== 'open') await db.open()
      if (!(await isEmpty(db))) throw notEmpty(`${name} (the backend's database)`)
    }
    for (const name of names) await seed(dbs.get(name)!, image, identity, host)
  } catch (err) {
    for (const db of dbs.values()) await closeQuietly(db)
    throw err
  }
  return host.open({ ...options, backend: (name: string) => dbs.get(name)! })
}

async function restoreIntoDir<S, O extends RestoreStoreOptions>(image: DecodedSnapshot, options: O, dataDir: string, names: string[], identity: RestoredIdentity, host: RestoreHost<S, O>): Promise<S> {
  const rootWas = await dirState(dataDir)
  for (const name of names) {
    if ((await dirState(`${dataDir}/${name}`)) !== 'missing') throw notEmpty(`${dataDir}/${name}`)
  }
  let mod: { ClassicLevel: new (location: string, opts: object) => Database }
  try {
    mod = (await import('classic-level')) as unknown as typeof mod
  } catch (err) {
    throw new InvalidArgumentError('pocket-etcd: dataDir needs the classic-level package: npm install classic-level', 'InvalidArgument', 'ErrInvalidRequest', { cause: err })
  }
  const cleanup = async (): Promise<void> => {
    if (rootWas === 'missing') await removeDir(dataDir)
    else for (const name of names) await removeDir(`${dataDir}/${name}`)
  }
  try {
    for (const name of names) {
      const db = new mod.ClassicLevel(`${dataDir}/${name}`, { keyEncoding: 'view', valueEncoding: 'view', errorIfExists: true })
      try {
        await db.open()
        await seed(db, image, identity, host)
      } finally {
        await closeQuietly(db)
      }
    }
  } catch (err) {
    await cleanup()
    throw err
  }
  try {
    return await host.open(options)
  } catch (err) {
    await cleanup()
    throw err
  }
}
