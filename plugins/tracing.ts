/**
 * Junction's span per request (src/observability/tracing.ts): made in the first onRequest
 * hook from the client's traceparent (or a new trace), kept as `request.trace`, and used
 * by the proxy, compose and write routes for the traceparent of their upstream calls. With
 * an exporter configured, the span is ended and recorded when the answer is sent.
 */
import fp from 'fastify-plugin'
import type { Span, Tracer } from '../src/observability/tracing.js'
import { IdTracer } from '../src/observability/tracing.js'

export interface TracingPluginOptions {
  tracer: Tracer
}

export default fp<TracingPluginOptions>(async function tracing (app, opts) {
  const tracer = opts.tracer
  app.decorate('tracer', tracer)
  // Typed as always set: the onRequest hook below runs before anything that reads it.
  app.decorateRequest('trace', null as unknown as Span)

  // Callback-style: runs on every request, and an async hook costs a promise each.
  app.addHook('onRequest', (request, _reply, done) => {
    request.trace = tracer.request(request.headers.traceparent, request.headers.tracestate, request.method)
    done()
  })

  // Ids-only spans record nothing: no hook on the way out.
  if (!(tracer instanceof IdTracer)) {
    app.addHook('onResponse', (request, reply, done) => {
      const route = request.is404 ? undefined : request.routeOptions.url
      request.trace.end({
        name: route === undefined ? request.method : `${request.method} ${route}`,
        status: reply.statusCode,
        attributes: { 'http.route': route, 'junction.request_id': request.id, 'junction.service': request.upstream?.service }
      })
      done()
    })
  }
  app.addHook('onClose', async () => { await tracer.close() })
}, { name: 'tracing', fastify: '5.x' })

declare module 'fastify' {
  interface FastifyInstance {
    tracer: Tracer
  }
  interface FastifyRequest {
    /** Junction's span for this request (set by the first onRequest hook). */
    trace: Span
  }
}
