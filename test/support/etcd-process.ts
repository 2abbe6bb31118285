/**
 * Starts and stops a real, single-member etcd server for differential tests and benchmarks:
 * bound to 127.0.0.1 on free ports, in a fresh temporary data directory that is always
 * removed, stopped by its pid (SIGTERM, then SIGKILL after a timeout).
 *
 * @module
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { accessSync, constants, existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import type { TestContext } from 'node:test'

/** The message a test shows when it is skipped because etcd is missing. */
export const ETCD_MISSING = 'etcd not installed: apt-get install etcd-server'

/** Options of {@link startEtcd}. */
export interface StartEtcdOptions {
  /** Path of the etcd binary; defaults to {@link findEtcdBinary}'s answer. */
  binary?: string
  /** How long to wait for the server to become healthy, in ms (default 15 000). */
  startTimeoutMs?: number
  /** How long `stop()` waits after SIGTERM before SIGKILL, in ms (default 5 000). */
  stopTimeoutMs?: number
  /** Extra command-line flags, appended after ours (for example `--max-txn-ops=256`). */
  extraArgs?: string[]
}

/** A running etcd server; `stop()` kills it and removes its data directory (idempotent). */
export interface EtcdProcess {
  /** Base URL of the client API, e.g. `http://127.0.0.1:40123`. */
  clientUrl: string
  /** The server's process id. */
  pid: number
  /** The temporary data directory (removed by `stop()`). */
  dataDir: string
  /** Stops the server (SIGTERM, then SIGKILL) and removes its data directory. */
  stop(): Promise<void>
}

/**
 * Locates the etcd binary: `$ETCD_BIN` when set (and then nothing else, so
 * `ETCD_BIN=/nonexistent` simulates a machine without etcd), else `/usr/bin/etcd`, else
 * `etcd` on `PATH`. Returns `undefined` when there is none.
 */
export function findEtcdBinary(): string | undefined {
  const candidates: string[] = []
  if (process.env.ETCD_BIN) {
    candidates.push(process.env.ETCD_BIN)
  } else {
    candidates.push('/usr/bin/etcd')
    for (const dir of (process.env.PATH ?? '').split(delimiter)) if (dir) candidates.push(join(dir, 'etcd'))
  }
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK)
      return c
    } catch {
      // Not there or not executable: try the next candidate.
    }
  }
  return undefined
}

/**
 * The etcd binary for a test, or `undefined` after marking the test skipped. Under
 * `CI=true` a missing etcd is an error, so a CI run can never pass vacuously.
 */
export function etcdBinaryOrSkip(t: TestContext): string | undefined {
  const bin = findEtcdBinary()
  if (bin !== undefined) return bin
  if (process.env.CI === 'true') throw new Error(`CI=true but ${ETCD_MISSING} (or set ETCD_BIN)`)
  t.skip(ETCD_MISSING)
  return undefined
}

/** Finds a free TCP port on 127.0.0.1 by binding port 0 and releasing it. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const addr = server.address()
      if (addr === null || typeof addr === 'string') {
        server.close()
        reject(new Error('could not read the bound port'))
        return
      }
      server.close(() => resolve(addr.port))
    })
  })
}

/** Every server this process started and has not stopped yet, killed if the process exits. */
const running = new Set<ChildProcess>()
let exitHookInstalled = false
function installExitHook(): void {
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.on('exit', () => {
    // Last resort when a test run dies without its after() hooks: never leave etcd behind.
    // (The data directories are left; they live in a temp dir.)
    for (const child of running) child.kill('SIGKILL')
  })
}

const LOG_LIMIT = 16_384

/** Where data directories go: tmpfs when available, since etcd 3.4 has no `--unsafe-no-fsync`. */
function tempRoot(): string {
  return existsSync('/dev/shm') ? '/dev/shm' : tmpdir()
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

async function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return true
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.off('exit', onExit)
      resolve(false)
    }, ms)
    const onExit = (): void => {
      clearTimeout(timer)
      resolve(true)
    }
    child.once('exit', onExit)
  })
}

async function killChild(child: ChildProcess, stopTimeoutMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  child.kill('SIGTERM')
  if (await waitExit(child, stopTimeoutMs)) return
  child.kill('SIGKILL')
  await waitExit(child, stopTimeoutMs)
}

async function healthy(clientUrl: string): Promise<boolean> {
  try {
    const res = await fetch(`${clientUrl}/health`, { signal: AbortSignal.timeout(1000) })
    const body = (await res.json()) as { health?: unknown }
    return body.health === 'true'
  } catch {
    // Not listening yet (connection refused) or not ready: the caller polls again.
    return false
  }
}

async function startOnce(binary: string, options: StartEtcdOptions): Promise<EtcdProcess> {
  const clientPort = await freePort()
  let peerPort = await freePort()
  while (peerPort === clientPort) peerPort = await freePort()
  const clientUrl = `http://127.0.0.1:${clientPort}`
  const peerUrl = `http://127.0.0.1:${peerPort}`
  const dataDir = await mkdtemp(join(tempRoot(), 'pocket-etcd-ref-'))
  const args = [
    '--name', 'default',
    '--data-dir', dataDir,
    '--listen-client-urls', clientUrl,
    '--advertise-client-urls', clientUrl,
    '--listen-peer-urls', peerUrl,
    '--initial-advertise-peer-urls', peerUrl,
    '--initial-cluster', `default=${peerUrl}`,
    '--initial-cluster-state', 'new',
    '--logger', 'zap',
    '--log-outputs', 'stderr',
    '--log-level', 'warn',
    ...(options.extraArgs ?? []),
  ]
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let log = ''
  const keep = (chunk: Buffer): void => {
    log = (log + chunk.toString('utf8')).slice(-LOG_LIMIT)
  }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  let spawnError: Error | undefined
  child.once('error', (err) => {
    spawnError = err
  })
  running.add(child)
  installExitHook()
  const stopTimeoutMs = options.stopTimeoutMs ?? 5000
  let stopped: Promise<void> | undefined
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      try {
        await killChild(child, stopTimeoutMs)
      } finally {
        running.delete(child)
        child.stdout?.destroy()
        child.stderr?.destroy()
        await rm(dataDir, { recursive: true, force: true })
      }
    })()
    return stopped
  }
  const deadline = Date.now() + (options.startTimeoutMs ?? 15_000)
  try {
    for (;;) {
      if (spawnError) throw spawnError
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`etcd exited during startup (${child.exitCode ?? child.signalCode}):\n${log}`)
      }
      if (await healthy(clientUrl)) break
      if (Date.now() > deadline) throw new Error(`etcd did not become healthy at ${clientUrl}:\n${log}`)
      await sleep(20)
    }
  } catch (err) {
    await stop()
    throw err
  }
  if (child.pid === undefined) {
    await stop()
    throw new Error('etcd has no pid')
  }
  return { clientUrl, pid: child.pid, dataDir, stop }
}

/**
 * Starts a fresh single-member etcd on 127.0.0.1 and resolves once it is healthy (about
 * 0.1 s). Retries a few times when startup fails (a port taken between probing and
 * binding). The caller must `stop()` it, typically in an `after()` hook.
 */
export async function startEtcd(options: StartEtcdOptions = {}): Promise<EtcdProcess> {
  const binary = options.binary ?? findEtcdBinary()
  if (binary === undefined) throw new Error(ETCD_MISSING)
  let last: unknown
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOnce(binary, options)
    } catch (err) {
      last = err
    }
  }
  throw last
}
