/**
 * API keys in a request header (default X-Api-Key). The given key is hashed (SHA-256) and
 * compared with every configured key's hash with timingSafeEqual, all of them, without
 * stopping at a match: neither a key's content, its length, nor its position in the list
 * shows in the response time. Each key's Principal is built once, at start.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'
import type { ApiKeysAuthenticatorConfig, ClaimHeader } from '../config/auth-block.js'
import { errors } from '../errors.js'
import { REALM, quotable, type Authentication, type Authenticator, type Principal } from './authenticator.js'

interface Entry {
  readonly digest: Buffer
  readonly principal: Principal
}

const digest = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest()

export class ApiKeyAuthenticator implements Authenticator {
  readonly name: string
  readonly kind = 'apiKey' as const
  readonly forwardClaims: readonly ClaimHeader[]
  readonly credentialHeaders: readonly string[]
  readonly accepts: string
  readonly #header: string
  readonly #entries: readonly Entry[]
  readonly #scopes = new WeakMap<Principal, readonly string[]>()

  constructor (config: ApiKeysAuthenticatorConfig) {
    this.name = config.name
    this.forwardClaims = config.forwardClaims
    this.#header = config.header
    this.credentialHeaders = [config.header]
    this.accepts = `an API key in the ${config.header} header`
    this.#entries = config.keys.map(key => {
      const principal: Principal = Object.freeze({
        authenticator: config.name,
        kind: 'apiKey' as const,
        subject: key.subject,
        keyName: key.name,
        claims: Object.freeze({ ...key.claims, sub: key.subject, key: key.name, scope: key.scopes.join(' ') })
      })
      this.#scopes.set(principal, key.scopes)
      return { digest: digest(key.key), principal }
    })
  }

  authenticate (headers: IncomingHttpHeaders): Authentication {
    const given = headers[this.#header]
    if (given === undefined) return undefined
    // Node joins repeated custom headers with ", "; a list of keys is never one key.
    if (typeof given !== 'string' || given === '') return errors.invalidApiKey(this.#header)
    const hash = digest(given)
    let match: Entry | undefined
    for (const entry of this.#entries) {
      if (timingSafeEqual(hash, entry.digest) && match === undefined) match = entry
    }
    return match === undefined ? errors.invalidApiKey(this.#header) : match.principal
  }

  scopes (principal: Principal): readonly string[] {
    return this.#scopes.get(principal) ?? []
  }

  challenge (error?: { code: 'invalid_token' | 'insufficient_scope', description: string, scope?: string }): string {
    // Not a registered scheme: it tells a client which header to send.
    const base = `ApiKey realm="${REALM}", header="${this.#header}"`
    if (error === undefined) return base
    const scope = error.scope === undefined ? '' : `, scope="${quotable(error.scope)}"`
    return `${base}, error="${error.code}", error_description="${quotable(error.description)}"${scope}`
  }
}
