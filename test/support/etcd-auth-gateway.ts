/**
 * etcd 3.4's Auth service through its JSON gateway (`POST /v3/auth/...`), as pocket-etcd's
 * {@link AuthApi} with its normalized messages: the reference side of the auth differential
 * test. The token of the {@link EtcdGateway} it is built on travels as the `Authorization`
 * header (etcd reads the `authorization` metadata as the token, `TokenFieldNameSwagger`).
 *
 * Wire format, as observed: proto field names (`range_end`, `no_password`), `permType` as the
 * enum name and omitted when it is `READ` (the proto default), bytes base64, default-valued
 * fields omitted.
 *
 * @module
 */
import type { ResponseHeader } from '../../src/api/messages.js'
import { EMPTY, toBytes } from '../../src/api/bytes.js'
import type { AuthApi, AuthHeaderResponse, Permission, PermissionInput, PermType } from '../../src/services/auth-api.js'
import { EtcdGateway } from './etcd-gateway.js'

type Json = { [field: string]: unknown }

const b64 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64')
const bytesOf = (v: unknown): Uint8Array => (typeof v === 'string' ? new Uint8Array(Buffer.from(v, 'base64')) : EMPTY)
const num = (v: unknown): number => (v === undefined || v === null ? 0 : Number(v))
const id = (v: unknown): string => (v === undefined || v === null ? '0' : BigInt(v as string).toString())
const strings = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : [])

function header(v: unknown): ResponseHeader {
  const h = (v ?? {}) as Json
  return { clusterId: id(h.cluster_id), memberId: id(h.member_id), revision: num(h.revision), raftTerm: num(h.raft_term) }
}

function perm(v: unknown): Permission {
  const p = (v ?? {}) as Json
  const permType: PermType = p.permType === 'WRITE' || p.permType === 'READWRITE' ? p.permType : 'READ'
  return { permType, key: bytesOf(p.key), rangeEnd: bytesOf(p.range_end) }
}

function setBytes(out: Json, field: string, v: string | Uint8Array | undefined): void {
  if (v === undefined) return
  const b = toBytes(v)
  if (b.length > 0) out[field] = b64(b)
}

/** etcd's Auth service over the gateway, as one user (the token of `gateway`) or anonymously. */
export class EtcdAuthGateway implements AuthApi {
  constructor(private readonly gateway: EtcdGateway) {}

  private async headerOnly(path: string, body: Json): Promise<AuthHeaderResponse> {
    return { header: header((await this.gateway.call(path, body)).header) }
  }

  authEnable(): Promise<AuthHeaderResponse> {
    return this.headerOnly('auth/enable', {})
  }

  authDisable(): Promise<AuthHeaderResponse> {
    return this.headerOnly('auth/disable', {})
  }

  /** etcd 3.4 has no `AuthStatus` RPC (it came in 3.5). */
  authStatus(): Promise<{ header: ResponseHeader; enabled: boolean; authRevision: number }> {
    return Promise.reject(new Error('etcd 3.4 has no AuthStatus'))
  }

  async authenticate(request: { name: string; password: string }): Promise<{ header: ResponseHeader; token: string }> {
    const r = await this.gateway.call('auth/authenticate', { name: request.name, password: request.password })
    return { header: header(r.header), token: typeof r.token === 'string' ? r.token : '' }
  }

  userAdd(request: { name: string; password?: string; options?: { noPassword?: boolean } }): Promise<AuthHeaderResponse> {
    const body: Json = { name: request.name }
    if (request.password) body.password = request.password
    if (request.options?.noPassword) body.options = { no_password: true }
    return this.headerOnly('auth/user/add', body)
  }

  async userGet(request: { name: string }): Promise<{ header: ResponseHeader; roles: string[] }> {
    const r = await this.gateway.call('auth/user/get', { name: request.name })
    return { header: header(r.header), roles: strings(r.roles) }
  }

  async userList(): Promise<{ header: ResponseHeader; users: string[] }> {
    const r = await this.gateway.call('auth/user/list', {})
    return { header: header(r.header), users: strings(r.users) }
  }

  userDelete(request: { name: string }): Promise<AuthHeaderResponse> {
    return this.headerOnly('auth/user/delete', { name: request.name })
  }

  userChangePassword(request: { name: string; password: string }): Promise<AuthHeaderResponse> {
    return this.headerOnly('auth/user/changepw', { name: request.name, password: request.password })
  }

  userGrantRole(request: { user: string; role: string }): Promise<AuthHeaderResponse> {
    return this.headerOnly('auth/user/grant', { user: request.user, role: request.role })
  }

  userRevokeRole(request: { name: string; role: string }): Promise<AuthHeaderResponse> {
    return this.headerOnly('auth/user/revoke', { name: request.name, role: request.role })
  }

  roleAdd(request: { name: string }): Promise<AuthHeaderResponse> {
    return this.headerOnly('auth/role/add', { name: request.name })
  }

  async roleGet(request: { role: string }): Promise<{ header: ResponseHeader; perm: Permission[] }> {
    const r = await this.gateway.call('auth/role/get', { role: request.role })
    return { header: header(r.header), perm: Array.isArray(r.perm) ? r.perm.map(perm) : [] }
  }

  async roleList(): Promise<{ header: ResponseHeader; roles: string[] }> {
    const r = await this.gateway.call('auth/role/list', {})
    return { header: header(r.header), roles: strings(r.roles) }
  }

  roleDelete(request: { role: string }): Promise<AuthHeaderResponse> {
    return this.headerOnly('auth/role/delete', { role: request.role })
  }

  roleGrantPermission(request: { name: string; perm: PermissionInput }): Promise<AuthHeaderResponse> {
    const p: Json = {}
    if (request.perm.permType !== 'READ') p.permType = request.perm.permType
    setBytes(p, 'key', request.perm.key)
    setBytes(p, 'range_end', request.perm.rangeEnd)
    return this.headerOnly('auth/role/grant', { name: request.name, perm: p })
  }

  roleRevokePermission(request: { role: string; key: string | Uint8Array; rangeEnd?: string | Uint8Array }): Promise<AuthHeaderResponse> {
    const body: Json = { role: request.role }
    setBytes(body, 'key', request.key)
    setBytes(body, 'range_end', request.rangeEnd)
    return this.headerOnly('auth/role/revoke', body)
  }
}
