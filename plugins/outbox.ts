/**
 * The durable delivery engine (src/outbox/) wired into the gateway: built from the store
 * and the upstream pools, exposed as `app.outbox`, started once the gateway is ready and
 * closed before the store. Registered after the store and upstreams plugins, so its
 * onClose hook runs before theirs (Fastify closes plugins in reverse order): in-flight
 * attempts finish while pools and store are still open.
 */
import fp from 'fastify-plugin'
import type { OutboxOptions } from '../src/outbox/outbox-options.js'
import { StoreOutbox } from '../src/outbox/store-outbox.js'
import type { Outbox } from '../src/outbox/types.js'

const INFO_OR_BELOW = new Set(['info', 'debug', 'trace'])

export interface OutboxPluginOptions {
  /** Normalised knobs (config `outbox:`); defaults for what is absent. */
  options?: Partial<OutboxOptions> | undefined
  /** Services that receive copies; default: every configured service. */
  dependents?: readonly string[] | undefined
}

export default fp<OutboxPluginOptions>(async function outboxPlugin (app, opts) {
  const outbox = new StoreOutbox({
    ...opts.options,
    store: app.store,
    services: app.upstreams,
    dependents: opts.dependents ?? [...app.upstreams].map(service => service.name),
    onError: (err, context) => { app.log.warn({ err }, `outbox: ${context}`) }
  })
  // One log line per delivery outcome, with the write id that ties it to the client's request.
  // Delivered and superseded ones are info: below that (logLevel warn), not even built.
  outbox.onOutcome(event => {
    if (event.outcome !== 'dead' && !INFO_OR_BELOW.has(app.log.level)) return
    const line = {
      writeId: event.request.writeId,
      dependent: event.request.dependent,
      entity: event.request.entity,
      version: event.request.version,
      outcome: event.outcome,
      attempts: event.attempts,
      status: event.status,
      lagMs: event.lagMs
    }
    if (event.outcome === 'dead') app.log.warn(line, 'delivery')
    else app.log.info(line, 'delivery')
  })
  app.decorate('outbox', outbox)
  app.addHook('onReady', async () => { outbox.start() })
  app.addHook('onClose', async () => { await outbox.close() })
}, { name: 'outbox', fastify: '5.x', dependencies: ['store', 'upstreams'] })

declare module 'fastify' {
  interface FastifyInstance {
    /** Decorated here (plugins/write-routes.ts carries the same declaration). */
    outbox: Outbox
  }
}
