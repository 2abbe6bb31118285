/**
 * The Auth service (etcd's `v3rpc` AuthServer): parses each request with zod, hashes
 * passwords (PBKDF2-SHA256, random salt) before anything is proposed, and hands the request
 * to a member, which proposes it through Raft with the sender's token. Authenticate checks
 * the password at the member and proposes only the name and a token prefix, as etcd does.
 *
 * @module
 */
import { z } from 'zod'
import type { ResponseHeader } from '../api/messages.js'
import { toBytes, EMPTY } from '../api/bytes.js'
import type { AuthRequest, Permission } from '../auth/auth-request.js'
import { NO_TOKEN, type TokenSource } from '../auth/credentials.js'
import { hashPassword } from '../auth/password.js'
import { bytesInput, parseRequest } from './kv-schema.js'
import type { AuthApi, AuthHeaderResponse, PermissionInput } from './auth-api.js'

/** What the Auth service needs from a member. */
export interface AuthServer {
  /** Proposes an auth request with the sender's token; resolves with the response fields and header. */
  auth<T>(r: AuthRequest, token?: string): Promise<T & { header: ResponseHeader }>
  /** Checks the password and proposes the authentication (etcd `EtcdServer.Authenticate`). */
  authenticate(r: { name: string; password: string }): Promise<{ header: ResponseHeader; token: string }>
}

const bytesField = bytesInput.optional().transform((v): Uint8Array => (v === undefined ? EMPTY : toBytes(v)))
const empty = z.strictObject({}).optional()
const name = z.string()

const schemas = {
  authenticate: z.strictObject({ name, password: z.string() }),
  userAdd: z.strictObject({ name, password: z.string().optional(), options: z.strictObject({ noPassword: z.boolean().optional() }).optional() }),
  userGet: z.strictObject({ name }),
  userDelete: z.strictObject({ name }),
  userChangePassword: z.strictObject({ name, password: z.string() }),
  userGrantRole: z.strictObject({ user: z.string(), role: z.string() }),
  userRevokeRole: z.strictObject({ name, role: z.string() }),
  roleAdd: z.strictObject({ name }),
  roleGet: z.strictObject({ role: z.string() }),
  roleDelete: z.strictObject({ role: z.string() }),
  roleGrantPermission: z.strictObject({
    name,
    perm: z.strictObject({ permType: z.enum(['READ', 'WRITE', 'READWRITE']), key: bytesInput, rangeEnd: bytesField }),
  }),
  roleRevokePermission: z.strictObject({ role: z.string(), key: bytesInput, rangeEnd: bytesField }),
}

/** etcd's Auth service in front of one member (or the cluster's leader). */
export class AuthService implements AuthApi {
  constructor(
    private readonly server: () => AuthServer,
    /** Keeps the host alive while a request is in flight (see `Clock.hold`). */
    private readonly hold: () => () => void = () => () => undefined,
    /** The auth token each request carries (none by default). */
    private readonly tokens: TokenSource = NO_TOKEN,
  ) {}

  private async send<T>(r: AuthRequest): Promise<T & { header: ResponseHeader }> {
    const release = this.hold()
    try {
      return await this.tokens.run((t) => this.server().auth<T>(r, t))
    } finally {
      release()
    }
  }

  /** Enables authentication (etcd `AuthEnable`). */
  async authEnable(request?: Record<string, never>): Promise<AuthHeaderResponse> {
    parseRequest(empty, request, 'AuthEnableRequest')
    return strip(await this.send({ authEnable: {} }))
  }

  /** Disables authentication (etcd `AuthDisable`). */
  async authDisable(request?: Record<string, never>): Promise<AuthHeaderResponse> {
    parseRequest(empty, request, 'AuthDisableRequest')
    return strip(await this.send({ authDisable: {} }))
  }

  /** Auth enabled flag and revision (etcd 3.5 `AuthStatus`). */
  async authStatus(request?: Record<string, never>): Promise<{ header: ResponseHeader; enabled: boolean; authRevision: number }> {
    parseRequest(empty, request, 'AuthStatusRequest')
    return this.send<{ enabled: boolean; authRevision: number }>({ authStatus: {} })
  }

  /** Authenticates (etcd `Authenticate`). */
  async authenticate(request: { name: string; password: string }): Promise<{ header: ResponseHeader; token: string }> {
    const r = parseRequest(schemas.authenticate, request, 'AuthenticateRequest')
    const release = this.hold()
    try {
      return await this.server().authenticate(r)
    } finally {
      release()
    }
  }

  /** Adds a user (etcd `UserAdd`). */
  async userAdd(request: { name: string; password?: string; options?: { noPassword?: boolean } }): Promise<AuthHeaderResponse> {
    const r = parseRequest(schemas.userAdd, request, 'AuthUserAddRequest')
    const noPassword = r.options?.noPassword ?? false
    const hashedPassword = noPassword ? '' : await hashPassword(r.password ?? '')
    return strip(await this.send({ userAdd: { name: r.name, hashedPassword, noPassword } }))
  }

  /** A user's roles (etcd `UserGet`). */
  async userGet(request: { name: string }): Promise<{ header: ResponseHeader; roles: string[] }> {
    const r = parseRequest(schemas.userGet, request, 'AuthUserGetRequest')
    return this.send<{ roles: string[] }>({ userGet: r })
  }

  /** Every user (etcd `UserList`). */
  async userList(request?: Record<string, never>): Promise<{ header: ResponseHeader; users: string[] }> {
    parseRequest(empty, request, 'AuthUserListRequest')
    return this.send<{ users: string[] }>({ userList: {} })
  }

  /** Deletes a user (etcd `UserDelete`). */
  async userDelete(request: { name: string }): Promise<AuthHeaderResponse> {
    const r = parseRequest(schemas.userDelete, request, 'AuthUserDeleteRequest')
    return strip(await this.send({ userDelete: r }))
  }

  /** Changes a password (etcd `UserChangePassword`). */
  async userChangePassword(request: { name: string; password: string }): Promise<AuthHeaderResponse> {
    const r = parseRequest(schemas.userChangePassword, request, 'AuthUserChangePasswordRequest')
    return strip(await this.send({ userChangePassword: { name: r.name, hashedPassword: await hashPassword(r.password) } }))
  }

  /** Grants a role (etcd `UserGrantRole`). */
  async userGrantRole(request: { user: string; role: string }): Promise<AuthHeaderResponse> {
    const r = parseRequest(schemas.userGrantRole, request, 'AuthUserGrantRoleRequest')
    return strip(await this.send({ userGrantRole: r }))
  }

  /** Revokes a role (etcd `UserRevokeRole`). */
  async userRevokeRole(request: { name: string; role: string }): Promise<AuthHeaderResponse> {
    const r = parseRequest(schemas.userRevokeRole, request, 'AuthUserRevokeRoleRequest')
    return strip(await this.send({ userRevokeRole: r }))
  }

  /** Adds a role (etcd `RoleAdd`). */
  async roleAdd(request: { name: string }): Promise<AuthHeaderResponse> {
    const r = parseRequest(schemas.roleAdd, request, 'AuthRoleAddRequest')
    return strip(await this.send({ roleAdd: r }))
  }

  /** A role's permissions (etcd `RoleGet`). */
  async roleGet(request: { role: string }): Promise<{ header: ResponseHeader; perm: Permission[] }> {
    const r = parseRequest(schemas.roleGet, request, 'AuthRoleGetRequest')
    return this.send<{ perm: Permission[] }>({ roleGet: r })
  }

  /** Every role (etcd `RoleList`). */
  async roleList(request?: Record<string, never>): Promise<{ header: ResponseHeader; roles: string[] }> {
    parseRequest(empty, request, 'AuthRoleListRequest')
    return this.send<{ roles: string[] }>({ roleList: {} })
  }

  /** Deletes a role (etcd `RoleDelete`). */
  async roleDelete(request: { role: string }): Promise<AuthHeaderResponse> {
    const r = parseRequest(schemas.roleDelete, request, 'AuthRoleDeleteRequest')
    return strip(await this.send({ roleDelete: r }))
  }

  /** Grants a key permission (etcd `RoleGrantPermission`). */
  async roleGrantPermission(request: { name: string; perm: PermissionInput }): Promise<AuthHeaderResponse> {
    const r = parseRequest(schemas.roleGrantPermission, request, 'AuthRoleGrantPermissionRequest')
    const perm: Permission = { permType: r.perm.permType, key: toBytes(r.perm.key), rangeEnd: r.perm.rangeEnd }
    return strip(await this.send({ roleGrantPermission: { name: r.name, perm } }))
  }

  /** Revokes a key permission (etcd `RoleRevokePermission`). */
  async roleRevokePermission(request: { role: string; key: string | Uint8Array; rangeEnd?: string | Uint8Array }): Promise<AuthHeaderResponse> {
    const r = parseRequest(schemas.roleRevokePermission, request, 'AuthRoleRevokePermissionRequest')
    return strip(await this.send({ roleRevokePermission: { role: r.role, key: toBytes(r.key), rangeEnd: r.rangeEnd } }))
  }
}

function strip(r: { header: ResponseHeader }): AuthHeaderResponse {
  return { header: r.header }
}
