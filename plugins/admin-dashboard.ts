/**
 * The admin dashboard's read model (src/admin/) wired into the gateway, only when an admin
 * token is set: cache outcomes per cached route, counted from each answer's X-Cache (an
 * onResponse hook on the cached routes only), and the outbox's lag history,
 * sampled every few seconds from the outbox's stats into a bounded ring. Registered after
 * the outbox plugin, so the sampler stops before the outbox closes.
 */
import type { onResponseHookHandler } from 'fastify'
import fp from 'fastify-plugin'
import { CacheOutcomes } from '../src/admin/cache-outcomes.js'
import { LagHistory } from '../src/admin/lag-history.js'
import type { RouteConfig } from '../src/config/types.js'

export interface AdminDashboardOptions {
  routes: readonly RouteConfig[]
  /** Default 5 s. */
  sampleIntervalMs?: number | undefined
  /** Samples kept per dependent; default 120 (10 minutes at 5 s). */
  historySize?: number | undefined
}

export interface AdminDashboardModel {
  readonly routes: readonly RouteConfig[]
  readonly cache: CacheOutcomes
  readonly history: LagHistory
}

export default fp<AdminDashboardOptions>(async function adminDashboard (app, opts) {
  const cache = new CacheOutcomes(opts.routes)
  const history = new LagHistory({
    stats: async () => await app.outbox.stats(),
    capacity: opts.historySize ?? 120,
    intervalMs: opts.sampleIntervalMs ?? 5000,
    onError: err => { app.log.warn({ err }, 'admin dashboard: outbox sample failed') }
  })
  // The counting hook goes on the cached routes alone (their Fastify urls), so every other
  // route, the streaming proxy path in particular, costs nothing more with the dashboard on.
  app.addHook('onRoute', routeOptions => {
    if (!cache.covers(routeOptions.url)) return
    const url = routeOptions.url
    const count: onResponseHookHandler = (_request, reply, done) => {
      cache.record(url, reply.getHeader('x-cache'))
      done()
    }
    const given = routeOptions.onResponse
    routeOptions.onResponse = given === undefined ? [count] : Array.isArray(given) ? [...given, count] : [given, count]
  })
  app.decorate('adminDashboard', { routes: opts.routes, cache, history })
  app.addHook('onReady', async () => {
    // Hits the shortcut answers before the router are counted as the hook above counts them.
    for (const route of app.hitShortcut?.routes ?? []) {
      if (cache.covers(route.url)) route.listeners.push((_method, _status, xCache) => { cache.record(route.url, xCache) })
    }
    history.start()
  })
  app.addHook('onClose', async () => { await history.stop() })
}, { name: 'admin-dashboard', fastify: '5.x', dependencies: ['outbox', 'upstreams'] })

declare module 'fastify' {
  interface FastifyInstance {
    /** Present only when an admin token is set. */
    adminDashboard: AdminDashboardModel
  }
}
