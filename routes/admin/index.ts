/**
 * The admin API under /admin, in its own encapsulated context so its bearer-token hook
 * guards every admin route and nothing else. Registered only when an admin token is
 * configured: without one, /admin does not exist (404), rather than existing unguarded.
 */
import type { FastifyInstance } from 'fastify'
import { bearerAuth } from './auth.js'
import outboxAdminRoutes from './outbox.js'
import cacheAdminRoutes from './cache.js'

export interface AdminRoutesOptions {
  token: string
  /** Paths and prefixes of the routes with a cache block (purge by route). */
  cachedRoutes?: readonly string[]
}

export default async function adminRoutes (app: FastifyInstance, opts: AdminRoutesOptions): Promise<void> {
  if (opts.token === '') throw new Error('the admin API needs a non-empty token')
  await app.register(async function admin (scope) {
    scope.addHook('onRequest', bearerAuth(opts.token))
    await scope.register(outboxAdminRoutes)
    await scope.register(cacheAdminRoutes, { cachedRoutes: opts.cachedRoutes ?? [] })
  }, { prefix: '/admin' })
}
