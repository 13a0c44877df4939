/**
 * Admin API of the outbox (docs/outbox.md#admin-api): per-dependent counters, dead
 * letters with the dependent's last answer, replay and discard. Thin: every rule lives in
 * src/outbox/; an unknown dependent is a 404 thrown from there.
 */
import type { FastifyInstance } from 'fastify'
import { errors } from '../../src/errors.js'

interface DependentParams { dependent: string }
interface DeadParams extends DependentParams { id: string }

const dependentParams = {
  type: 'object',
  required: ['dependent'],
  properties: { dependent: { type: 'string', minLength: 1 } }
} as const

const deadParams = {
  type: 'object',
  required: ['dependent', 'id'],
  properties: { dependent: { type: 'string', minLength: 1 }, id: { type: 'string', minLength: 1 } }
} as const

export default async function outboxAdminRoutes (app: FastifyInstance): Promise<void> {
  const outbox = app.outbox

  app.get('/outbox', async () => ({ dependents: await outbox.stats() }))

  app.get<{ Params: DependentParams, Querystring: { limit?: number, after?: string } }>('/outbox/:dependent/dead', {
    schema: {
      params: dependentParams,
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: { limit: { type: 'integer', minimum: 1, maximum: 1000 }, after: { type: 'string', minLength: 1 } }
      }
    }
  }, async request => {
    const { dependent } = request.params
    const limit = request.query.limit ?? 100
    const after = request.query.after
    const deadLetters = await outbox.deadLetters(dependent, after === undefined ? { limit } : { limit, after })
    // A full page may have more behind it: the last id is where the next page starts.
    const next = deadLetters.length === limit ? deadLetters[deadLetters.length - 1]?.id : undefined
    return next === undefined ? { dependent, deadLetters } : { dependent, deadLetters, next }
  })

  app.post<{ Params: DeadParams }>('/outbox/:dependent/dead/:id/replay', { schema: { params: deadParams } }, async request => {
    const { dependent, id } = request.params
    if (await outbox.replay(dependent, id) === 0) throw errors.deadLetterNotFound(dependent, id)
    return { dependent, replayed: 1 }
  })

  app.post<{ Params: DependentParams }>('/outbox/:dependent/replay', { schema: { params: dependentParams } }, async request => {
    const { dependent } = request.params
    return { dependent, replayed: await outbox.replay(dependent) }
  })

  app.delete<{ Params: DeadParams }>('/outbox/:dependent/dead/:id', { schema: { params: deadParams } }, async request => {
    const { dependent, id } = request.params
    if (await outbox.discard(dependent, id) === 0) throw errors.deadLetterNotFound(dependent, id)
    return { dependent, discarded: 1 }
  })

  app.delete<{ Params: DependentParams }>('/outbox/:dependent/dead', { schema: { params: dependentParams } }, async request => {
    const { dependent } = request.params
    return { dependent, discarded: await outbox.discard(dependent) }
  })
}
