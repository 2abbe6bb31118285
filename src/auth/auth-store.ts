/**
 * The auth store (etcd's `auth.authStore`): one member's replicated users, roles and key
 * permissions, the enabled flag and the auth revision, persisted in the `auth` bucket in the
 * same batch as the applied entry; plus the member-local simple tokens (etcd's
 * `tokenSimple`), assigned when an `authenticate` entry is applied, so every member knows
 * every token.
 *
 * @module
 */
import { compareBytes, equalBytes, fromBinaryString, toBinaryString } from '../api/bytes.js'
import { etcdError } from '../errors.js'
import type { Backend, BackendOp, Bucket } from '../mvcc/backend.js'
import type { AuthInfo, AuthRequest, Permission, PermType } from './auth-request.js'
import { mergePermissions, rangePermitted, type UnifiedPermissions } from './range-perm.js'

/** The root user's name (etcd's `rootUser`). */
export const ROOT_USER = 'root'
/** The root role's name (etcd's `rootRole`): it may do everything. */
export const ROOT_ROLE = 'root'

/** A user as stored (etcd `authpb.User`; the password is a hash, never clear text). */
export interface UserRecord {
  name: string
  /** `pbkdf2-sha256$...`, or empty for a no-password user. */
  password: string
  /** Granted role names, sorted. */
  roles: string[]
  noPassword: boolean
}

/** A role as stored (etcd `authpb.Role`): permissions sorted by key. */
export interface RoleRecord {
  name: string
  perms: Permission[]
}

interface StoredPerm {
  permType: PermType
  key: string
  rangeEnd: string
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()
const META_KEY = encoder.encode('meta')
const userKey = (name: string) => encoder.encode(`user/${name}`)
const roleKey = (name: string) => encoder.encode(`role/${name}`)

/** What applying an auth request produced: the response body (without header) and the backend ops persisting it. */
export interface AuthApplyResult {
  response: Record<string, unknown>
  ops: BackendOp[]
}

/** The permission kinds a key operation needs. */
export type AccessKind = 'READ' | 'WRITE'

function sortedInsert(list: string[], v: string): void {
  let i = 0
  while (i < list.length && list[i]! < v) i++
  list.splice(i, 0, v)
}

/** etcd's default `--auth-token-ttl`: a simple token unused this long (ms) becomes invalid. */
export const DEFAULT_AUTH_TOKEN_TTL_MS = 300_000

/** Where a member's simple tokens get their time: the member's clock and the token TTL. */
export interface TokenKeeper {
  /** The member's clock time, in ms. */
  now(): number
  /** How long an unused token stays valid, in ms (etcd `--auth-token-ttl`). */
  ttlMs: number
}

/** A simple token: whose it is and when it expires unless used again. */
interface SimpleToken {
  username: string
  expiresAt: number
}

/** One member's auth state. Mutations run while applying committed entries, one at a time. */
export class AuthStore {
  private readonly users = new Map<string, UserRecord>()
  private readonly roles = new Map<string, RoleRecord>()
  private enabledFlag = false
  private rev = 1
  /** token → its user and expiry (etcd's simple tokens; member-local, not persisted). */
  private readonly tokens: Map<string, SimpleToken>
  /** The member's clock and the token TTL (etcd's `simpleTokenKeeper`); without it tokens never expire. */
  private readonly keeper: TokenKeeper | undefined
  private readonly permCache = new Map<string, UnifiedPermissions>()
  private readonly bucket: Bucket

  private constructor(backend: Backend, tokens: Map<string, SimpleToken>, keeper: TokenKeeper | undefined) {
    this.bucket = backend.sublevel('auth')
    this.tokens = tokens
    this.keeper = keeper
  }

  /**
   * Loads the auth state persisted in `backend`; `previous` hands over its tokens (a snapshot
   * restore keeps them, as etcd's `recover`); `keeper` makes tokens expire when unused.
   */
  static async open(backend: Backend, previous?: AuthStore, keeper?: TokenKeeper): Promise<AuthStore> {
    const a = new AuthStore(backend, previous?.tokens ?? new Map(), keeper ?? previous?.keeper)
    for await (const [k, v] of a.bucket.iterator() as AsyncIterable<[Uint8Array, Uint8Array]>) {
      const key = decoder.decode(k)
      const rec = JSON.parse(decoder.decode(v)) as Record<string, unknown>
      if (key === 'meta') {
        a.enabledFlag = rec.enabled as boolean
        a.rev = rec.revision as number
      } else if (key.startsWith('user/')) {
        const u = rec as unknown as UserRecord
        a.users.set(u.name, u)
      } else if (key.startsWith('role/')) {
        const r = rec as unknown as { name: string; perms: StoredPerm[] }
        a.roles.set(r.name, {
          name: r.name,
          perms: r.perms.map((p) => ({ permType: p.permType, key: fromBinaryString(p.key), rangeEnd: fromBinaryString(p.rangeEnd) })),
        })
      }
    }
    if (!a.enabledFlag) a.tokens.clear()
    return a
  }

  /** Is authentication enabled? */
  get enabled(): boolean {
    return this.enabledFlag
  }

  /** The auth revision, bumped by every change (etcd `Revision`). */
  get revision(): number {
    return this.rev
  }

  /** A user, if it exists (read-only use). */
  user(name: string): UserRecord | undefined {
    return this.users.get(name)
  }

  // --- credentials ---

  /**
   * The request's credentials from its token (etcd `AuthInfoFromCtx`): no token, no
   * credentials (revision 0); an unknown token is `InvalidAuthToken`. The revision is the
   * current one, as etcd's simple tokens report.
   */
  authInfo(token: string | undefined): AuthInfo {
    if (token === undefined) return { username: '', revision: 0 }
    const t = this.tokens.get(token)
    if (t === undefined) throw etcdError('InvalidAuthToken')
    if (this.keeper !== undefined) {
      // etcd's simpleTokenKeeper: a token unused for its TTL is deleted; each use resets it
      const now = this.keeper.now()
      if (now >= t.expiresAt) {
        this.tokens.delete(token)
        throw etcdError('InvalidAuthToken')
      }
      t.expiresAt = now + this.keeper.ttlMs
    }
    return { username: t.username, revision: this.rev }
  }

  /**
   * Checks a password at the proposing member (etcd `CheckPassword`) and returns the auth
   * revision it was checked at. `verify` compares a clear password with a stored hash.
   */
  async checkPassword(name: string, password: string, verify: (password: string, hash: string) => Promise<boolean>): Promise<number> {
    if (!this.enabledFlag) throw etcdError('AuthNotEnabled')
    const u = this.users.get(name)
    if (u === undefined) throw etcdError('AuthFailed')
    if (u.noPassword) throw etcdError('NoPasswordUser')
    const rev = this.rev
    if (!(await verify(password, u.password))) throw etcdError('AuthFailed')
    return rev
  }

  // --- permission checks (etcd's Is*Permitted) ---

  private hasRootRole(u: UserRecord): boolean {
    return u.roles.includes(ROOT_ROLE)
  }

  /** Does user `name` hold role `role`? (etcd `HasRole`) */
  hasRole(name: string, role: string): boolean {
    return this.users.get(name)?.roles.includes(role) ?? false
  }

  /** Root-only operations (etcd `IsAdminPermitted`). */
  checkAdmin(ai: AuthInfo): void {
    if (!this.enabledFlag) return
    if (ai.username === '') throw etcdError('UserEmpty')
    const u = this.users.get(ai.username)
    if (u === undefined) throw etcdError('UserNotFound')
    if (!this.hasRootRole(u)) throw etcdError('PermissionDenied')
  }

  /** True when {@link checkAdmin} passes. */
  isAdmin(ai: AuthInfo): boolean {
    try {
      this.checkAdmin(ai)
      return true
    } catch {
      return false // any refusal means "not admin" here, as etcd's early return in checkLeasePutsKeys
    }
  }

  /** etcd `isOpPermitted`: may `ai` do `kind` on [key, rangeEnd)? Throws etcd's error when not. */
  checkOp(ai: AuthInfo, key: Uint8Array, rangeEnd: Uint8Array, kind: AccessKind): void {
    if (!this.enabledFlag) return
    if (ai.revision === 0) throw etcdError('UserEmpty')
    if (ai.revision < this.rev) throw etcdError('AuthOldRevision')
    const u = this.users.get(ai.username)
    if (u === undefined) throw etcdError('PermissionDenied')
    if (this.hasRootRole(u)) return
    let perms = this.permCache.get(u.name)
    if (perms === undefined) {
      perms = mergePermissions(u.roles.flatMap((r) => this.roles.get(r)?.perms ?? []))
      this.permCache.set(u.name, perms)
    }
    if (!rangePermitted(kind === 'READ' ? perms.read : perms.write, key, rangeEnd)) throw etcdError('PermissionDenied')
  }

  // --- applying committed auth requests ---

  /**
   * Applies one auth request from `ai` at log index `index` (etcd's auth applier: the admin
   * check, then the store's operation). Throws etcd's error and changes nothing on refusal.
   */
  apply(req: AuthRequest, ai: AuthInfo, index: number): AuthApplyResult {
    if ('userGet' in req) {
      if (!this.isAdmin(ai) && req.userGet.name !== ai.username) this.checkAdmin(ai)
      const u = this.users.get(req.userGet.name)
      if (u === undefined) throw etcdError('UserNotFound')
      return { response: { roles: [...u.roles] }, ops: [] }
    }
    if ('roleGet' in req) {
      if (!this.isAdmin(ai) && !this.hasRole(ai.username, req.roleGet.role)) this.checkAdmin(ai)
      const r = this.roles.get(req.roleGet.role)
      if (r === undefined) throw etcdError('RoleNotFound')
      return { response: { perm: r.perms.map((p) => ({ ...p })) }, ops: [] }
    }
    if ('authenticate' in req) return this.authenticate(req.authenticate.name, `${req.authenticate.simpleToken}.${index}`)
    this.checkAdmin(ai)
    if ('authStatus' in req) return { response: { enabled: this.enabledFlag, authRevision: this.rev }, ops: [] }
    if ('userList' in req) return { response: { users: [...this.users.keys()].sort() }, ops: [] }
    if ('roleList' in req) return { response: { roles: [...this.roles.keys()].sort() }, ops: [] }
    if ('authEnable' in req) return this.authEnable()
    if ('authDisable' in req) return this.authDisable()
    if ('userAdd' in req) return this.userAdd(req.userAdd)
    if ('userDelete' in req) return this.userDelete(req.userDelete.name)
    if ('userChangePassword' in req) return this.userChangePassword(req.userChangePassword.name, req.userChangePassword.hashedPassword)
    if ('userGrantRole' in req) return this.userGrantRole(req.userGrantRole.user, req.userGrantRole.role)
    if ('userRevokeRole' in req) return this.userRevokeRole(req.userRevokeRole.name, req.userRevokeRole.role)
    if ('roleAdd' in req) return this.roleAdd(req.roleAdd.name)
    if ('roleDelete' in req) return this.roleDelete(req.roleDelete.role)
    if ('roleGrantPermission' in req) return this.roleGrantPermission(req.roleGrantPermission.name, req.roleGrantPermission.perm)
    return this.roleRevokePermission(req.roleRevokePermission.role, req.roleRevokePermission.key, req.roleRevokePermission.rangeEnd)
  }

  private metaOp(): BackendOp {
    return { type: 'put', bucket: this.bucket, key: META_KEY, value: encoder.encode(JSON.stringify({ enabled: this.enabledFlag, revision: this.rev })) }
  }

  private userOp(u: UserRecord): BackendOp {
    return { type: 'put', bucket: this.bucket, key: userKey(u.name), value: encoder.encode(JSON.stringify(u)) }
  }

  private roleOp(r: RoleRecord): BackendOp {
    const perms: StoredPerm[] = r.perms.map((p) => ({ permType: p.permType, key: toBinaryString(p.key), rangeEnd: toBinaryString(p.rangeEnd) }))
    return { type: 'put', bucket: this.bucket, key: roleKey(r.name), value: encoder.encode(JSON.stringify({ name: r.name, perms })) }
  }

  /** Bumps the revision (etcd `commitRevision`) and returns the ops with the meta record. */
  private commit(ops: BackendOp[]): AuthApplyResult {
    this.rev++
    return { response: {}, ops: [...ops, this.metaOp()] }
  }

  private authenticate(name: string, token: string): AuthApplyResult {
    if (!this.enabledFlag) throw etcdError('AuthNotEnabled')
    const u = this.users.get(name)
    if (u === undefined || u.noPassword) throw etcdError('AuthFailed')
    this.tokens.set(token, { username: name, expiresAt: this.keeper === undefined ? Infinity : this.keeper.now() + this.keeper.ttlMs })
    return { response: { token }, ops: [] }
  }

  private authEnable(): AuthApplyResult {
    if (this.enabledFlag) return { response: {}, ops: [] }
    const root = this.users.get(ROOT_USER)
    if (root === undefined) throw etcdError('RootUserNotExist')
    if (!this.hasRootRole(root)) throw etcdError('RootRoleNotExist')
    this.enabledFlag = true
    this.permCache.clear()
    return this.commit([])
  }

  private authDisable(): AuthApplyResult {
    if (!this.enabledFlag) return { response: {}, ops: [] }
    this.enabledFlag = false
    this.tokens.clear()
    return this.commit([])
  }

  private invalidateUser(name: string): void {
    for (const [t, { username }] of this.tokens) if (username === name) this.tokens.delete(t)
  }

  private userAdd(r: { name: string; hashedPassword: string; noPassword: boolean }): AuthApplyResult {
    if (r.name.length === 0) throw etcdError('UserEmpty')
    if (this.users.has(r.name)) throw etcdError('UserAlreadyExist')
    const u: UserRecord = { name: r.name, password: r.noPassword ? '' : r.hashedPassword, roles: [], noPassword: r.noPassword }
    this.users.set(u.name, u)
    return this.commit([this.userOp(u)])
  }

  private userDelete(name: string): AuthApplyResult {
    if (this.enabledFlag && name === ROOT_USER) throw etcdError('InvalidAuthMgmt')
    if (!this.users.delete(name)) throw etcdError('UserNotFound')
    this.permCache.delete(name)
    this.invalidateUser(name)
    return this.commit([{ type: 'del', bucket: this.bucket, key: userKey(name) }])
  }

  private userChangePassword(name: string, hashedPassword: string): AuthApplyResult {
    const u = this.users.get(name)
    if (u === undefined) throw etcdError('UserNotFound')
    const next: UserRecord = { ...u, password: hashedPassword }
    this.users.set(name, next)
    this.invalidateUser(name)
    return this.commit([this.userOp(next)])
  }

  private userGrantRole(user: string, role: string): AuthApplyResult {
    const u = this.users.get(user)
    if (u === undefined) throw etcdError('UserNotFound')
    if (role !== ROOT_ROLE && !this.roles.has(role)) throw etcdError('RoleNotFound')
    // etcd ignores a duplicated grant without bumping the revision
    if (u.roles.includes(role)) return { response: {}, ops: [] }
    const next: UserRecord = { ...u, roles: [...u.roles] }
    sortedInsert(next.roles, role)
    this.users.set(user, next)
    this.permCache.delete(user)
    return this.commit([this.userOp(next)])
  }

  private userRevokeRole(name: string, role: string): AuthApplyResult {
    if (this.enabledFlag && name === ROOT_USER && role === ROOT_ROLE) throw etcdError('InvalidAuthMgmt')
    const u = this.users.get(name)
    if (u === undefined) throw etcdError('UserNotFound')
    if (!u.roles.includes(role)) throw etcdError('RoleNotGranted')
    const next: UserRecord = { ...u, roles: u.roles.filter((r) => r !== role) }
    this.users.set(name, next)
    this.permCache.delete(name)
    return this.commit([this.userOp(next)])
  }

  private roleAdd(name: string): AuthApplyResult {
    if (name.length === 0) throw etcdError('RoleEmpty')
    if (this.roles.has(name)) throw etcdError('RoleAlreadyExist')
    const r: RoleRecord = { name, perms: [] }
    this.roles.set(name, r)
    return this.commit([this.roleOp(r)])
  }

  private roleDelete(role: string): AuthApplyResult {
    if (this.enabledFlag && role === ROOT_ROLE) throw etcdError('InvalidAuthMgmt')
    if (!this.roles.delete(role)) throw etcdError('RoleNotFound')
    const ops: BackendOp[] = [{ type: 'del', bucket: this.bucket, key: roleKey(role) }]
    for (const u of [...this.users.values()]) {
      if (!u.roles.includes(role)) continue
      const next: UserRecord = { ...u, roles: u.roles.filter((r) => r !== role) }
      this.users.set(u.name, next)
      ops.push(this.userOp(next))
    }
    this.permCache.clear()
    return this.commit(ops)
  }

  private roleGrantPermission(name: string, perm: Permission): AuthApplyResult {
    const r = this.roles.get(name)
    if (r === undefined) throw etcdError('RoleNotFound')
    const perms = r.perms.map((p) => ({ ...p }))
    let idx = perms.findIndex((p) => compareBytes(p.key, perm.key) >= 0)
    if (idx < 0) idx = perms.length
    const same = perms[idx]
    if (same !== undefined && equalBytes(same.key, perm.key) && equalBytes(same.rangeEnd, perm.rangeEnd)) same.permType = perm.permType
    else perms.splice(idx, 0, { permType: perm.permType, key: perm.key, rangeEnd: perm.rangeEnd })
    const next: RoleRecord = { name, perms }
    this.roles.set(name, next)
    this.permCache.clear()
    return this.commit([this.roleOp(next)])
  }

  private roleRevokePermission(role: string, key: Uint8Array, rangeEnd: Uint8Array): AuthApplyResult {
    const r = this.roles.get(role)
    if (r === undefined) throw etcdError('RoleNotFound')
    const perms = r.perms.filter((p) => !(equalBytes(p.key, key) && equalBytes(p.rangeEnd, rangeEnd)))
    if (perms.length === r.perms.length) throw etcdError('PermissionNotGranted')
    const next: RoleRecord = { name: role, perms }
    this.roles.set(role, next)
    this.permCache.clear()
    return this.commit([this.roleOp(next)])
  }
}
