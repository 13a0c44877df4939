/**
 * Slows down guessing of the admin token: each client address may present wrong
 * credentials (a bearer token or the login form's token) `maxFailures` times per window;
 * after that every attempt from it is refused, the right token included, until the window
 * ends. Only wrong credentials count: a browser without a session cookie is not guessing.
 *
 * Per process, in memory (an LRU of client addresses, so a flood of addresses cannot grow
 * it without bound): behind N instances a guesser gets N times the attempts, still a few
 * per second against a 32-byte random token. Written here rather than with the route rate
 * limiter (@fastify/rate-limit) because that one counts every request, and only failures
 * must count: an operator's scripts polling the API must never be locked out.
 */
import { LRUCache } from 'lru-cache'

export interface CredentialGuardOptions {
  /** Wrong credentials allowed per address and window (default 10). */
  readonly maxFailures?: number
  /** The window, from an address's first failure (default 60 s). */
  readonly windowMs?: number
  /** Addresses tracked; the least recently seen are forgotten beyond (default 10,000). */
  readonly maxClients?: number
}

interface Failures { count: number, resetAt: number }

export class CredentialGuard {
  readonly #max: number
  readonly #windowMs: number
  readonly #clients: LRUCache<string, Failures>

  constructor (opts: CredentialGuardOptions = {}) {
    this.#max = opts.maxFailures ?? 10
    this.#windowMs = opts.windowMs ?? 60_000
    this.#clients = new LRUCache({ max: opts.maxClients ?? 10_000 })
  }

  /** Seconds this address must wait before presenting credentials again; 0 when it may now. */
  waitSeconds (client: string, now = Date.now()): number {
    const failures = this.#clients.get(client)
    if (failures === undefined || failures.count < this.#max) return 0
    if (failures.resetAt <= now) {
      this.#clients.delete(client)
      return 0
    }
    return Math.max(1, Math.ceil((failures.resetAt - now) / 1000))
  }

  /** Counts one wrong credential from this address. */
  failed (client: string, now = Date.now()): void {
    const failures = this.#clients.get(client)
    if (failures === undefined || failures.resetAt <= now) {
      this.#clients.set(client, { count: 1, resetAt: now + this.#windowMs })
      return
    }
    failures.count++
  }
}
