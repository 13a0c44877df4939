/**
 * What every authenticator is to a route: it looks for its credential in the request
 * headers and answers with the caller (a Principal), a refusal, or nothing (its credential
 * is absent, so another authenticator of the route may try). Implemented for JWTs
 * (./jwt-authenticator.ts) and API keys (./api-key-authenticator.ts); a route combines them
 * in ./route-guard.ts. No Fastify here.
 */
import type { IncomingHttpHeaders } from 'node:http'
import type { ClaimHeader } from '../config/auth-block.js'
import type { JunctionError } from '../errors.js'

/** The authenticated caller. Shared and frozen where it can be (an API key's is built once). */
export interface Principal {
  /** The authenticator that accepted the caller. */
  readonly authenticator: string
  readonly kind: 'jwt' | 'apiKey'
  /** The caller's subject: a JWT's `sub`, an API key's subject. */
  readonly subject: string | undefined
  /** The API key's name, for API-key callers. */
  readonly keyName: string | undefined
  /** The verified claims: a JWT's payload; an API key's `sub`, `key`, `scope` and own claims. */
  readonly claims: Readonly<Record<string, unknown>>
}

/** Absent credential: `undefined`. */
export type Authentication = Principal | JunctionError | undefined

export interface Authenticator {
  readonly name: string
  readonly kind: 'jwt' | 'apiKey'
  /** Claims this authenticator forwards to services as headers. */
  readonly forwardClaims: readonly ClaimHeader[]
  /** Request headers holding its credential that must not reach a service (lower case). */
  readonly credentialHeaders: readonly string[]
  /** For a 401 without a credential: what to send, e.g. "a bearer token (Authorization: Bearer <token>)". */
  readonly accepts: string
  authenticate (headers: IncomingHttpHeaders): Authentication
  /** The scopes the caller has, for routes that require some. */
  scopes (principal: Principal): readonly string[]
  /**
   * The WWW-Authenticate challenge (RFC 9110 §11.6.1): plain when the credential was
   * missing, with RFC 6750 error attributes for a refusal or a missing scope.
   */
  challenge (error?: { readonly code: 'invalid_token' | 'insufficient_scope', readonly description: string, readonly scope?: string }): string
}

export const REALM = 'junction'

/** A quoted-string's content (RFC 9110 §5.6.4): no quotes or backslashes, printable only. */
export function quotable (text: string): string {
  return text.replace(/["\\]/g, "'").replace(/[^\x20-\x7e]/g, '?')
}
