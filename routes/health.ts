/**
 * Liveness and readiness. `/health` answers while the process runs; `/ready` answers 200
 * only when the config is loaded and the store is reachable, so a load balancer stops
 * sending traffic to an instance that cannot serve writes.
 */
import type { FastifyInstance } from 'fastify'
import { errors } from '../src/errors.js'

export default async function healthRoutes (app: FastifyInstance): Promise<void> {
  app.get('/health', async () => ({ status: 'ok' }))

  app.get('/ready', async () => {
    try {
      await app.store.ping()
    } catch (err) {
      throw errors.notReady(`The ${app.store.kind} store is not reachable.`, err)
    }
    return { status: 'ready', store: app.store.kind }
  })
}
