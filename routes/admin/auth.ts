/**
 * Authentication of the admin API and dashboard. Two ways in:
 *   - `Authorization: Bearer <admin token>` (scripts, curl): a request with an
 *     Authorization header is judged by it alone;
 *   - the dashboard's session cookie (src/admin/admin-session.ts), for browsers; a change
 *     (any method but GET/HEAD) made with it must also carry the page's CSRF token in
 *     X-CSRF-Token, or it is refused with 403.
 * Tokens are compared in constant time over SHA-256 digests, so neither the token's content
 * nor its length leaks through response timing. Wrong tokens are counted per client
 * address (src/admin/credential-guard.ts): past the limit, 429 JUNCTION_ADMIN_LOCKED_OUT.
 */
import type { FastifyReply, FastifyRequest } from 'fastify'
import { errors } from '../../src/errors.js'
import { type AdminSession, type AdminSessions, readCookie, sameSecret, SESSION_COOKIE } from '../../src/admin/admin-session.js'
import type { CredentialGuard } from '../../src/admin/credential-guard.js'

const SAFE = new Set(['GET', 'HEAD'])

/** The request's valid session, if its cookie holds one. */
export function sessionOf (sessions: AdminSessions, request: FastifyRequest): AdminSession | undefined {
  return sessions.verify(readCookie(request.headers.cookie, SESSION_COOKIE))
}

export function adminAuth (sessions: AdminSessions, guard: CredentialGuard): (request: FastifyRequest, reply: FastifyReply) => Promise<void> {
  return async function checkAdmin (request, reply) {
    const header = request.headers.authorization
    if (header !== undefined) {
      const wait = guard.waitSeconds(request.ip)
      if (wait > 0) throw errors.adminLockedOut(wait)
      const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header)
      const given = match?.[1]
      if (given !== undefined && sessions.checkToken(given)) return
      guard.failed(request.ip)
      throw refused(reply)
    }
    const session = sessionOf(sessions, request)
    if (session === undefined) throw refused(reply)
    if (SAFE.has(request.method)) return
    const csrf = request.headers['x-csrf-token']
    if (typeof csrf !== 'string' || !sameSecret(csrf, session.csrfToken)) throw errors.adminCsrf()
  }
}

function refused (reply: FastifyReply): Error {
  reply.header('www-authenticate', 'Bearer realm="junction-admin"')
  return errors.unauthorized()
}
