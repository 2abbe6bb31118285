/**
 * The auth requests a member proposes through Raft (etcd's `InternalRaftRequest` auth
 * fields). Passwords never appear here: the proposing member hashes them first
 * (`hashedPassword`), and `authenticate` carries only the token prefix chosen after the
 * password was checked.
 *
 * @module
 */

/** etcd's `authpb.Permission.Type`. */
export type PermType = 'READ' | 'WRITE' | 'READWRITE'

/** A key permission of a role (etcd `authpb.Permission`): `rangeEnd` empty is the single key, `[0]` is from `key` on. */
export interface Permission {
  permType: PermType
  key: Uint8Array
  rangeEnd: Uint8Array
}

/** One auth state change or auth query, as committed to the log. */
export type AuthRequest =
  | { authEnable: Record<string, never> }
  | { authDisable: Record<string, never> }
  | { authStatus: Record<string, never> }
  /** `simpleToken` is the random prefix; the applied token is `prefix.index` (etcd's simple token). */
  | { authenticate: { name: string; simpleToken: string } }
  /** `hashedPassword` is empty for a user without password. */
  | { userAdd: { name: string; hashedPassword: string; noPassword: boolean } }
  | { userDelete: { name: string } }
  | { userChangePassword: { name: string; hashedPassword: string } }
  | { userGrantRole: { user: string; role: string } }
  | { userGet: { name: string } }
  | { userList: Record<string, never> }
  | { userRevokeRole: { name: string; role: string } }
  | { roleAdd: { name: string } }
  | { roleGet: { role: string } }
  | { roleList: Record<string, never> }
  | { roleDelete: { role: string } }
  | { roleGrantPermission: { name: string; perm: Permission } }
  | { roleRevokePermission: { role: string; key: Uint8Array; rangeEnd: Uint8Array } }

/** Who sent a request, as its Raft header records it (etcd `RequestHeader.username`, `auth_revision`); revision 0 means no credentials. */
export interface AuthInfo {
  username: string
  revision: number
}
