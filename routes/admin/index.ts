/**
 * The admin API under /admin, in its own encapsulated context so its bearer-token hook
 * guards every admin route and nothing else. Registered only when an admin token is
 * configured: without one, /admin does not exist (404), rather than existing unguarded.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { errors } from '../../src/errors.js'
import { bearerAuth } from './auth.js'
import outboxAdminRoutes from './outbox.js'
import cacheAdminRoutes from './cache.js'
import reloadAdminRoutes from './reload.js'
import type { ReloadOutcome } from '../../src/reload-outcome.js'

export interface AdminRoutesOptions {
  token: string
  /** Paths and prefixes of the routes with a cache block (purge by route). */
  cachedRoutes?: readonly string[]
  /** POST /admin/reload exists only when the gateway runs under a host that can reload it. */
  reload?: (() => Promise<ReloadOutcome>) | undefined
}

export default async function adminRoutes (app: FastifyInstance, opts: AdminRoutesOptions): Promise<void> {
  if (opts.token === '') throw new Error('the admin API needs a non-empty token')
  await app.register(async function admin (scope) {
    scope.addHook('onRequest', bearerAuth(opts.token))
    await scope.register(outboxAdminRoutes)
    await scope.register(cacheAdminRoutes, { cachedRoutes: opts.cachedRoutes ?? [] })
    if (opts.reload !== undefined) await scope.register(reloadAdminRoutes, { reload: opts.reload })
    // Any other /admin path is still the gateway's: 404, never a catch-all proxy route's.
    scope.all('/', notFound)
    scope.all('/*', notFound)
  }, { prefix: '/admin' })
}

/**
 * Without a token the admin API does not exist, and its paths stay the gateway's: they
 * answer 404 here rather than falling through to a catch-all proxy route (`proxy: /`),
 * which would hand /admin/... to a service.
 */
export async function adminDisabled (app: FastifyInstance): Promise<void> {
  app.all('/admin', notFound)
  app.all('/admin/*', notFound)
}

async function notFound (request: FastifyRequest): Promise<never> {
  const url = request.raw.url ?? '/'
  const q = url.indexOf('?')
  throw errors.notFound(request.method, q === -1 ? url : url.slice(0, q))
}
