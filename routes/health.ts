/**
 * Liveness and readiness. `/health` answers while the process runs, even when it sheds
 * load; `/ready` answers 200 only when the config is loaded, the gateway is not
 * overloaded (server.overload) and the store is reachable, so a load balancer stops
 * sending traffic to an instance that cannot serve it.
 */
import type { FastifyInstance } from 'fastify'
import { errors } from '../src/errors.js'
import { exemptFromShedding } from '../plugins/overload.js'

export default async function healthRoutes (app: FastifyInstance): Promise<void> {
  app.get('/health', { config: { pressureHandler: exemptFromShedding } }, async () => ({ status: 'ok' }))

  app.get('/ready', { config: { pressureHandler: exemptFromShedding } }, async () => {
    const overload = app.overloadReason()
    if (overload !== undefined) throw errors.notReady(`Junction is overloaded: ${overload}.`)
    // Known down (Redis disconnected or not answering its heartbeat): say so without waiting.
    if (!app.store.available()) throw errors.notReady(`The ${app.store.kind} store is not reachable.`)
    try {
      await app.store.ping()
    } catch (err) {
      throw errors.notReady(`The ${app.store.kind} store is not reachable.`, err)
    }
    return { status: 'ready', store: app.store.kind }
  })
}
