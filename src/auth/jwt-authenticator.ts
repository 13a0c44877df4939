/**
 * Bearer JWTs (RFC 6750, RFC 7519). The verifiers are built once at start, one per key
 * (plugins/protection.ts builds them with @fastify/jwt, which compiles fast-jwt verifiers
 * with the key, algorithms, issuer, audience, required claims and clock tolerance); this
 * class only finds the token, picks the key by `kid` and turns fast-jwt's errors into our
 * 401s. A token seen before and still valid is answered from ./verified-tokens.ts (one map
 * lookup); otherwise a request costs one verifier call and, with several keys, one base64url
 * JSON parse of the token's header.
 */
import type { IncomingHttpHeaders } from 'node:http'
import type { ClaimHeader, JwtAuthenticatorConfig } from '../config/auth-block.js'
import { errors, JunctionError } from '../errors.js'
import { REALM, quotable, type Authentication, type Authenticator, type Principal } from './authenticator.js'
import { VerifiedTokens } from './verified-tokens.js'

/** Verifies a token's signature and claims; throws fast-jwt's TokenError (a `code`) when it cannot. */
export type JwtVerifier = (token: string) => unknown

export interface KeyVerifier {
  readonly kid: string | undefined
  readonly verify: JwtVerifier
}

export class JwtAuthenticator implements Authenticator {
  readonly name: string
  readonly kind = 'jwt' as const
  readonly forwardClaims: readonly ClaimHeader[]
  readonly credentialHeaders: readonly string[] = []
  readonly accepts = 'a bearer token (Authorization: Bearer <token>)'
  readonly #scopeClaim: string
  /** The only verifier when there is one key: no kid lookup. */
  readonly #single: JwtVerifier | undefined
  readonly #byKid: ReadonlyMap<string, JwtVerifier>
  readonly #verified: VerifiedTokens

  constructor (config: JwtAuthenticatorConfig, verifiers: readonly KeyVerifier[]) {
    if (verifiers.length === 0) throw new Error(`JWT authenticator "${config.name}" has no keys`)
    this.name = config.name
    this.forwardClaims = config.forwardClaims
    this.#scopeClaim = config.scopeClaim
    this.#single = verifiers.length === 1 ? verifiers[0]?.verify : undefined
    this.#byKid = new Map(verifiers.flatMap(v => v.kid === undefined ? [] : [[v.kid, v.verify] as const]))
    this.#verified = new VerifiedTokens(config.clockToleranceMs)
  }

  authenticate (headers: IncomingHttpHeaders): Authentication {
    const header = headers.authorization
    // Another scheme (Basic...) is not this authenticator's credential.
    if (header === undefined || header.length < 7 || header.slice(0, 7).toLowerCase() !== 'bearer ') return undefined
    const token = header.slice(7).trim()
    if (token === '') return errors.invalidToken('it is empty')
    let claims = this.#verified.get(token)
    if (claims === undefined) {
      const verify = this.#single ?? this.#verifierFor(token)
      if (verify instanceof JunctionError) return verify
      let payload: unknown
      try {
        payload = verify(token)
      } catch (err) {
        return refusal(err)
      }
      if (typeof payload !== 'object' || payload === null) return errors.invalidToken('its payload is not a JSON object')
      claims = payload as Record<string, unknown>
      this.#verified.set(token, claims)
    }
    const principal: Principal = {
      authenticator: this.name,
      kind: 'jwt',
      subject: typeof claims.sub === 'string' ? claims.sub : undefined,
      keyName: undefined,
      claims
    }
    return principal
  }

  scopes (principal: Principal): readonly string[] {
    const value = principal.claims[this.#scopeClaim]
    if (typeof value === 'string') return value.split(' ').filter(s => s !== '')
    return Array.isArray(value) ? value.filter((s): s is string => typeof s === 'string') : []
  }

  challenge (error?: { code: 'invalid_token' | 'insufficient_scope', description: string, scope?: string }): string {
    if (error === undefined) return `Bearer realm="${REALM}"`
    const scope = error.scope === undefined ? '' : `, scope="${quotable(error.scope)}"`
    return `Bearer realm="${REALM}", error="${error.code}", error_description="${quotable(error.description)}"${scope}`
  }

  /** Several keys (a JWKS): the token's header names its key by `kid`. */
  #verifierFor (token: string): JwtVerifier | JunctionError {
    const dot = token.indexOf('.')
    let header: unknown
    try {
      header = JSON.parse(Buffer.from(dot === -1 ? token : token.slice(0, dot), 'base64url').toString('utf8'))
    } catch (err) {
      return errors.invalidToken('it is not a well-formed JWT', err)
    }
    const kid = typeof header === 'object' && header !== null ? (header as Record<string, unknown>).kid : undefined
    if (typeof kid !== 'string') return errors.invalidToken(`its header has no "kid" to choose among ${this.#byKid.size} keys`)
    return this.#byKid.get(kid) ?? errors.invalidToken(`no key has its "kid" ${JSON.stringify(kid.slice(0, 64))}`)
  }
}

/** fast-jwt's TokenError codes → what the client is told (never the key or the expected values). */
function refusal (err: unknown): JunctionError {
  const code = (err as { code?: unknown }).code
  const message = err instanceof Error ? err.message : ''
  const claim = /^The (\S+) claim/.exec(message)?.[1]
  switch (code) {
    case 'FAST_JWT_EXPIRED':
      return errors.tokenExpired()
    case 'FAST_JWT_INACTIVE':
      return errors.invalidToken('it is not valid yet ("nbf" is in the future)', err)
    case 'FAST_JWT_INVALID_SIGNATURE':
      return errors.invalidToken('its signature does not verify', err)
    case 'FAST_JWT_MISSING_SIGNATURE':
      return errors.invalidToken('it is not signed', err)
    case 'FAST_JWT_INVALID_ALGORITHM':
      return errors.invalidToken('its algorithm is not accepted here', err)
    case 'FAST_JWT_MISSING_REQUIRED_CLAIM':
      return errors.invalidToken(claim === undefined ? 'it lacks a required claim' : `it lacks the required claim "${claim}"`, err)
    case 'FAST_JWT_INVALID_CLAIM_VALUE':
    case 'FAST_JWT_INVALID_CLAIM_TYPE':
      return errors.invalidToken(claim === undefined ? 'one of its claims is not accepted' : `its "${claim}" claim is not accepted`, err)
    case 'FAST_JWT_MALFORMED':
    case 'FAST_JWT_INVALID_TYPE':
    case 'FAST_JWT_INVALID_PAYLOAD':
    case 'FAST_JWT_INVALID_CRIT_HEADER':
      return errors.invalidToken('it is not a well-formed JWT', err)
    default:
      return errors.invalidToken('it could not be verified', err)
  }
}
