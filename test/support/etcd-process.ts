/**
 * Starts and stops a real etcd server (one member, or a cluster with {@link startEtcdCluster})
 * for differential tests and benchmarks: bound to 127.0.0.1 on free ports, in a fresh
 * temporary data directory that is always removed, stopped by its pid (SIGTERM, then SIGKILL after a timeout).
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

/** Options of {@link startEtcdCluster}. */
export interface StartEtcdClusterOptions extends StartEtcdOptions {
  /** Members in the cluster (default 3). */
  members?: number
}

/** A running multi-member etcd cluster; `stop()` kills every member and removes their data directories (idempotent). */
export interface EtcdCluster {
  /** Client URL of each member, in member order (`http://127.0.0.1:<port>`). */
  clientUrls: string[]
  /** Each member's process id, in member order. */
  pids: number[]
  /** Each member's temporary data directory (removed by `stop()`). */
  dataDirs: string[]
  /** Stops every member (SIGTERM, then SIGKILL, by pid) and removes the data directories. */
  stop(): Promise<void>
}

/** Distinct free ports on 127.0.0.1. */
async function freePorts(n: number): Promise<number[]> {
  const out: number[] = []
  while (out.length < n) {
    const p = await freePort()
    if (!out.includes(p)) out.push(p)
  }
  return out
}

async function clusterOnce(binary: string, n: number, options: StartEtcdOptions): Promise<EtcdCluster> {
  const ports = await freePorts(2 * n)
  const names = Array.from({ length: n }, (_, i) => `m${i}`)
  const clientUrls = names.map((_, i) => `http://127.0.0.1:${ports[2 * i] as number}`)
  const peerUrls = names.map((_, i) => `http://127.0.0.1:${ports[2 * i + 1] as number}`)
  const initialCluster = names.map((name, i) => `${name}=${peerUrls[i] as string}`).join(',')
  const token = `pocket-etcd-${process.pid}-${ports[0] as number}`
  const stopTimeoutMs = options.stopTimeoutMs ?? 5000
  const children: ChildProcess[] = []
  const dataDirs: string[] = []
  const logs: string[] = names.map(() => '')
  let spawnError: Error | undefined
  let stopped: Promise<void> | undefined
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      try {
        await Promise.all(children.map((c) => killChild(c, stopTimeoutMs)))
      } finally {
        for (const c of children) {
          running.delete(c)
          c.stdout?.destroy()
          c.stderr?.destroy()
        }
        await Promise.all(dataDirs.map((d) => rm(d, { recursive: true, force: true })))
      }
    })()
    return stopped
  }
  try {
    for (let i = 0; i < n; i++) {
      const dataDir = await mkdtemp(join(tempRoot(), `pocket-etcd-ref-${names[i] as string}-`))
      dataDirs.push(dataDir)
      const clientUrl = clientUrls[i] as string
      const peerUrl = peerUrls[i] as string
      const args = [
        '--name', names[i] as string,
        '--data-dir', dataDir,
        '--listen-client-urls', clientUrl,
        '--advertise-client-urls', clientUrl,
        '--listen-peer-urls', peerUrl,
        '--initial-advertise-peer-urls', peerUrl,
        '--initial-cluster', initialCluster,
        '--initial-cluster-token', token,
        '--initial-cluster-state', 'new',
        '--logger', 'zap',
        '--log-outputs', 'stderr',
        '--log-level', 'warn',
        ...(options.extraArgs ?? []),
      ]
      const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] })
      const keep = (chunk: Buffer): void => {
        logs[i] = ((logs[i] ?? '') + chunk.toString('utf8')).slice(-LOG_LIMIT)
      }
      child.stdout?.on('data', keep)
      child.stderr?.on('data', keep)
      child.once('error', (err) => {
        spawnError = err
      })
      children.push(child)
      running.add(child)
      installExitHook()
    }
    const deadline = Date.now() + (options.startTimeoutMs ?? 15_000)
    const up = names.map(() => false)
    for (;;) {
      if (spawnError) throw spawnError
      for (let i = 0; i < n; i++) {
        const c = children[i] as ChildProcess
        if (c.exitCode !== null || c.signalCode !== null) {
          throw new Error(`etcd member ${names[i] as string} exited during startup (${c.exitCode ?? c.signalCode}):\n${logs[i] ?? ''}`)
        }
        if (!up[i]) up[i] = await healthy(clientUrls[i] as string)
      }
      if (up.every(Boolean)) break
      if (Date.now() > deadline) throw new Error(`etcd cluster did not become healthy at ${clientUrls.join(', ')}:\n${logs.join('\n')}`)
      await sleep(50)
    }
  } catch (err) {
    await stop()
    throw err
  }
  const pids = children.map((c) => c.pid)
  if (pids.some((p) => p === undefined)) {
    await stop()
    throw new Error('an etcd member has no pid')
  }
  return { clientUrls, pids: pids as number[], dataDirs, stop }
}

/**
 * Starts a fresh `members`-member etcd cluster (default 3), every member on 127.0.0.1 with its
 * own client and peer ports and its own data directory (tmpfs when available), and resolves
 * once each member reports healthy (the cluster has a leader). Retries a few times when
 * startup fails (a port taken between probing and binding). The caller must `stop()` it.
 */
export async function startEtcdCluster(options: StartEtcdClusterOptions = {}): Promise<EtcdCluster> {
  const binary = options.binary ?? findEtcdBinary()
  if (binary === undefined) throw new Error(ETCD_MISSING)
  const n = options.members ?? 3
  let last: unknown
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await clusterOnce(binary, n, options)
    } catch (err) {
      last = err
    }
  }
  throw last
}
