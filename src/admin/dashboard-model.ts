/**
 * The admin dashboard's read model: one snapshot of what an operator looks at, built from
 * the objects the gateway already has (config, upstream pools, outbox, the cache outcome
 * counters and the lag history). Plain data, so the HTML renderer and the JSON endpoint
 * show the same thing; no Fastify here.
 */
import type { RouteConfig } from '../config/types.js'
import type { DeadLetter, DependentStats, Outbox } from '../outbox/types.js'
import type { ServicePool } from '../upstream/service-pool.js'
import type { CacheOutcomes, RouteCacheRatio } from './cache-outcomes.js'
import type { LagHistory, LagSample } from './lag-history.js'

export interface UpstreamView {
  readonly origin: string
  /** 'none' when the service has no circuit breaker. */
  readonly breaker: 'closed' | 'open' | 'half-open' | 'none'
  readonly coolDownLeftMs: number
  /** 'unchecked' when the service has no `health` block. */
  readonly health: 'passing' | 'failing' | 'unchecked'
  readonly inRotation: boolean
}

export interface ServiceView {
  readonly name: string
  readonly upstreams: readonly UpstreamView[]
}

export interface RouteView {
  readonly kind: RouteConfig['kind']
  /** `GET /api/users/*`-like: how a person reads the route. */
  readonly match: string
  readonly services: readonly string[]
  readonly cache: RouteCacheRatio | undefined
}

export interface DependentView extends DependentStats {
  readonly history: readonly LagSample[]
  /** The first page of dead letters, oldest first. */
  readonly deadLetters: readonly DeadLetter[]
  /** More dead letters exist than are listed. */
  readonly moreDead: boolean
}

export interface DashboardSnapshot {
  readonly at: number
  readonly services: readonly ServiceView[]
  readonly routes: readonly RouteView[]
  readonly dependents: readonly DependentView[]
}

export interface DashboardSources {
  readonly routes: readonly RouteConfig[]
  readonly services: Iterable<ServicePool>
  readonly outbox: Outbox
  readonly cache: CacheOutcomes
  readonly history: LagHistory
  /** Dead letters listed per dependent (the admin API pages through the rest). */
  readonly deadLetterLimit: number
}

export async function dashboardSnapshot (src: DashboardSources): Promise<DashboardSnapshot> {
  const ratios = new Map(src.cache.ratios().map(r => [r.route, r]))
  const stats = await src.outbox.stats()
  const dependents = await Promise.all(stats.map(async s => {
    // One more than shown tells whether there are more.
    const letters = s.dead === 0 ? [] : await src.outbox.deadLetters(s.dependent, { limit: src.deadLetterLimit + 1 })
    return {
      ...s,
      history: src.history.samples(s.dependent),
      deadLetters: letters.slice(0, src.deadLetterLimit),
      moreDead: letters.length > src.deadLetterLimit
    }
  }))
  return {
    at: Date.now(),
    services: [...src.services].map(serviceView),
    routes: src.routes.map(route => routeView(route, ratios)),
    dependents
  }
}

function serviceView (pool: ServicePool): ServiceView {
  const checked = pool.config.health !== undefined
  return {
    name: pool.name,
    upstreams: pool.upstreams.map(u => {
      const breaker = u.breaker?.state ?? 'none'
      return {
        origin: u.origin,
        breaker,
        coolDownLeftMs: u.breaker?.coolDownLeftMs() ?? 0,
        health: !checked ? 'unchecked' : u.healthy ? 'passing' : 'failing',
        inRotation: u.healthy && (u.breaker === undefined || u.breaker.admits())
      }
    })
  }
}

/** A proxy route without `methods` accepts all seven (src/config: GET … OPTIONS). */
const EVERY_METHOD = 7

function routeView (route: RouteConfig, ratios: ReadonlyMap<string, RouteCacheRatio>): RouteView {
  switch (route.kind) {
    case 'proxy':
      return {
        kind: 'proxy',
        match: `${route.methods.length >= EVERY_METHOD ? 'ANY' : route.methods.join(', ')} ${route.prefix === '/' ? '/*' : `${route.prefix}/*`}`,
        services: [route.service],
        cache: ratios.get(route.prefix)
      }
    case 'compose':
      return {
        kind: 'compose',
        match: `GET ${route.path}`,
        services: [...new Set(route.parts.map(p => p.service))],
        cache: ratios.get(route.path)
      }
    case 'write':
      return {
        kind: 'write',
        match: `${route.method} ${route.path}`,
        services: [route.owner.service, ...route.propagate.map(p => p.service)],
        cache: undefined
      }
  }
}
