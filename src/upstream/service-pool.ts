/**
 * One backing service: a keep-alive undici Pool per upstream URL, round-robin across the
 * URLs that are in rotation, and the state that decides rotation: each URL's circuit
 * breaker (passive health: a failing URL is ejected for a cool-down) and its active
 * health-check verdict. We keep our own list of pools rather than undici's BalancedPool
 * because we own the choice: BalancedPool cannot skip an ejected URL or prefer another
 * URL for a retry.
 */
import { Pool } from 'undici'
import type { ServiceConfig } from '../config/types.js'
import { errors, type JunctionError } from '../errors.js'
import { UpstreamBreaker, type BreakerState } from './circuit-breaker.js'
import { HealthChecker } from './health-check.js'
import { RetryBudget } from './retry-budget.js'

/** What the pools report about rotation changes (a pino logger fits). */
export interface UpstreamLog {
  warn: (obj: object, msg: string) => void
  info: (obj: object, msg: string) => void
}

export interface Upstream {
  /** `http://host:port` of this upstream URL. */
  readonly origin: string
  readonly pool: Pool
  /** undefined when the service's circuit breaker is disabled. */
  readonly breaker: UpstreamBreaker | undefined
  /** false while active health checks say this URL is down. */
  healthy: boolean
}

/**
 * What calls to a service report: latency to response headers, and failures by the error
 * catalogue's code. Silent unless metrics are on (src/observability/metrics.ts).
 */
export interface ServiceSignals {
  answered (seconds: number): void
  failed (code: string): void
}

const SILENT: ServiceSignals = { answered () {}, failed () {} }

/** Whether a call may go to this URL now. */
function inRotation (upstream: Upstream): boolean {
  return upstream.healthy && (upstream.breaker === undefined || upstream.breaker.admits())
}

export class ServicePool {
  readonly name: string
  readonly config: ServiceConfig
  /** Shared by every retrying call to this service. */
  readonly budget: RetryBudget
  /** Where this service's calls report to (plugins/metrics.ts sets it). */
  signals: ServiceSignals = SILENT
  readonly #upstreams: Upstream[]
  #next = 0
  #checker: HealthChecker | undefined

  constructor (config: ServiceConfig, log?: UpstreamLog) {
    this.name = config.name
    this.config = config
    this.budget = new RetryBudget(config.retry.budget)
    this.#upstreams = config.urls.map(url => {
      const origin = new URL(url).origin
      const onChange = log === undefined ? undefined : (state: BreakerState): void => { logBreaker(log, config.name, origin, state) }
      return {
        origin,
        pool: new Pool(origin, {
          connections: config.connections,
          connectTimeout: config.connectTimeoutMs,
          keepAliveTimeout: config.keepAliveTimeoutMs,
          headersTimeout: config.timeoutMs,
          bodyTimeout: config.timeoutMs
        }),
        breaker: config.circuitBreaker === undefined ? undefined : new UpstreamBreaker(config.circuitBreaker, onChange),
        healthy: true
      }
    })
    if (this.#upstreams.length === 0) throw new Error(`service "${config.name}" has no urls`)
  }

  /**
   * The next URL in round-robin order that is in rotation; undefined when every URL is
   * out. For a retry (`tried` given), one not tried yet when there is one, and the
   * rotation is left where it is: first tries alone decide how load is spread.
   */
  choose (tried?: readonly Upstream[]): Upstream | undefined {
    const upstreams = this.#upstreams
    const count = upstreams.length
    let fallback: Upstream | undefined
    for (let i = 0; i < count; i++) {
      const index = (this.#next + i) % count
      const upstream = upstreams[index] as Upstream
      if (!inRotation(upstream)) continue
      if (tried === undefined) {
        this.#next = (index + 1) % count
        return upstream
      }
      if (!tried.includes(upstream)) return upstream
      fallback ??= upstream
    }
    return fallback
  }

  /** Whether any URL is in rotation (does not move the round-robin). */
  anyInRotation (): boolean {
    return this.#upstreams.some(inRotation)
  }

  /**
   * For callers with their own retry policy (the write path, outbox deliveries): the next
   * URL in rotation, or, when every URL is out, the next one anyway: they must try
   * something, and failing fast here would only move their retry earlier.
   */
  pick (): Upstream {
    const chosen = this.choose()
    if (chosen !== undefined) return chosen
    const upstream = this.#upstreams[this.#next] as Upstream
    this.#next = (this.#next + 1) % this.#upstreams.length
    return upstream
  }

  /** The error for a call finding every URL out of rotation: circuit open wins over health checks. */
  outOfRotation (): JunctionError {
    let coolDownLeft = Infinity
    for (const upstream of this.#upstreams) {
      if (upstream.healthy && upstream.breaker !== undefined) coolDownLeft = Math.min(coolDownLeft, upstream.breaker.coolDownLeftMs())
    }
    if (coolDownLeft !== Infinity) return errors.upstreamCircuitOpen(this.name, Math.max(1, Math.ceil(coolDownLeft / 1000)))
    const interval = this.config.health?.intervalMs ?? 1000
    return errors.upstreamUnhealthy(this.name, Math.max(1, Math.ceil(interval / 1000)))
  }

  get upstreams (): readonly Upstream[] {
    return this.#upstreams
  }

  /** Starts the active health checks, when the service has a `health` block. */
  startHealthChecks (log?: UpstreamLog): void {
    if (this.config.health === undefined || this.#checker !== undefined) return
    this.#checker = new HealthChecker(this.name, this.#upstreams, this.config.health, log)
    this.#checker.start()
  }

  /** Lets in-flight requests finish, then closes every connection. */
  async close (): Promise<void> {
    await this.#checker?.close()
    await Promise.all(this.#upstreams.map(u => u.pool.close()))
  }

  /** Closes at once, failing whatever is still in flight. */
  async destroy (): Promise<void> {
    await this.#checker?.close()
    await Promise.all(this.#upstreams.map(u => u.pool.destroy()))
  }
}

function logBreaker (log: UpstreamLog, service: string, origin: string, state: BreakerState): void {
  // The origin is for operators; clients only ever see the service name.
  if (state === 'open') log.warn({ service, upstream: origin }, 'circuit opened: upstream URL out of rotation')
  else if (state === 'closed') log.info({ service, upstream: origin }, 'circuit closed: upstream URL back in rotation')
}

/** Every configured service, by name. */
export class Upstreams {
  readonly #services = new Map<string, ServicePool>()

  constructor (services: Readonly<Record<string, ServiceConfig>>, log?: UpstreamLog) {
    for (const [name, config] of Object.entries(services)) {
      this.#services.set(name, new ServicePool(config, log))
    }
  }

  get (name: string): ServicePool {
    const pool = this.#services.get(name)
    // The config cross-check guarantees every referenced service exists.
    if (pool === undefined) throw new Error(`unknown service "${name}"`)
    return pool
  }

  [Symbol.iterator] (): IterableIterator<ServicePool> {
    return this.#services.values()
  }

  /** The circuit state of every upstream URL that has a breaker; `upstream` is its index in the service's urls. */
  * circuits (): Iterable<{ service: string, upstream: string, state: BreakerState }> {
    for (const service of this.#services.values()) {
      const upstreams = service.upstreams
      for (let i = 0; i < upstreams.length; i++) {
        const breaker = upstreams[i]!.breaker
        if (breaker !== undefined) yield { service: service.name, upstream: String(i), state: breaker.state }
      }
    }
  }

  startHealthChecks (log?: UpstreamLog): void {
    for (const service of this.#services.values()) service.startHealthChecks(log)
  }

  async close (): Promise<void> {
    await Promise.all([...this.#services.values()].map(s => s.close()))
  }
}
