/**
 * Every error answer is RFC 9457 `application/problem+json`: errors from the catalogue
 * keep their code and status, Fastify's own client errors (bad JSON, body too large,
 * unsupported media type) keep their status and code, and anything unexpected becomes
 * a 500 whose details stay in the log under the request id.
 */
import { STATUS_CODES } from 'node:http'
import fp from 'fastify-plugin'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { errors, JunctionError, PROBLEM_CONTENT_TYPE } from '../src/errors.js'

function toJunctionError (err: unknown, request: FastifyRequest): JunctionError {
  if (err instanceof JunctionError) return err
  if (!(err instanceof Error)) return errors.internal(err)
  const code = (err as FastifyError).code
  // One code for one condition, whichever part of the gateway found it.
  if (code === 'FST_ERR_CTP_BODY_TOO_LARGE') return errors.bodyTooLarge(request.routeOptions.bodyLimit)
  if (code === 'FST_ERR_BAD_URL') return errors.badPath(BAD_ENCODING)
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

/** What the router's decoder refuses (find-my-way decodes the whole path before matching). */
const BAD_ENCODING = 'is not valid percent-encoded UTF-8 (a lone "%", overlong "%c0%ae", Latin-1 "%e9"...)'

/**
 * Fastify's `frameworkErrors` option: errors of the router (a path it cannot decode, a
 * parameter over its length limit) found before any hook or handler runs.
 */
export function frameworkErrorAnswer (err: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const problem = toJunctionError(err, request)
  request.log.info({ code: problem.code }, problem.message)
  reply.code(problem.statusCode).type(PROBLEM_CONTENT_TYPE).header('x-request-id', request.id)
    .send({ ...problem.toProblem(), requestId: request.id })
}

export default fp(async function problemDetails (app) {
  app.setErrorHandler(function onError (err, request, reply) {
    const problem = toJunctionError(err, request)
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
