/**
 * The admin API and dashboard under /admin, in their own encapsulated context so the
 * admin auth hook guards the admin routes and nothing else. Registered only when an admin
 * token is configured: without one, /admin does not exist (404), rather than existing
 * unguarded.
 *
 * Public: the dashboard page (a login form until logged in), login/logout and the page's
 * script and stylesheet; they show no data. Everything else is guarded (bearer token or
 * session cookie, routes/admin/auth.ts).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { AdminSessions } from '../../src/admin/admin-session.js'
import { errors } from '../../src/errors.js'
import { adminAuth } from './auth.js'
import outboxAdminRoutes from './outbox.js'
import cacheAdminRoutes from './cache.js'
import reloadAdminRoutes from './reload.js'
import type { ReloadOutcome } from '../../src/reload-outcome.js'
import { dashboardDataRoutes, dashboardPublicRoutes } from './dashboard.js'
import { CredentialGuard, type CredentialGuardOptions } from '../../src/admin/credential-guard.js'

export interface AdminRoutesOptions {
  token: string
  /** Paths and prefixes of the routes with a cache block (purge by route). */
  cachedRoutes?: readonly string[]
  /** POST /admin/reload exists only when the gateway runs under a host that can reload it. */
  reload?: (() => Promise<ReloadOutcome>) | undefined
  /** Dashboard session lifetime; default 8 hours. */
  sessionTtlMs?: number
  /** How often the dashboard page refreshes; default 2 s. */
  refreshMs?: number
  /** Wrong tokens allowed per client address and window (tests shorten the window). */
  credentialGuard?: CredentialGuardOptions
}

const NOT_GET = ['DELETE', 'OPTIONS', 'PATCH', 'POST', 'PUT'] as const

export default async function adminRoutes (app: FastifyInstance, opts: AdminRoutesOptions): Promise<void> {
  if (opts.token === '') throw new Error('the admin API needs a non-empty token')
  const sessions = new AdminSessions(opts.token, opts.sessionTtlMs ?? 8 * 3600_000)
  const guard = new CredentialGuard(opts.credentialGuard)
  await app.register(async function admin (scope) {
    await scope.register(dashboardPublicRoutes, { sessions, guard, refreshMs: opts.refreshMs ?? 2000 })
    scope.route({ method: [...NOT_GET], url: '/', handler: notFound })
    await scope.register(async function guarded (api) {
      api.addHook('onRequest', adminAuth(sessions, guard))
      await api.register(outboxAdminRoutes)
      await api.register(cacheAdminRoutes, { cachedRoutes: opts.cachedRoutes ?? [] })
      await api.register(dashboardDataRoutes)
      if (opts.reload !== undefined) await api.register(reloadAdminRoutes, { reload: opts.reload })
      // Any other /admin path is still the gateway's: 404, never a catch-all proxy route's.
      api.all('/*', notFound)
    })
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
