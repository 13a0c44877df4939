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

  app.server.on('connect', (req, socket) => {
    socket.end(rawProblemResponse(errors.methodNotAllowed('CONNECT', req.url ?? '')))
    setTimeout(() => socket.destroy(), 1000).unref()
  })
}, { name: 'request-hygiene', fastify: '5.x', dependencies: ['problem-details'] })
