/**
 * Where a service view's requests get their auth token: none, a fixed token
 * (`store.as(token)`), or a user name and password that are exchanged for a token when
 * needed and again when the token is refused (as etcd's clientv3 re-authenticates on
 * `ErrInvalidAuthToken`).
 *
 * @module
 */
import { isEtcdError } from '../errors.js'

/** Supplies the token of each request. */
export interface TokenSource {
  /** Runs `send` with the current token (undefined: no credentials), retrying once with a fresh token if the token was refused. */
  run<T>(send: (token: string | undefined) => Promise<T>): Promise<T>
}

/** Requests without credentials. */
export const NO_TOKEN: TokenSource = { run: (send) => send(undefined) }

/** Every request carries `token`; a refused token is the caller's problem. */
export function fixedToken(token: string): TokenSource {
  return { run: (send) => send(token) }
}

/**
 * A user name and password, authenticated lazily: the first request authenticates; while
 * auth is not enabled requests go without a token (clientv3 ignores `ErrAuthNotEnabled`
 * too); a request refused for its token (invalid, or missing once auth got enabled)
 * authenticates again and is retried once.
 */
export class PasswordCredentials implements TokenSource {
  private token: string | undefined
  private known = false
  private pending: Promise<string | undefined> | undefined

  constructor(private readonly authenticate: () => Promise<string>) {}

  /** The current token, authenticating first if there is none yet. */
  async current(): Promise<string | undefined> {
    if (this.known) return this.token
    this.pending ??= this.fetch().finally(() => {
      this.pending = undefined
    })
    return this.pending
  }

  private async fetch(): Promise<string | undefined> {
    try {
      this.token = await this.authenticate()
    } catch (err) {
      if (!isEtcdError(err, 'AuthNotEnabled')) throw err
      this.token = undefined
    }
    this.known = true
    return this.token
  }

  /** Sends with the current token; on `InvalidAuthToken`, or `UserEmpty` without a token, authenticates again and retries once. */
  async run<T>(send: (token: string | undefined) => Promise<T>): Promise<T> {
    const token = await this.current()
    try {
      return await send(token)
    } catch (err) {
      if (!(isEtcdError(err, 'InvalidAuthToken') || (token === undefined && isEtcdError(err, 'UserEmpty')))) throw err
      this.known = false
      return send(await this.current())
    }
  }
}
