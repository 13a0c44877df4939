/**
 * `POST /admin/reload`: re-reads the config file the gateway was started with and switches
 * to it (src/gateway-host.ts, docs/config.md#reloading). 200 with the new route count, or
 * 422 problem+json listing every error (key and message, as `junction check` prints them)
 * while the running config stays in use.
 */
import type { FastifyInstance } from 'fastify'
import { errors } from '../../src/errors.js'
import type { ReloadOutcome } from '../../src/reload-outcome.js'

export interface ReloadAdminOptions {
  reload: () => Promise<ReloadOutcome>
}

export default async function reloadAdminRoutes (app: FastifyInstance, opts: ReloadAdminOptions): Promise<void> {
  app.post('/reload', async () => {
    const outcome = await opts.reload()
    if (!outcome.ok) throw errors.configRefused(outcome.file, outcome.issues)
    return { status: 'reloaded', file: outcome.file, routes: outcome.config.routes.length }
  })
}
