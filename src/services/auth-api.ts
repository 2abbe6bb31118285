/**
 * The Auth service's surface (etcd's `Auth` gRPC service), with etcd's field names.
 *
 * @module
 */
import type { ResponseHeader } from '../api/messages.js'
import type { Permission, PermType } from '../auth/auth-request.js'

export type { Permission, PermType }

/** A response that carries only a header. */
export interface AuthHeaderResponse {
  header: ResponseHeader
}

/** A permission as a caller writes it: `rangeEnd` omitted is the single key, `'\0'` from `key` on. */
export interface PermissionInput {
  permType: PermType
  key: string | Uint8Array
  rangeEnd?: string | Uint8Array
}

/** etcd's Auth service. */
export interface AuthApi {
  /** Enables authentication; needs the root user with the root role (etcd `AuthEnable`). */
  authEnable(request?: Record<string, never>): Promise<AuthHeaderResponse>
  /** Disables authentication; every token becomes invalid (etcd `AuthDisable`). */
  authDisable(request?: Record<string, never>): Promise<AuthHeaderResponse>
  /** Whether auth is enabled and the auth revision (etcd 3.5's `AuthStatus`; root only). */
  authStatus(request?: Record<string, never>): Promise<{ header: ResponseHeader; enabled: boolean; authRevision: number }>
  /** Exchanges a name and password for a simple token (etcd `Authenticate`). */
  authenticate(request: { name: string; password: string }): Promise<{ header: ResponseHeader; token: string }>
  /** Adds a user (etcd `UserAdd`); the password is hashed before it is proposed. */
  userAdd(request: { name: string; password?: string; options?: { noPassword?: boolean } }): Promise<AuthHeaderResponse>
  /** A user's roles (etcd `UserGet`). */
  userGet(request: { name: string }): Promise<{ header: ResponseHeader; roles: string[] }>
  /** Every user name, sorted (etcd `UserList`). */
  userList(request?: Record<string, never>): Promise<{ header: ResponseHeader; users: string[] }>
  /** Deletes a user; its tokens become invalid (etcd `UserDelete`). */
  userDelete(request: { name: string }): Promise<AuthHeaderResponse>
  /** Changes a password; the user's tokens become invalid (etcd `UserChangePassword`). */
  userChangePassword(request: { name: string; password: string }): Promise<AuthHeaderResponse>
  /** Grants a role to a user (etcd `UserGrantRole`). */
  userGrantRole(request: { user: string; role: string }): Promise<AuthHeaderResponse>
  /** Revokes a role from a user (etcd `UserRevokeRole`). */
  userRevokeRole(request: { name: string; role: string }): Promise<AuthHeaderResponse>
  /** Adds a role (etcd `RoleAdd`). */
  roleAdd(request: { name: string }): Promise<AuthHeaderResponse>
  /** A role's permissions, sorted by key (etcd `RoleGet`). */
  roleGet(request: { role: string }): Promise<{ header: ResponseHeader; perm: Permission[] }>
  /** Every role name, sorted (etcd `RoleList`). */
  roleList(request?: Record<string, never>): Promise<{ header: ResponseHeader; roles: string[] }>
  /** Deletes a role and revokes it from every user (etcd `RoleDelete`). */
  roleDelete(request: { role: string }): Promise<AuthHeaderResponse>
  /** Grants (or changes the type of) a key permission (etcd `RoleGrantPermission`). */
  roleGrantPermission(request: { name: string; perm: PermissionInput }): Promise<AuthHeaderResponse>
  /** Revokes the permission with exactly this key and range end (etcd `RoleRevokePermission`). */
  roleRevokePermission(request: { role: string; key: string | Uint8Array; rangeEnd?: string | Uint8Array }): Promise<AuthHeaderResponse>
}
