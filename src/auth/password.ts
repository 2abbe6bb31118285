/**
 * Password hashing for the auth store: PBKDF2-SHA256 over WebCrypto with a random 16-byte
 * salt, encoded as `pbkdf2-sha256$<iterations>$<salt b64>$<hash b64>`. etcd stores bcrypt
 * hashes; WebCrypto has no bcrypt, so this is the standard KDF it does have. A clear password
 * is never stored, logged or proposed.
 *
 * @module
 */

/** PBKDF2 iterations for new hashes. */
export const PBKDF2_ITERATIONS = 100_000

const encoder = new TextEncoder()

function b64(bytes: Uint8Array): string {
  let s = ''
  for (const b of bytes) s += String.fromCharCode(b)
  return btoa(s)
}

function unb64(s: string): Uint8Array {
  const raw = atob(s)
  const out = new Uint8Array(raw.length)
  for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i)
  return out
}

/** Derivations under way, and what settles when the last one ends. */
let derivations = 0
let allDerived: { promise: Promise<void>; resolve: () => void } | undefined

/**
 * Settles when no password derivation is under way (now, if none is). Derivations run on
 * the host's crypto threads, in real time: a simulation on a manual clock waits for them
 * rather than letting cluster time run past a request that is still being hashed.
 */
export function passwordsDerived(): Promise<void> | undefined {
  return derivations === 0 ? undefined : allDerived?.promise
}

async function derive(password: string, salt: Uint8Array, iterations: number): Promise<Uint8Array> {
  if (derivations++ === 0) {
    let resolve!: () => void
    const promise = new Promise<void>((r) => (resolve = r))
    allDerived = { promise, resolve }
  }
  try {
    const subtle = globalThis.crypto.subtle
    const key = await subtle.importKey('raw', encoder.encode(password), 'PBKDF2', false, ['deriveBits'])
    const bits = await subtle.deriveBits({ name: 'PBKDF2', hash: 'SHA-256', salt: salt as Uint8Array<ArrayBuffer>, iterations }, key, 256)
    return new Uint8Array(bits)
  } finally {
    if (--derivations === 0) allDerived?.resolve()
  }
}

/** Hashes `password` with a fresh random salt. */
export async function hashPassword(password: string, iterations: number = PBKDF2_ITERATIONS): Promise<string> {
  const salt = globalThis.crypto.getRandomValues(new Uint8Array(16))
  const hash = await derive(password, salt, iterations)
  return `pbkdf2-sha256$${iterations}$${b64(salt)}$${b64(hash)}`
}

/** True when `password` matches `encoded` (compared in constant time). A malformed hash never matches. */
export async function verifyPassword(password: string, encoded: string): Promise<boolean> {
  const parts = encoded.split('$')
  if (parts.length !== 4 || parts[0] !== 'pbkdf2-sha256') return false
  const iterations = Number(parts[1])
  if (!Number.isSafeInteger(iterations) || iterations < 1) return false
  const expected = unb64(parts[3]!)
  const got = await derive(password, unb64(parts[2]!), iterations)
  if (got.length !== expected.length) return false
  let diff = 0
  for (let i = 0; i < got.length; i++) diff |= got[i]! ^ expected[i]!
  return diff === 0
}
