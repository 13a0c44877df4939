/**
 * Bearer-token check for the admin API. Both sides are hashed to SHA-256 first so that
 * timingSafeEqual compares equal-length buffers: neither the token's content nor its
 * length leaks through response timing.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { errors } from '../../src/errors.js'

const digest = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest()

export function bearerAuth (token: string): (request: FastifyRequest, reply: FastifyReply) => Promise<void> {
  const expected = digest(token)
  return async function checkBearer (request, reply) {
    const header = request.headers.authorization
    const match = typeof header === 'string' ? /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header) : null
    const given = match?.[1]
    if (given === undefined || !timingSafeEqual(digest(given), expected)) {
      reply.header('www-authenticate', 'Bearer realm="junction-admin"')
      throw errors.unauthorized()
    }
  }
}
