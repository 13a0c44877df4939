/**
 * Refuses, before any route runs, a request whose head or path a service could read
 * differently from the gateway (src/server/request-head.ts, docs/hygiene.md): too many
 * header fields, a missing, repeated or malformed Host, Transfer-Encoding on HTTP/1.0, a
 * path with dot segments, empty segments or layered encodings. The answer is the usual
 * problem+json (plugins/problem-details.ts). Also answers CONNECT, which node hands to a
 * `connect` listener instead of the router, with 405 instead of a silent close.
 */
import fp from 'fastify-plugin'
import { errors } from '../src/errors.js'
import { rawProblemResponse } from '../src/server/client-error.js'
import { emptyParamProblem, headProblem } from '../src/server/request-head.js'

export interface RequestHygieneOptions {
  /** server.maxHeaders */
  maxHeaders: number
  /**
   * Configured version headers of write routes' copies (lower-case) besides the default
   * X-Entity-Version (which src/upstream/headers.ts always strips): no client may set them
   * on any route, or it could pin a copy at a version no real write ever exceeds.
   */
  versionHeaders?: readonly string[]
}

export default fp<RequestHygieneOptions>(async function requestHygiene (app, opts) {
  // node builds req.headers from at most this many fields; requests with more are refused anyway.
  app.server.maxHeadersCount = opts.maxHeaders

  // Callback style: it runs on every request, and an async hook costs a promise each.
  app.addHook('onRequest', (request, _reply, done) => {
    const problem = headProblem(request.raw, opts.maxHeaders) ?? emptyParamProblem(request.params)
    if (problem === undefined) done()
    else done(problem)
  })

  const versionHeaders = opts.versionHeaders ?? []
  if (versionHeaders.length > 0) {
    // Only when configured: the default header costs nothing here.
    app.addHook('onRequest', (request, _reply, done) => {
      const headers = request.raw.headers
      for (const name of versionHeaders) if (headers[name] !== undefined) Reflect.deleteProperty(headers, name)
      done()
    })
  }

  app.server.on('connect', (req, socket) => {
    socket.end(rawProblemResponse(errors.methodNotAllowed('CONNECT', req.url ?? '')))
    setTimeout(() => socket.destroy(), 1000).unref()
  })
}, { name: 'request-hygiene', fastify: '5.x', dependencies: ['problem-details'] })
