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
import { writesInfo } from '../src/server/log-level.js'
import type { DeliveryRequest, Outbox } from '../src/outbox/types.js'

/** The trace id in a stored traceparent (`00-<trace id>-<span id>-<flags>`), for log lines. */
function traceIdOf (traceparent: string | undefined): string | undefined {
  return traceparent?.split('-')[1]
}

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
    onError: (err, context) => { app.log.warn({ err }, `outbox: ${context}`) },
    // The tracing plugin's, when registered: deliveries' spans are exported with the requests'.
    ...(app.hasDecorator('tracer') ? { tracer: app.tracer } : {})
  })
  // One log line per delivery outcome (delivered, superseded, retry scheduled, dead), with the
  // request id and write id that tie it to the client's request and its trace. Delivered,
  // superseded and retry lines are info: below that (logLevel warn), not even built.
  outbox.onOutcome(event => {
    if (event.outcome !== 'dead' && !writesInfo(app.log.level)) return
    const line = {
      ...deliveryOf(event.request),
      outcome: event.outcome,
      attempts: event.attempts,
      status: event.status,
      reason: event.reason,
      lagMs: event.lagMs
    }
    if (event.outcome === 'dead') app.log.warn(line, 'delivery')
    else app.log.info(line, 'delivery')
  })
  outbox.onAttempt(event => {
    if (event.result !== 'retry' || !writesInfo(app.log.level)) return
    app.log.info({
      ...deliveryOf(event.request),
      outcome: 'retry',
      attempts: event.attempts,
      status: event.status,
      error: event.error,
      retryInMs: event.retryInMs
    }, 'delivery')
  })
  app.decorate('outbox', outbox)
  app.addHook('onReady', async () => { outbox.start() })
  app.addHook('onClose', async () => { await outbox.close() })
}, { name: 'outbox', fastify: '5.x', dependencies: ['store', 'upstreams'] })

/** What every delivery log line says of the delivery: the write, its trace, where and what. */
function deliveryOf (r: DeliveryRequest): Record<string, unknown> {
  return { reqId: r.requestId, writeId: r.writeId, traceId: traceIdOf(r.traceparent), dependent: r.dependent, entity: r.entity, version: r.version }
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Decorated here (plugins/write-routes.ts carries the same declaration). */
    outbox: Outbox
  }
}
