/**
 * Browser sessions for the admin dashboard, without a session table: the cookie is
 * `<expiry>.<nonce>.<mac>`, the mac an HMAC-SHA256 over expiry and nonce with a key derived
 * from the admin token. Every instance holding the same token accepts it (no sticky
 * sessions, nothing in the store), and changing the token ends every session.
 *
 * CSRF: the cookie is SameSite=Strict, and a change made with it (POST, DELETE) must also
 * carry the page's CSRF token in a header: an HMAC of the session's nonce, which a page of
 * another origin can neither read nor compute (synchronizer token, derived instead of stored).
 *
 * Every comparison is constant-time over equal-length digests (as routes/admin/auth.ts does
 * for the bearer token): neither content nor length leaks through timing.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto'

export const SESSION_COOKIE = 'junction_admin'

export interface AdminSession {
  readonly expiresAt: number
  /** Sent back as the X-CSRF-Token header on changes. */
  readonly csrfToken: string
}

export interface IssuedSession extends AdminSession {
  /** The cookie's value. */
  readonly cookie: string
}

const sha256 = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest()

/** Constant-time equality of two strings of any length. */
export function sameSecret (given: string, expected: string): boolean {
  return timingSafeEqual(sha256(given), sha256(expected))
}

export class AdminSessions {
  readonly #token: string
  readonly #key: Buffer
  readonly #ttlMs: number

  constructor (token: string, ttlMs: number) {
    if (token === '') throw new Error('admin sessions need a non-empty token')
    this.#token = token
    // A key of its own, so a session cookie or CSRF token never is (or reveals) the token.
    this.#key = createHmac('sha256', token).update('junction admin session v1').digest()
    this.#ttlMs = ttlMs
  }

  get ttlMs (): number {
    return this.#ttlMs
  }

  /** Whether `given` is the admin token (constant time). */
  checkToken (given: string): boolean {
    return sameSecret(given, this.#token)
  }

  issue (now = Date.now()): IssuedSession {
    const expiresAt = now + this.#ttlMs
    const nonce = randomBytes(18).toString('base64url')
    const body = `${expiresAt}.${nonce}`
    return { cookie: `${body}.${this.#mac(body)}`, expiresAt, csrfToken: this.#mac(`csrf.${nonce}`) }
  }

  /** The session a cookie value stands for, or undefined when forged, malformed or expired. */
  verify (cookie: string | undefined, now = Date.now()): AdminSession | undefined {
    if (cookie === undefined || cookie.length > 200) return undefined
    const parts = cookie.split('.')
    if (parts.length !== 3) return undefined
    const [expiry, nonce, mac] = parts as [string, string, string]
    if (!sameSecret(mac, this.#mac(`${expiry}.${nonce}`))) return undefined
    const expiresAt = Number(expiry)
    if (!Number.isSafeInteger(expiresAt) || expiresAt <= now) return undefined
    return { expiresAt, csrfToken: this.#mac(`csrf.${nonce}`) }
  }

  #mac (text: string): string {
    return createHmac('sha256', this.#key).update(text).digest('base64url')
  }
}

/**
 * One cookie's value from a Cookie header. Hand-written (a dozen lines) rather than a
 * dependency: we read one cookie whose value we wrote ourselves, base64url and dots only.
 */
export function readCookie (header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=')
    if (eq === -1) continue
    if (pair.slice(0, eq).trim() === name) return pair.slice(eq + 1).trim()
  }
  return undefined
}

/** The Set-Cookie value: HttpOnly, SameSite=Strict, only under /admin, Secure over TLS. */
export function sessionCookie (value: string, maxAgeSeconds: number, secure: boolean): string {
  return `${SESSION_COOKIE}=${value}; Path=/admin; Max-Age=${maxAgeSeconds}; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`
}
