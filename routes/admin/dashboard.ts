/**
 * The admin dashboard (docs/admin.md): a server-rendered page at GET /admin with a small
 * script of its own, behind a login form. Public here: the page (a login form until the
 * session cookie is valid), the login and logout posts and the two static assets, none of
 * which shows any data. The panel and its JSON are registered in the guarded scope by
 * dashboardDataRoutes.
 *
 * The token travels once, in the login form's body (never a URL, so never a log line or a
 * browser history entry), and is compared in constant time.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { type AdminSessions, sessionCookie } from '../../src/admin/admin-session.js'
import { DASHBOARD_CSS, DASHBOARD_SCRIPT } from '../../src/admin/dashboard-assets.js'
import type { CredentialGuard } from '../../src/admin/credential-guard.js'
import { DASHBOARD_CSP, dashboardPage, loginPage, panel } from '../../src/admin/dashboard-html.js'
import { dashboardSnapshot, type DashboardSnapshot } from '../../src/admin/dashboard-model.js'
import { sessionOf } from './auth.js'

export interface DashboardOptions {
  sessions: AdminSessions
  /** Counts wrong tokens per address (shared with the bearer check). */
  guard: CredentialGuard
  /** How often the page refreshes its panel. */
  refreshMs: number
}

/** Dead letters shown per dependent; the admin API pages through the rest. */
const DEAD_LETTERS_SHOWN = 50

async function snapshot (app: FastifyInstance): Promise<DashboardSnapshot> {
  const model = app.adminDashboard
  return await dashboardSnapshot({
    routes: model.routes,
    services: app.upstreams,
    outbox: app.outbox,
    cache: model.cache,
    history: model.history,
    deadLetterLimit: DEAD_LETTERS_SHOWN
  })
}

function html (reply: FastifyReply, status: number, body: string): FastifyReply {
  return reply.code(status)
    .header('content-type', 'text/html; charset=utf-8')
    .header('cache-control', 'no-store')
    .header('content-security-policy', DASHBOARD_CSP)
    .header('x-frame-options', 'DENY')
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .send(body)
}

/** Public routes: the page, login, logout, script and stylesheet. */
export async function dashboardPublicRoutes (app: FastifyInstance, opts: DashboardOptions): Promise<void> {
  const { sessions } = opts

  app.get('/', async (request, reply) => {
    const session = sessionOf(sessions, request)
    if (session === undefined) return html(reply, 200, loginPage())
    return html(reply, 200, dashboardPage(await snapshot(app), session.csrfToken, opts.refreshMs))
  })

  const asset = (type: string, body: string) => async (_request: FastifyRequest, reply: FastifyReply) =>
    await reply.header('content-type', type).header('cache-control', 'no-cache').header('x-content-type-options', 'nosniff').send(body)
  app.get('/dashboard.js', asset('text/javascript; charset=utf-8', DASHBOARD_SCRIPT))
  app.get('/dashboard.css', asset('text/css; charset=utf-8', DASHBOARD_CSS))

  await app.register(async function loginForm (scope) {
    // Only these two routes read HTML form bodies; a token is far shorter than 4 KB.
    scope.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 4096 }, (_request, body, done) => {
      done(null, Object.fromEntries(new URLSearchParams(body as string)))
    })

    scope.post('/login', async (request, reply) => {
      const wait = opts.guard.waitSeconds(request.ip)
      if (wait > 0) {
        reply.header('retry-after', String(wait))
        return html(reply, 429, loginPage(`Too many wrong tokens from this address; try again in ${wait} s.`))
      }
      const body = request.body as Record<string, unknown> | undefined
      const token = typeof body?.token === 'string' ? body.token : ''
      if (token === '' || !sessions.checkToken(token)) {
        opts.guard.failed(request.ip)
        request.log.warn({ ip: request.ip }, 'admin dashboard: login refused')
        return html(reply, 401, loginPage('That is not the admin token.'))
      }
      const issued = sessions.issue()
      reply.header('set-cookie', sessionCookie(issued.cookie, Math.floor(sessions.ttlMs / 1000), request.protocol === 'https'))
      // 303: the browser follows with a GET, so a reload never re-posts the token.
      return await reply.code(303).header('location', '/admin').header('cache-control', 'no-store').send()
    })

    scope.post('/logout', async (request, reply) => {
      // Stateless sessions: logging out drops this browser's cookie (docs/admin.md says what that means).
      reply.header('set-cookie', sessionCookie('', 0, request.protocol === 'https'))
      return await reply.code(303).header('location', '/admin').header('cache-control', 'no-store').send()
    })
  })
}

/** Guarded routes: the panel the page refreshes, and the same snapshot as JSON. */
export async function dashboardDataRoutes (app: FastifyInstance): Promise<void> {
  app.get('/panel', async (_request, reply) => html(reply, 200, panel(await snapshot(app))))
  app.get('/dashboard', async (_request, reply) => await reply.header('cache-control', 'no-store').send(await snapshot(app)))
}
