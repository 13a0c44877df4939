/**
 * Wires src/observability/metrics.ts into the gateway: every route gets its own onResponse
 * hook (added as it is registered, through onRoute) holding that route's precomputed label
 * children, so a request costs no label lookup; requests matching no route count under
 * `route="unmatched"`. Once the gateway is ready, the upstream pools, the response cache
 * and the outbox are told where to report. The endpoint itself is routes/metrics.ts.
 */
import fp from 'fastify-plugin'
import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction, onResponseHookHandler } from 'fastify'
import type { GatewayMetrics, RouteSignals } from '../src/observability/metrics.js'

export interface MetricsPluginOptions {
  metrics: GatewayMetrics
}

/** A route's metrics label: its template, with a proxy's `/*` folded into its prefix. */
export function routeLabel (url: string): string {
  if (url === '/*') return '/'
  return url.endsWith('/*') ? url.slice(0, -2) : url
}

function hookFor (signals: RouteSignals): onResponseHookHandler {
  if (signals.cached) {
    return function cachedRouteMetrics (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) {
      signals.answered(request.method, reply.statusCode, reply.elapsedTime / 1000)
      const xCache = reply.getHeader('x-cache')
      if (typeof xCache === 'string') signals.cacheResult(xCache)
      done()
    }
  }
  return function routeMetrics (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) {
    signals.answered(request.method, reply.statusCode, reply.elapsedTime / 1000)
    done()
  }
}

export default fp<MetricsPluginOptions>(async function metricsPlugin (app, opts) {
  const metrics = opts.metrics
  app.decorate('metrics', metrics)

  app.addHook('onRoute', routeOptions => {
    const hook = hookFor(metrics.route(routeLabel(routeOptions.url ?? routeOptions.path)))
    const existing = routeOptions.onResponse
    routeOptions.onResponse = existing === undefined ? [hook] : [...(Array.isArray(existing) ? existing : [existing]), hook]
  })

  // Matched routes count in their own hook; this one takes the rest (Fastify's 404 handler).
  const unmatched = metrics.unmatched
  app.addHook('onResponse', (request, reply, done) => {
    if (request.is404) unmatched.answered(request.method, reply.statusCode, reply.elapsedTime / 1000)
    done()
  })

  app.addHook('onReady', async () => {
    for (const service of app.upstreams) service.signals = metrics.upstream(service.name)
    metrics.watchCircuits(app.upstreams)
    if (app.hasDecorator('responseCache')) app.responseCache.onCoalesced = route => { metrics.route(route).coalesced() }
    // Hits the shortcut answers before the router count as the route's hook would count them.
    for (const route of app.hitShortcut?.routes ?? []) {
      const signals = metrics.route(routeLabel(route.url))
      route.listeners.push((method, status, xCache, seconds) => {
        signals.answered(method, status, seconds)
        signals.cacheResult(xCache)
      })
    }
    if (app.hasDecorator('outbox')) metrics.watchOutbox(app.outbox)
  })
}, { name: 'metrics', fastify: '5.x' })

declare module 'fastify' {
  interface FastifyInstance {
    metrics: GatewayMetrics
  }
}
