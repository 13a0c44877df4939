/**
 * Every error answer is RFC 9457 `application/problem+json`: errors from the catalogue
 * keep their code and status, Fastify's own client errors (bad JSON, body too large,
 * unsupported media type) keep their status and code, and anything unexpected becomes
 * a 500 whose details stay in the log under the request id.
 */
import { STATUS_CODES } from 'node:http'
import fp from 'fastify-plugin'
import type { FastifyError, FastifyRequest } from 'fastify'
import { errors, JunctionError, PROBLEM_CONTENT_TYPE } from '../src/errors.js'

function toJunctionError (err: unknown): JunctionError {
  if (err instanceof JunctionError) return err
  if (!(err instanceof Error)) return errors.internal(err)
  const status = (err as FastifyError).statusCode
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const code = (err as FastifyError).code ?? 'JUNCTION_BAD_REQUEST'
    return new JunctionError(code, status, STATUS_CODES[status] ?? 'Bad Request', err.message, { cause: err })
  }
  return errors.internal(err)
}

function instanceOf (request: FastifyRequest): string {
  const url = request.raw.url ?? '/'
  const q = url.indexOf('?')
  return q === -1 ? url : url.slice(0, q)
}

export default fp(async function problemDetails (app) {
  app.setErrorHandler(function onError (err, request, reply) {
    const problem = toJunctionError(err)
    if (problem.retryAfter !== undefined) {
      // A deliberate fast answer (circuit open, load shed): expected while it lasts, so no stack trace per request.
      request.log.warn({ code: problem.code, service: problem.service }, problem.message)
      reply.header('retry-after', String(problem.retryAfter))
    } else if (problem.statusCode >= 500) {
      request.log.error({ err: problem.cause ?? err, code: problem.code, service: problem.service }, problem.message)
    } else {
      request.log.info({ code: problem.code }, problem.message)
    }
    const body = { ...problem.toProblem(instanceOf(request)), requestId: request.id }
    return reply.code(problem.statusCode).type(PROBLEM_CONTENT_TYPE).send(body)
  })

  app.setNotFoundHandler(function onNotFound (request, reply) {
    const problem = errors.notFound(request.method, instanceOf(request))
    return reply.code(404).type(PROBLEM_CONTENT_TYPE).send({ ...problem.toProblem(instanceOf(request)), requestId: request.id })
  })
}, { name: 'problem-details', fastify: '5.x' })
