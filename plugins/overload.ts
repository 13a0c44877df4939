/**
 * Load shedding with @fastify/under-pressure (`server.overload`): while the event loop
 * delay or utilisation, the heap or the RSS is over its threshold, every request is
 * answered at once with 503 problem+json and Retry-After (code JUNCTION_OVERLOADED), before
 * any routing work. `/health` is exempt (a saturated process is alive; restarting it would
 * only lose capacity), and `/ready` answers 503 itself, naming the reason, so a load
 * balancer sends traffic elsewhere until the figures are back under their thresholds.
 */
import bytes from 'bytes'
import fp from 'fastify-plugin'
import underPressure from '@fastify/under-pressure'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { OverloadConfig } from '../src/config/types.js'
import { errors } from '../src/errors.js'

export interface OverloadPluginOptions {
  /** undefined: load shedding disabled. */
  overload: OverloadConfig | undefined
}

/** Route config (`pressureHandler`) for endpoints that must answer under pressure: the request goes on. */
export function exemptFromShedding (): void {}

export default fp<OverloadPluginOptions>(async function overload (app, opts) {
  if (opts.overload === undefined) {
    app.decorate('overloadReason', () => undefined)
    return
  }
  const config = opts.overload
  // under-pressure samples the figures. Registered in a scope of its own with no routes:
  // its onRequest hook (which builds request.routeOptions for every request) applies there
  // only; the gateway's hook below compares the same figures, at the cost of a few reads.
  let pressure: Pick<FastifyInstance, 'isUnderPressure' | 'memoryUsage'> | undefined
  await app.register(async function sampling (scope) {
    await scope.register(underPressure, {
      maxEventLoopDelay: config.maxEventLoopDelayMs,
      maxEventLoopUtilization: config.maxEventLoopUtilization,
      maxHeapUsedBytes: config.maxHeapUsedBytes,
      maxRssBytes: config.maxRssBytes,
      sampleInterval: config.sampleIntervalMs,
      retryAfter: config.retryAfterSec
    })
    pressure = scope
  })
  const { isUnderPressure, memoryUsage } = pressure as NonNullable<typeof pressure>

  /** Why the gateway sheds load now, or undefined when it does not. */
  function overloadReason (): string | undefined {
    if (!isUnderPressure()) return undefined
    const usage = memoryUsage()
    if (config.maxEventLoopDelayMs > 0 && usage.eventLoopDelay > config.maxEventLoopDelayMs) return describe(underPressure.TYPE_EVENT_LOOP_DELAY, usage.eventLoopDelay, config)
    if (config.maxHeapUsedBytes > 0 && usage.heapUsed > config.maxHeapUsedBytes) return describe(underPressure.TYPE_HEAP_USED_BYTES, usage.heapUsed, config)
    if (config.maxRssBytes > 0 && usage.rssBytes > config.maxRssBytes) return describe(underPressure.TYPE_RSS_BYTES, usage.rssBytes, config)
    return describe(underPressure.TYPE_EVENT_LOOP_UTILIZATION, usage.eventLoopUtilized, config)
  }

  // Callback style: it runs on every request, and an async hook costs a promise each. The
  // error goes to problem-details, which writes the problem and Retry-After.
  app.addHook('onRequest', (request, _reply, done) => {
    const reason = overloadReason()
    if (reason === undefined || request.routeOptions.config.pressureHandler === exemptFromShedding) done()
    else done(errors.overloaded(reason, config.retryAfterSec))
  })
  app.decorate('overloadReason', overloadReason)
}, { name: 'overload', fastify: '5.x' })

function describe (type: string, value: number | undefined, config: OverloadConfig): string {
  const v = value ?? 0
  switch (type) {
    case underPressure.TYPE_EVENT_LOOP_DELAY:
      // under-pressure reports a loop blocked through a whole sample as an infinite delay.
      return Number.isFinite(v)
        ? `event loop delay ${Math.round(v)} ms over the ${config.maxEventLoopDelayMs} ms limit`
        : `event loop blocked through a whole sample, over the ${config.maxEventLoopDelayMs} ms delay limit`
    case underPressure.TYPE_HEAP_USED_BYTES:
      return `heap in use ${bytes.format(v)} over the ${bytes.format(config.maxHeapUsedBytes)} limit`
    case underPressure.TYPE_RSS_BYTES:
      return `resident memory ${bytes.format(v)} over the ${bytes.format(config.maxRssBytes)} limit`
    case underPressure.TYPE_EVENT_LOOP_UTILIZATION:
      return `event loop utilisation ${v.toFixed(2)} over the ${config.maxEventLoopUtilization} limit`
    default:
      return type
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Why the gateway sheds load now (server.overload), or undefined. */
    overloadReason: () => string | undefined
  }
  interface FastifyContextConfig {
    /** @fastify/under-pressure's per-route handler; `exemptFromShedding` lets the request through. */
    pressureHandler?: (request: FastifyRequest, reply: FastifyReply, type: string, value: number | undefined) => Promise<void> | void
  }
}
