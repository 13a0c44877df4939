/**
 * The gateway's Prometheus metrics (docs/observability.md), on prom-client with a Registry
 * of its own (not prom-client's global one: two gateways in one process keep their
 * numbers apart). Plain TypeScript: the core reports through the small objects handed out
 * here (RouteSignals, UpstreamSignals, CacheSignals) and plugins/metrics.ts wires them.
 *
 * Label values are bounded: routes by their configured template (never a raw path; every
 * request matching no route is `route="unmatched"`), methods from a fixed list, statuses
 * 100-599, services and dependents from the config, upstream URLs by their position in
 * the service's `urls` (the URL itself is not for whoever can read /metrics).
 *
 * Cost on the request path: prom-client's `labels()` builds a key and looks it up on every
 * call, and even a kept child hashes its labels on every inc() and observe(). So each
 * route's children are made once (per method and status on first use) and kept, and
 * requests, cache results and durations are counted in plain numbers that prom-client gets
 * when scraped (collect(); the two per-request histograms are counted-histogram.ts); a
 * request costs two small lookups, two increments and a bucket search.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry, type Counter as CounterType } from 'prom-client'
import { CountedHistogram, type HistogramSeries } from './counted-histogram.js'
import type { DeliveryEvent, DependentStats, Outbox } from '../outbox/types.js'
import type { AttemptEvent } from '../outbox/types.js'
import type { BreakerState } from '../upstream/circuit-breaker.js'

/** Request latencies, in seconds: 1 ms to 10 s. */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
/** Propagation lag, commit to delivery, in seconds: 5 ms to 10 min (retries included). */
const LAG_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 600]
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'])
export const UNMATCHED_ROUTE = 'unmatched'
const CACHE_RESULTS = new Set(['hit', 'miss', 'stale', 'revalidated', 'bypass'])
const CIRCUIT_VALUE: Record<BreakerState, number> = { closed: 0, 'half-open': 1, open: 2 }

/**
 * One (route, method, status) count. Counted here as a plain number on the request path and
 * handed to prom-client when scraped: its children hash their labels on every inc().
 */
interface StatusCount {
  readonly child: ReturnType<CounterType<'route' | 'method' | 'status'>['labels']>
  count: number
  flushed: number
}

/** One (route, X-Cache result) count, kept the same way. */
interface CacheCount {
  readonly child: ReturnType<CounterType<'route' | 'result'>['labels']>
  count: number
  flushed: number
}

function flushCount (entry: StatusCount | CacheCount): void {
  if (entry.count === entry.flushed) return
  entry.child.inc(entry.count - entry.flushed)
  entry.flushed = entry.count
}

/** What a route reports per request. */
export class RouteSignals {
  readonly route: string
  readonly #requests: CounterType<'route' | 'method' | 'status'>
  readonly #duration: HistogramSeries
  readonly #cache: Counter<'route' | 'result'> | undefined
  /** method → status → count, made on first use. */
  readonly #byMethod = new Map<string, Array<StatusCount | undefined>>()
  /** X-Cache value as sent (HIT, MISS...) → its count, handed to prom-client when scraped. */
  readonly #cacheResults = new Map<string, CacheCount>()
  readonly #coalesced: ReturnType<Counter<'route'>['labels']>

  constructor (route: string, metrics: GatewayMetrics, cached: boolean) {
    this.route = route
    this.#requests = metrics.requests
    this.#duration = metrics.requestDuration.series(route)
    this.#cache = cached ? metrics.cacheResults : undefined
    this.#coalesced = metrics.coalesced.labels(route)
  }

  /** Whether this route answers from the response cache (its answers carry X-Cache). */
  get cached (): boolean {
    return this.#cache !== undefined
  }

  answered (method: string, status: number, seconds: number): void {
    let byStatus = this.#byMethod.get(method)
    if (byStatus === undefined) byStatus = this.#addMethod(method)
    const code = status >= 100 && status <= 599 ? status : 0
    let entry = byStatus[code]
    if (entry === undefined) {
      entry = { child: this.#requests.labels(this.route, METHODS.has(method) ? method : 'OTHER', String(code)), count: 0, flushed: 0 }
      byStatus[code] = entry
    }
    entry.count++
    this.#duration.observe(seconds)
  }

  /** Hands the counts made since the last scrape to prom-client. */
  flush (): void {
    for (const byStatus of this.#byMethod.values()) {
      for (const entry of byStatus) if (entry !== undefined) flushCount(entry)
    }
  }

  /** Hands the cache results counted since the last scrape to prom-client. */
  flushCacheResults (): void {
    for (const entry of this.#cacheResults.values()) flushCount(entry)
  }

  /**
   * An unknown method (a client's invention) shares the OTHER counts, and is not remembered
   * under its own name: that map would grow with every invention.
   */
  #addMethod (method: string): Array<StatusCount | undefined> {
    const key = METHODS.has(method) ? method : 'OTHER'
    let byStatus = this.#byMethod.get(key)
    if (byStatus === undefined) {
      byStatus = []
      this.#byMethod.set(key, byStatus)
    }
    return byStatus
  }

  /** The X-Cache result of an answer: HIT, MISS, STALE, REVALIDATED or BYPASS. */
  cacheResult (xCache: string): void {
    if (this.#cache === undefined) return
    let entry = this.#cacheResults.get(xCache)
    if (entry === undefined) {
      const result = xCache.toLowerCase()
      if (!CACHE_RESULTS.has(result)) return
      entry = { child: this.#cache.labels(this.route, result), count: 0, flushed: 0 }
      this.#cacheResults.set(xCache, entry)
    }
    entry.count++
  }

  /** A request that waited for another request's fill of the same cache key instead of calling the service. */
  coalesced (): void {
    this.#coalesced.inc()
  }
}

/** What one service's calls report: latency to response headers, failures by kind. */
export class UpstreamSignals {
  readonly #latency: HistogramSeries
  readonly #errors: Counter<'service' | 'kind'>
  readonly #byKind = new Map<string, ReturnType<Counter<'service' | 'kind'>['labels']>>()
  readonly #service: string

  constructor (service: string, metrics: GatewayMetrics) {
    this.#service = service
    this.#latency = metrics.upstreamDuration.series(service)
    this.#errors = metrics.upstreamErrors
  }

  answered (seconds: number): void {
    this.#latency.observe(seconds)
  }

  /** `code`: the error catalogue's code (JUNCTION_UPSTREAM_TIMEOUT → kind "timeout"). */
  failed (code: string): void {
    let child = this.#byKind.get(code)
    if (child === undefined) {
      child = this.#errors.labels(this.#service, errorKind(code))
      this.#byKind.set(code, child)
    }
    child.inc()
  }
}

/** The catalogue's upstream codes as short kinds; anything else is "failed". */
export function errorKind (code: string): string {
  switch (code) {
    case 'JUNCTION_UPSTREAM_TIMEOUT': return 'timeout'
    case 'JUNCTION_UPSTREAM_CONNECT_TIMEOUT': return 'connect_timeout'
    case 'JUNCTION_UPSTREAM_UNAVAILABLE': return 'refused'
    case 'JUNCTION_UPSTREAM_RESET': return 'reset'
    case 'JUNCTION_UPSTREAM_CIRCUIT_OPEN': return 'circuit_open'
    case 'JUNCTION_UPSTREAM_UNHEALTHY': return 'unhealthy'
    default: return 'failed'
  }
}

/** The circuit state of each upstream URL, read at scrape time. */
export interface CircuitSource {
  circuits (): Iterable<{ service: string, upstream: string, state: BreakerState }>
}

export class GatewayMetrics {
  readonly registry = new Registry()
  readonly requests: Counter<'route' | 'method' | 'status'>
  readonly requestDuration: CountedHistogram
  readonly upstreamDuration: CountedHistogram
  readonly upstreamErrors: Counter<'service' | 'kind'>
  readonly cacheResults: Counter<'route' | 'result'>
  readonly coalesced: Counter<'route'>
  readonly #routes = new Map<string, RouteSignals>()
  readonly #upstreams = new Map<string, UpstreamSignals>()
  readonly #cachedRoutes: ReadonlySet<string>
  #unmatched: RouteSignals | undefined

  constructor (opts: { cachedRoutes?: Iterable<string> } = {}) {
    this.#cachedRoutes = new Set(opts.cachedRoutes ?? [])
    const registers = [this.registry]
    const routes = this.#routes
    this.requests = new Counter({
      name: 'junction_http_requests_total',
      help: 'Requests answered, by route template, method and status.',
      labelNames: ['route', 'method', 'status'],
      registers,
      collect () {
        for (const signals of routes.values()) signals.flush()
      }
    })
    // Observed on every request: counted in plain numbers (counted-histogram.ts).
    this.requestDuration = new CountedHistogram({ name: 'junction_http_request_duration_seconds', help: 'Time from request to answer, by route template.', labelName: 'route', buckets: LATENCY_BUCKETS, registers })
    this.upstreamDuration = new CountedHistogram({ name: 'junction_upstream_request_duration_seconds', help: 'Time from sending a call to a service to its response headers (proxy, compose parts, owner calls, deliveries), by service.', labelName: 'service', buckets: LATENCY_BUCKETS, registers })
    this.upstreamErrors = new Counter({ name: 'junction_upstream_errors_total', help: 'Calls to a service that got no usable answer, by service and kind (timeout, connect_timeout, refused, reset, circuit_open, unhealthy, failed).', labelNames: ['service', 'kind'], registers })
    this.cacheResults = new Counter({
      name: 'junction_cache_requests_total',
      help: 'Answers of cached routes, by route and X-Cache result (hit, miss, stale, revalidated, bypass).',
      labelNames: ['route', 'result'],
      registers,
      collect () {
        for (const signals of routes.values()) signals.flushCacheResults()
      }
    })
    this.coalesced = new Counter({ name: 'junction_cache_coalesced_total', help: 'Requests that waited for another request\'s fill of the same cache key instead of calling the service.', labelNames: ['route'], registers })
    // Event-loop lag (nodejs_eventloop_lag_*), heap, GC, handles: prom-client's process metrics.
    collectDefaultMetrics({ register: this.registry })
  }

  /** The signals of one route, by its template (`/api/users`, `/users/:id`, `/health`). */
  route (template: string): RouteSignals {
    let signals = this.#routes.get(template)
    if (signals === undefined) {
      signals = new RouteSignals(template, this, this.#cachedRoutes.has(template))
      this.#routes.set(template, signals)
    }
    return signals
  }

  /** Every request that matched no route (404s of unknown paths): one label value. */
  get unmatched (): RouteSignals {
    this.#unmatched ??= this.route(UNMATCHED_ROUTE)
    return this.#unmatched
  }

  upstream (service: string): UpstreamSignals {
    let signals = this.#upstreams.get(service)
    if (signals === undefined) {
      signals = new UpstreamSignals(service, this)
      this.#upstreams.set(service, signals)
    }
    return signals
  }

  /** Circuit state per upstream URL (0 closed, 1 half-open, 2 open), read when scraped. */
  watchCircuits (source: CircuitSource): void {
    // eslint-disable-next-line no-new -- registering is the point
    new Gauge({
      name: 'junction_circuit_state',
      help: 'Circuit breaker state per upstream URL: 0 closed, 1 half-open, 2 open. `upstream` is the URL\'s position in services.<name>.urls.',
      labelNames: ['service', 'upstream'],
      registers: [this.registry],
      collect () {
        this.reset()
        for (const c of source.circuits()) this.set({ service: c.service, upstream: c.upstream }, CIRCUIT_VALUE[c.state])
      }
    })
  }

  /** Outbox depth per dependent (read from the store when scraped), outcomes, attempts and propagation lag. */
  watchOutbox (outbox: Pick<Outbox, 'stats' | 'onOutcome' | 'onAttempt'>): void {
    const registers = [this.registry]
    // Both gauges are filled from one stats() call per scrape (the registry collects them concurrently).
    let pending: Promise<DependentStats[]> | undefined
    const stats = (): Promise<DependentStats[]> => {
      pending ??= outbox.stats().finally(() => { pending = undefined })
      return pending
    }
    // eslint-disable-next-line no-new -- registering is the point
    new Gauge({
      name: 'junction_outbox_deliveries',
      help: 'Deliveries in the outbox per dependent and state: pending (due), in_flight (claimed), retrying (waiting for a retry), dead (dead letters).',
      labelNames: ['dependent', 'state'],
      registers,
      async collect () {
        this.reset()
        for (const s of await stats()) {
          this.set({ dependent: s.dependent, state: 'pending' }, s.pending)
          this.set({ dependent: s.dependent, state: 'in_flight' }, s.inFlight)
          this.set({ dependent: s.dependent, state: 'retrying' }, s.retrying)
          this.set({ dependent: s.dependent, state: 'dead' }, s.dead)
        }
      }
    })
    // eslint-disable-next-line no-new -- registering is the point
    new Gauge({
      name: 'junction_outbox_oldest_pending_age_seconds',
      help: 'Age of the oldest undelivered entry per dependent (0 when none).',
      labelNames: ['dependent'],
      registers,
      async collect () {
        this.reset()
        for (const s of await stats()) this.set({ dependent: s.dependent }, s.oldestAgeMs / 1000)
      }
    })
    const outcomes = new Counter({ name: 'junction_outbox_outcomes_total', help: 'Deliveries settled in this process, by dependent and outcome (delivered, superseded, dead).', labelNames: ['dependent', 'outcome'], registers })
    const attempts = new Counter({ name: 'junction_outbox_attempts_total', help: 'Delivery attempts (HTTP calls to a dependent) made by this process, by dependent and result (delivered, superseded, retry, dead).', labelNames: ['dependent', 'result'], registers })
    const lag = new Histogram({ name: 'junction_outbox_propagation_lag_seconds', help: 'Time from the client\'s committed write to the copy\'s delivery, by dependent.', labelNames: ['dependent'], buckets: LAG_BUCKETS, registers })
    // The labelled children, kept: labels() hashes its values on every call, and these run for every delivery.
    const children = <T>(make: (a: string, b: string) => T): (a: string, b: string) => T => {
      const made = new Map<string, T>()
      return (a, b) => {
        const key = `${a}\u0000${b}`
        let child = made.get(key)
        if (child === undefined) made.set(key, child = make(a, b))
        return child
      }
    }
    const outcomeOf = children((dependent, outcome) => outcomes.labels(dependent, outcome))
    const attemptOf = children((dependent, result) => attempts.labels(dependent, result))
    const lagOf = children(dependent => lag.labels(dependent))
    outbox.onOutcome((event: DeliveryEvent) => {
      outcomeOf(event.request.dependent, event.outcome).inc()
      if (event.outcome === 'delivered') lagOf(event.request.dependent, '').observe(event.lagMs / 1000)
    })
    outbox.onAttempt((event: AttemptEvent) => {
      attemptOf(event.request.dependent, event.result).inc()
    })
  }

  get contentType (): string {
    return this.registry.contentType
  }

  async text (): Promise<string> {
    return await this.registry.metrics()
  }
}
