/**
 * One log line per request (Fastify's own two lines per request are turned off):
 * request id, method, path, matched route, the service and upstream that answered,
 * status and duration. Also returns the request id to the client.
 */
import fp from 'fastify-plugin'
import { writesInfo } from '../src/server/log-level.js'
import { requestLine, type UpstreamNote } from '../src/server/request-line.js'
import { traceIfAny } from './tracing.js'

export type { UpstreamNote }

export interface RequestLogOptions {
  /** server.logLevel of the config being built (a reload may set the shared logger's level to it). */
  logLevel?: string
}

export default fp<RequestLogOptions>(async function requestLog (app, opts) {
  app.decorateRequest('upstream', null)

  // Callback-style hooks: they run on every request, and an async hook costs a promise each.
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id)
    done()
  })

  // Logging at warn or above (production), no request could write the line: no hook at all.
  // The config's level counts too: on a reload the shared logger takes it once this app answers.
  if (!writesInfo(app.log.level) && (opts.logLevel === undefined || !writesInfo(opts.logLevel))) return

  app.addHook('onResponse', (request, reply, done) => {
    // Below info, do not even build the line.
    if (writesInfo(request.log.level)) {
      const url = request.raw.url ?? '/'
      const q = url.indexOf('?')
      // Only a trace the request has: a cache hit without a client traceparent makes no ids to log.
      request.log.info(requestLine(request.method, q === -1 ? url : url.slice(0, q), request.routeOptions.url, request.upstream,
        reply.statusCode, traceIfAny(request)?.traceId, reply.elapsedTime), 'request')
    }
    done()
  })
}, { name: 'request-log', fastify: '5.x' })

declare module 'fastify' {
  interface FastifyRequest {
    upstream: UpstreamNote | null
  }
}
