/**
 * The only file-system code of a restore: checking that a member's data directory is empty
 * before writing it, and removing what a failed restore created. Process-level code, loaded
 * only when a restore targets a `dataDir` (the core itself never touches `node:` modules).
 *
 * @module
 */

interface FsPromises {
  readdir(path: string): Promise<string[]>
  rm(path: string, options: { recursive: boolean; force: boolean }): Promise<void>
}

async function fs(): Promise<FsPromises> {
  return (await import('node:fs/promises')) as unknown as FsPromises
}

/** `'missing'`, `'empty'`, or `'busy'` when the directory holds files or cannot be read (etcd refuses both). */
export async function dirState(path: string): Promise<'missing' | 'empty' | 'busy'> {
  try {
    return (await (await fs()).readdir(path)).length === 0 ? 'empty' : 'busy'
  } catch (err) {
    if ((err as { code?: unknown }).code === 'ENOENT') return 'missing'
    return 'busy'
  }
}

/** Removes a directory a failed restore created, with everything in it. */
export async function removeDir(path: string): Promise<void> {
  await (await fs()).rm(path, { recursive: true, force: true })
}
