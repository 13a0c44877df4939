/**
 * One route's authentication, compiled at start: its authenticators (any one may accept the
 * caller, tried in the order the route lists them), the scopes it requires, and the headers
 * it rewrites on the way to the service:
 *
 * - every claim header any authenticator forwards is removed from the client's request
 *   (a client must never be able to say `X-User-Id: admin`), on public routes too;
 * - the credential headers of API-key authenticators are removed (services never see keys);
 * - the accepting authenticator's claims are set as headers.
 *
 * The headers are rewritten in place on the incoming request's header object, before any
 * handler runs, so the proxy, compose and write paths and the cache key all see the
 * verified values and nothing else. No Fastify here.
 */
import type { IncomingHttpHeaders } from 'node:http'
import { errors, JunctionError } from '../errors.js'
import type { Authenticator, Principal } from './authenticator.js'
import { claimValue } from './claim-value.js'

/** A refusal and the WWW-Authenticate challenges that go with it. */
export interface Refusal {
  readonly error: JunctionError
  readonly challenges: readonly string[]
}

export class RouteGuard {
  readonly #authenticators: readonly Authenticator[]
  readonly #scopes: readonly string[]
  /** Removed from every request of this route: claim headers, then credentials once accepted. */
  readonly #claimHeaders: readonly string[]
  readonly #credentialHeaders: readonly string[]
  readonly #missing: Refusal

  /** `claimHeaders`: every header any authenticator of the gateway forwards a claim in. */
  constructor (authenticators: readonly Authenticator[], scopes: readonly string[], claimHeaders: readonly string[]) {
    this.#authenticators = authenticators
    this.#scopes = scopes
    this.#claimHeaders = claimHeaders
    this.#credentialHeaders = [...new Set(authenticators.flatMap(a => a.credentialHeaders))]
    this.#missing = {
      error: errors.authenticationRequired(authenticators.map(a => a.accepts).join(' or ')),
      challenges: authenticators.map(a => a.challenge())
    }
  }

  /** Whether the route has authenticators (else it only strips claim headers). */
  get authenticates (): boolean {
    return this.#authenticators.length > 0
  }

  /** Removes client-supplied claim headers; for public routes, that is all there is to do. */
  strip (headers: IncomingHttpHeaders): void {
    for (const name of this.#claimHeaders) if (headers[name] !== undefined) delete headers[name]
  }

  /**
   * Authenticates the request and rewrites its headers; the Principal, or the refusal to
   * answer with. A fresh JunctionError per refusal (it carries this request's cause).
   */
  check (headers: IncomingHttpHeaders): Principal | Refusal {
    this.strip(headers)
    let principal: Principal | undefined
    let accepting: Authenticator | undefined
    let refused: { by: Authenticator, error: JunctionError } | undefined
    for (const authenticator of this.#authenticators) {
      const result = authenticator.authenticate(headers)
      if (result === undefined) continue
      if (result instanceof JunctionError) {
        refused ??= { by: authenticator, error: result }
        continue
      }
      principal = result
      accepting = authenticator
      break
    }
    if (principal === undefined || accepting === undefined) {
      if (refused === undefined) return this.#missing
      const by = refused.by
      const error = refused.error
      return {
        error,
        challenges: this.#authenticators.map(a => a === by ? a.challenge({ code: 'invalid_token', description: error.message }) : a.challenge())
      }
    }
    if (this.#scopes.length > 0) {
      const has = accepting.scopes(principal)
      const missing = this.#scopes.filter(scope => !has.includes(scope))
      if (missing.length > 0) {
        const error = errors.insufficientScope(missing)
        return { error, challenges: [accepting.challenge({ code: 'insufficient_scope', description: error.message, scope: this.#scopes.join(' ') })] }
      }
    }
    for (const name of this.#credentialHeaders) if (headers[name] !== undefined) delete headers[name]
    for (const { claim, header } of accepting.forwardClaims) {
      const value = claimValue(principal.claims[claim])
      if (value !== undefined) headers[header] = value
    }
    return principal
  }
}
