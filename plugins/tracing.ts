/**
 * Junction's span per request (src/observability/tracing.ts), kept as `request.trace` and
 * used by the proxy, compose and write routes for the traceparent of their upstream calls.
 *
 * Without an exporter a span is ids only, and it is made on first use: a request that
 * calls no service (a cache hit, a 404, a refusal) makes no ids and costs no hook. With
 * an exporter the span is started in the first onRequest hook (its start time is the
 * request's) and ended and recorded when the answer is sent.
 */
import fp from 'fastify-plugin'
import type { FastifyRequest } from 'fastify'
import type { Span, Tracer } from '../src/observability/tracing.js'
import { IdTracer } from '../src/observability/tracing.js'

export interface TracingPluginOptions {
  tracer: Tracer
}

/** Where a request keeps its span once made (a decorated field: every request has the same shape). */
const SPAN = Symbol('junction.span')

interface WithSpan { [SPAN]: Span | null }

/**
 * The request's span if it has one already: made for a call to a service, by the exporter,
 * or because the client sent a traceparent. The request log line reads it, so a request
 * that had no reason for one gets no ids just to be logged.
 */
export function traceIfAny (request: FastifyRequest): Span | undefined {
  const made = (request as unknown as WithSpan)[SPAN]
  if (made !== null && made !== undefined) return made
  // The client's trace id is worth logging: it joins this line to the client's trace.
  return request.headers.traceparent === undefined ? undefined : request.trace
}

export default fp<TracingPluginOptions>(async function tracing (app, opts) {
  const tracer = opts.tracer
  app.decorate('tracer', tracer)
  app.decorateRequest(SPAN, null)
  app.decorateRequest('trace', {
    getter (this: FastifyRequest): Span {
      const self = this as unknown as WithSpan
      self[SPAN] ??= tracer.request(this.headers.traceparent, this.headers.tracestate, this.method)
      return self[SPAN]
    }
  })

  // Ids-only spans record nothing: made on use, no hook on the way in or out.
  if (tracer instanceof IdTracer) {
    app.addHook('onClose', async () => { await tracer.close() })
    return
  }
  // Callback-style: runs on every request, and an async hook costs a promise each.
  app.addHook('onRequest', (request, _reply, done) => {
    (request as unknown as WithSpan)[SPAN] = tracer.request(request.headers.traceparent, request.headers.tracestate, request.method)
    done()
  })
  app.addHook('onResponse', (request, reply, done) => {
    const route = request.is404 ? undefined : request.routeOptions.url
    request.trace.end({
      name: route === undefined ? request.method : `${request.method} ${route}`,
      status: reply.statusCode,
      attributes: { 'http.route': route, 'junction.request_id': request.id, 'junction.service': request.upstream?.service }
    })
    done()
  })
  app.addHook('onClose', async () => { await tracer.close() })
}, { name: 'tracing', fastify: '5.x' })

declare module 'fastify' {
  interface FastifyInstance {
    tracer: Tracer
  }
  interface FastifyRequest {
    /** Junction's span for this request: made on first read (ids only) or at the start (with an exporter). */
    readonly trace: Span
  }
}
