/**
 * One log line per request (Fastify's own two lines per request are turned off):
 * request id, method, path, matched route, the service and upstream that answered,
 * status and duration. Also returns the request id to the client.
 */
import fp from 'fastify-plugin'

export interface UpstreamNote {
  service: string
  origin: string
}

export default fp(async function requestLog (app) {
  app.decorateRequest('upstream', null)

  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id)
  })

  app.addHook('onResponse', async (request, reply) => {
    const url = request.raw.url ?? '/'
    const q = url.indexOf('?')
    request.log.info({
      method: request.method,
      path: q === -1 ? url : url.slice(0, q),
      route: request.routeOptions.url,
      service: request.upstream?.service,
      upstream: request.upstream?.origin,
      status: reply.statusCode,
      ms: Math.round(reply.elapsedTime * 100) / 100
    }, 'request')
  })
}, { name: 'request-log', fastify: '5.x' })

declare module 'fastify' {
  interface FastifyRequest {
    upstream: UpstreamNote | null
  }
}
