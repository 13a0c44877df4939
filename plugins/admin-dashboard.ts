/**
 * The admin dashboard's read model (src/admin/) wired into the gateway, only when an admin
 * token is set: cache outcomes per cached route, counted from each answer's X-Cache (one
 * onResponse hook, added only when some route caches), and the outbox's lag history,
 * sampled every few seconds from the outbox's stats into a bounded ring. Registered after
 * the outbox plugin, so the sampler stops before the outbox closes.
 */
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
  if (cache.any) {
    app.addHook('onResponse', (request, reply, done) => {
      cache.record(request.routeOptions.url, reply.getHeader('x-cache'))
      done()
    })
  }
  app.decorate('adminDashboard', { routes: opts.routes, cache, history })
  app.addHook('onReady', async () => { history.start() })
  app.addHook('onClose', async () => { await history.stop() })
}, { name: 'admin-dashboard', fastify: '5.x', dependencies: ['outbox', 'upstreams'] })

declare module 'fastify' {
  interface FastifyInstance {
    /** Present only when an admin token is set. */
    adminDashboard: AdminDashboardModel
  }
}
