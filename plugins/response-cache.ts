/**
 * The response cache (src/cache/) wired into the gateway: one ResponseCache over the
 * gateway's store, exposed as `app.responseCache`, subscribed to other instances'
 * invalidations. Registered after the store plugin, so its onClose hook runs before the
 * store's (Fastify closes plugins in reverse order): the subscription and background
 * refreshes end while the store is still open.
 *
 * It exists even when no route caches: write routes and admin purges invalidate entries
 * that other instances (or later configs) may hold.
 */
import fp from 'fastify-plugin'
import { HitShortcut } from '../src/cache/hit-shortcut.js'
import { ResponseCache } from '../src/cache/response-cache.js'
import type { CacheSettings } from '../src/config/types.js'
import { IdTracer } from '../src/observability/tracing.js'

export interface ResponseCachePluginOptions {
  settings: CacheSettings
  /** server.maxHeaders (the shortcut's head checks). */
  maxHeaders: number
}

export default fp<ResponseCachePluginOptions>(async function responseCachePlugin (app, opts) {
  const cache = await ResponseCache.open({
    store: app.store,
    l1MaxBytes: opts.settings.l1MaxBytes,
    maxEntryBytes: opts.settings.maxEntryBytes,
    // The cache passes requests through when the store fails; say so once per failure.
    onError: (err, during) => { app.log.warn({ err }, `response cache: store failed during ${during}; passing through`) }
  })
  app.decorate('responseCache', cache)
  app.decorate('cacheSettings', opts.settings)
  // Fresh L1 hits answered before the router (src/cache/hit-shortcut.ts; the gateway host,
  // or the server's handler made in src/gateway.ts, offers it each request). Not with a trace exporter:
  // every request's span must be recorded.
  const shortcut = app.hasDecorator('tracer') && app.tracer instanceof IdTracer && app.hasDecorator('overloadReason')
    ? new HitShortcut({ cache, maxHeaders: opts.maxHeaders, overloadReason: app.overloadReason, log: app.log })
    : null
  app.decorate('hitShortcut', shortcut)
  app.addHook('preClose', async () => { shortcut?.close() })
  app.addHook('onClose', async () => { await cache.close() })
}, { name: 'response-cache', fastify: '5.x', dependencies: ['store'] })

declare module 'fastify' {
  interface FastifyInstance {
    responseCache: ResponseCache
    /** The instance-wide settings (maxEntryBytes is where cached proxy routes stop buffering). */
    cacheSettings: CacheSettings
    /** Answers fresh L1 hits before the router; null with a trace exporter. */
    hitShortcut: HitShortcut | null
  }
}
