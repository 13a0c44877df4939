/**
 * Tokens verified recently, by their exact text: a client sends the same token with every
 * request until it expires, and verifying it again would give the same answer until a time
 * claim changes that. A hit costs one map lookup; fast-jwt's own cache (which we turn off)
 * first hashes the token with SHA-256 and decodes its header, which cost as much as
 * verifying an HS256 token again.
 *
 * An entry is used only while the token is still valid as verification would judge it: until
 * `exp` (plus the clock tolerance), and never longer than MAX_AGE_MS after it was verified.
 * Only successes are kept; a refused token is verified again each time. Keyed by the full
 * token text, so two tokens can never share an entry. Bounded in size (least recently used
 * tokens are dropped).
 */
import { LRUCache } from 'lru-cache'

/** How long a verification is trusted at most, whatever the token's exp. */
export const MAX_AGE_MS = 10 * 60 * 1000
export const MAX_TOKENS = 1000

interface Entry {
  readonly claims: Record<string, unknown>
  readonly until: number
}

export class VerifiedTokens {
  readonly #entries = new LRUCache<string, Entry>({ max: MAX_TOKENS })
  readonly #toleranceMs: number

  constructor (clockToleranceMs: number) {
    this.#toleranceMs = clockToleranceMs
  }

  /** The claims of a token verified earlier and still valid, else undefined. */
  get (token: string, now = Date.now()): Record<string, unknown> | undefined {
    const entry = this.#entries.get(token)
    if (entry === undefined) return undefined
    if (now < entry.until) return entry.claims
    this.#entries.delete(token)
    return undefined
  }

  /** Remembers a token that has just been verified. */
  set (token: string, claims: Record<string, unknown>, now = Date.now()): void {
    const exp = claims.exp
    const until = typeof exp === 'number' ? Math.min(now + MAX_AGE_MS, exp * 1000 + this.#toleranceMs) : now + MAX_AGE_MS
    if (until > now) this.#entries.set(token, { claims, until })
  }
}
