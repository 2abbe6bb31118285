/**
 * One error hierarchy for the whole library, carrying etcd's gRPC status code and etcd's
 * message verbatim, so code written against etcd's errors (rpctypes) recognises ours.
 *
 * @module
 */

/** gRPC status codes, as etcd attaches them to its errors. */
export type GrpcCode =
  | 'InvalidArgument'
  | 'NotFound'
  | 'FailedPrecondition'
  | 'OutOfRange'
  | 'ResourceExhausted'
  | 'PermissionDenied'
  | 'Unauthenticated'
  | 'Unavailable'
  | 'DataLoss'
  | 'Canceled'
  | 'DeadlineExceeded'
  | 'Internal'
  | 'Unknown'

/** Every error pocket-etcd raises on purpose is an `EtcdError`. `message` is etcd's text. */
export class EtcdError extends Error {
  /** The gRPC status code etcd would attach (`codes.InvalidArgument` and so on). */
  readonly grpcCode: GrpcCode
  /** A stable identifier for programs, for example `ErrCompacted`. */
  readonly code: string

  constructor(message: string, grpcCode: GrpcCode, code: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = new.target.name
    this.grpcCode = grpcCode
    this.code = code
  }
}

/** A request was malformed: a missing key, a bad field, a too-large request (InvalidArgument). */
export class InvalidArgumentError extends EtcdError {}
/** A revision outside what the store holds: compacted or in the future (OutOfRange). */
export class RevisionError extends EtcdError {}
/** A lease-related failure (not found, exists, TTL too large). */
export class LeaseError extends EtcdError {}
/** Cluster membership failures. */
export class MembershipError extends EtcdError {}
/** Authentication and authorisation failures. */
export class AuthError extends EtcdError {}
/** The cluster cannot serve the request now: no leader, timeouts, stopped (Unavailable). */
export class UnavailableError extends EtcdError {}
/** Storage quota exceeded or a backend failure. */
export class StorageError extends EtcdError {}

/** The constructor of an {@link EtcdError} subclass. */
export type ErrorClass = new (message: string, grpcCode: GrpcCode, code: string, options?: { cause?: unknown }) => EtcdError

function def(cls: ErrorClass, code: string, grpcCode: GrpcCode, message: string) {
  return { cls, code, grpcCode, message }
}

/**
 * etcd's error catalogue (api/v3rpc/rpctypes), keyed by a stable name. Messages are etcd's
 * verbatim, so `err.message` matches what an etcd client would show.
 */
export const ERRORS = {
  EmptyKey: def(InvalidArgumentError, 'ErrEmptyKey', 'InvalidArgument', 'etcdserver: key is not provided'),
  KeyNotFound: def(InvalidArgumentError, 'ErrKeyNotFound', 'InvalidArgument', 'etcdserver: key not found'),
  ValueProvided: def(InvalidArgumentError, 'ErrValueProvided', 'InvalidArgument', 'etcdserver: value is provided'),
  LeaseProvided: def(InvalidArgumentError, 'ErrLeaseProvided', 'InvalidArgument', 'etcdserver: lease is provided'),
  TooManyOps: def(InvalidArgumentError, 'ErrTooManyOps', 'InvalidArgument', 'etcdserver: too many operations in txn request'),
  DuplicateKey: def(InvalidArgumentError, 'ErrDuplicateKey', 'InvalidArgument', 'etcdserver: duplicate key given in txn request'),
  RequestTooLarge: def(InvalidArgumentError, 'ErrRequestTooLarge', 'InvalidArgument', 'etcdserver: request is too large'),
  InvalidSortOption: def(InvalidArgumentError, 'ErrInvalidSortOption', 'InvalidArgument', 'etcdserver: invalid sort option'),
  InvalidRequest: def(InvalidArgumentError, 'ErrInvalidRequest', 'InvalidArgument', 'etcdserver: invalid request'),

  Compacted: def(RevisionError, 'ErrCompacted', 'OutOfRange', 'etcdserver: mvcc: required revision has been compacted'),
  FutureRev: def(RevisionError, 'ErrFutureRev', 'OutOfRange', 'etcdserver: mvcc: required revision is a future revision'),

  NoSpace: def(StorageError, 'ErrNoSpace', 'ResourceExhausted', 'etcdserver: mvcc: database space exceeded'),
  Corrupt: def(StorageError, 'ErrCorrupt', 'DataLoss', 'etcdserver: corrupt cluster'),
  /** A snapshot image that fails its checks (bad magic, version, sha256, truncated, undecodable); the detail follows a colon. */
  SnapshotCorrupt: def(StorageError, 'ErrSnapshotCorrupt', 'DataLoss', 'pocket-etcd: snapshot image is corrupt'),
  /** A restore target that already holds data (etcd's `data-dir %q not empty or could not be read`); the path is inserted. */
  DataDirNotEmpty: def(InvalidArgumentError, 'ErrDataDirNotEmpty', 'FailedPrecondition', 'data-dir not empty or could not be read'),
  /** A member's classic-level directory the database library refuses to open (garbled CURRENT, truncated MANIFEST); path, member and cause are inserted. */
  DataDirCorrupt: def(StorageError, 'ErrDataDirCorrupt', 'DataLoss', 'pocket-etcd: data directory cannot be opened'),

  LeaseNotFound: def(LeaseError, 'ErrLeaseNotFound', 'NotFound', 'etcdserver: requested lease not found'),
  LeaseExist: def(LeaseError, 'ErrLeaseExist', 'FailedPrecondition', 'etcdserver: lease already exists'),
  LeaseTTLTooLarge: def(LeaseError, 'ErrLeaseTTLTooLarge', 'OutOfRange', 'etcdserver: too large lease TTL'),

  MemberExist: def(MembershipError, 'ErrMemberExist', 'FailedPrecondition', 'etcdserver: member ID already exist'),
  PeerURLExist: def(MembershipError, 'ErrPeerURLExist', 'FailedPrecondition', 'etcdserver: Peer URLs already exists'),
  MemberNotEnoughStarted: def(MembershipError, 'ErrMemberNotEnoughStarted', 'FailedPrecondition', 'etcdserver: re-configuration failed due to not enough started members'),
  MemberBadURLs: def(MembershipError, 'ErrMemberBadURLs', 'InvalidArgument', 'etcdserver: given member URLs are invalid'),
  MemberNotFound: def(MembershipError, 'ErrMemberNotFound', 'NotFound', 'etcdserver: member not found'),
  MemberNotLearner: def(MembershipError, 'ErrMemberNotLearner', 'FailedPrecondition', 'etcdserver: can only promote a learner member'),
  LearnerNotReady: def(MembershipError, 'ErrLearnerNotReady', 'FailedPrecondition', 'etcdserver: can only promote a learner member which is in sync with leader'),
  TooManyLearners: def(MembershipError, 'ErrTooManyLearners', 'FailedPrecondition', 'etcdserver: too many learner members in cluster'),
  NotSupportedForLearner: def(MembershipError, 'ErrNotSupportedForLearner', 'Unavailable', 'etcdserver: rpc not supported for learner'),
  TimeoutLeaderTransfer: def(UnavailableError, 'ErrTimeoutLeaderTransfer', 'Unavailable', 'etcdserver: request timed out, leader transfer took too long'),
  BadLeaderTransferee: def(MembershipError, 'ErrBadLeaderTransferee', 'FailedPrecondition', 'etcdserver: bad leader transferee'),

  RootUserNotExist: def(AuthError, 'ErrRootUserNotExist', 'FailedPrecondition', 'etcdserver: root user does not exist'),
  RootRoleNotExist: def(AuthError, 'ErrRootRoleNotExist', 'FailedPrecondition', 'etcdserver: root user does not have root role'),
  UserAlreadyExist: def(AuthError, 'ErrUserAlreadyExist', 'FailedPrecondition', 'etcdserver: user name already exists'),
  UserEmpty: def(AuthError, 'ErrUserEmpty', 'InvalidArgument', 'etcdserver: user name is empty'),
  UserNotFound: def(AuthError, 'ErrUserNotFound', 'FailedPrecondition', 'etcdserver: user name not found'),
  RoleAlreadyExist: def(AuthError, 'ErrRoleAlreadyExist', 'FailedPrecondition', 'etcdserver: role name already exists'),
  RoleNotFound: def(AuthError, 'ErrRoleNotFound', 'FailedPrecondition', 'etcdserver: role name not found'),
  RoleEmpty: def(AuthError, 'ErrRoleEmpty', 'InvalidArgument', 'etcdserver: role name is empty'),
  AuthFailed: def(AuthError, 'ErrAuthFailed', 'InvalidArgument', 'etcdserver: authentication failed, invalid user ID or password'),
  PermissionNotGiven: def(AuthError, 'ErrPermissionNotGiven', 'InvalidArgument', 'etcdserver: permission not given'),
  PermissionDenied: def(AuthError, 'ErrPermissionDenied', 'PermissionDenied', 'etcdserver: permission denied'),
  RoleNotGranted: def(AuthError, 'ErrRoleNotGranted', 'FailedPrecondition', 'etcdserver: role is not granted to the user'),
  PermissionNotGranted: def(AuthError, 'ErrPermissionNotGranted', 'FailedPrecondition', 'etcdserver: permission is not granted to the role'),
  AuthNotEnabled: def(AuthError, 'ErrAuthNotEnabled', 'FailedPrecondition', 'etcdserver: authentication is not enabled'),
  InvalidAuthToken: def(AuthError, 'ErrInvalidAuthToken', 'Unauthenticated', 'etcdserver: invalid auth token'),
  InvalidAuthMgmt: def(AuthError, 'ErrInvalidAuthMgmt', 'InvalidArgument', 'etcdserver: invalid auth management'),
  AuthOldRevision: def(AuthError, 'ErrAuthOldRevision', 'InvalidArgument', 'etcdserver: revision of auth store is old'),
  /** etcd 3.4 answers it with gRPC code Unknown (2): it is not in rpctypes. */
  NoPasswordUser: def(AuthError, 'ErrNoPasswordUser', 'Unknown', 'auth: authentication failed, password was given for no password user'),

  NoLeader: def(UnavailableError, 'ErrNoLeader', 'Unavailable', 'etcdserver: no leader'),
  NotLeader: def(UnavailableError, 'ErrNotLeader', 'FailedPrecondition', 'etcdserver: not leader'),
  LeaderChanged: def(UnavailableError, 'ErrLeaderChanged', 'Unavailable', 'etcdserver: leader changed'),
  NotCapable: def(UnavailableError, 'ErrNotCapable', 'Unavailable', 'etcdserver: not capable'),
  Stopped: def(UnavailableError, 'ErrStopped', 'Unavailable', 'etcdserver: server stopped'),
  Timeout: def(UnavailableError, 'ErrTimeout', 'Unavailable', 'etcdserver: request timed out'),
  TimeoutDueToLeaderFail: def(UnavailableError, 'ErrTimeoutDueToLeaderFail', 'Unavailable', 'etcdserver: request timed out, possibly due to previous leader failure'),
  TimeoutDueToConnectionLost: def(UnavailableError, 'ErrTimeoutDueToConnectionLost', 'Unavailable', 'etcdserver: request timed out, possibly due to connection lost'),
  TooManyRequests: def(UnavailableError, 'ErrTooManyRequests', 'ResourceExhausted', 'etcdserver: too many requests'),
  Unhealthy: def(UnavailableError, 'ErrUnhealthy', 'Unavailable', 'etcdserver: unhealthy cluster'),
  StoreClosed: def(UnavailableError, 'ErrStoreClosed', 'Unavailable', 'pocket-etcd: store is closed'),
} as const

/** The name of an entry in {@link ERRORS}. */
export type ErrorName = keyof typeof ERRORS

/** Builds the error named `name` from etcd's catalogue. */
export function etcdError(name: ErrorName, options?: { cause?: unknown }): EtcdError {
  const d = ERRORS[name]
  return new d.cls(d.message, d.grpcCode, d.code, options)
}

/** True when `err` is the catalogue error `name` (compares the stable code). */
export function isEtcdError(err: unknown, name?: ErrorName): err is EtcdError {
  if (!(err instanceof EtcdError)) return false
  return name === undefined || err.code === ERRORS[name].code
}

/**
 * Raised when an internal invariant breaks. The member that hits it stops rather than
 * corrupting data; it is never an answer to a well-formed or malformed request.
 */
export class InvariantError extends Error {
  constructor(message: string) {
    super(`pocket-etcd invariant violated: ${message}`)
    this.name = 'InvariantError'
  }
}

/** Asserts an invariant that must never break; throws {@link InvariantError} when it does. */
export function assert(cond: unknown, why: string): asserts cond {
  if (!cond) throw new InvariantError(why)
}
