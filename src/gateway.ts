/**
 * The composition root: turns a validated config into a Fastify server. Cross-cutting
 * plugins come first (errors, logging, store, upstream pools), then the gateway's own
 * endpoints (routes/), then the user's configured routes.
 */
import { createServer, type IncomingMessage, type Server, type ServerOptions, type ServerResponse } from 'node:http'
import type { HitShortcut } from './cache/hit-shortcut.js'
import Fastify, { LogController, type FastifyBaseLogger, type FastifyServerFactory, type FastifyHttpOptions, type FastifyInstance, type RawRequestDefaultExpression as RawRequest } from 'fastify'
import type { GatewayConfig, ServerConfig } from './config/types.js'
import { clientErrorHandler } from './server/client-error.js'
import { requestLoggerFactory } from './server/request-logger.js'
import { requestId } from './server/request-id.js'
import { compileTrust } from './upstream/trusted-proxies.js'
import { DEFAULT_VERSION_HEADER } from './outbox/delivery.js'
import { originForm } from './upstream/request-target.js'
import { openStore } from './store/open-store.js'
import type { Store } from './store/store.js'
import type { ReloadOutcome } from './reload-outcome.js'
import problemDetails, { frameworkErrorAnswer } from '../plugins/problem-details.js'
import requestHygiene from '../plugins/request-hygiene.js'
import requestLog from '../plugins/request-log.js'
import gracefulClose from '../plugins/graceful-close.js'
import overloadPlugin from '../plugins/overload.js'
import storePlugin from '../plugins/store.js'
import upstreamsPlugin from '../plugins/upstreams.js'
import responseCachePlugin from '../plugins/response-cache.js'
import proxyRoutes from '../plugins/proxy-routes.js'
import composeRoutes from '../plugins/compose-routes.js'
import writeRoutes from '../plugins/write-routes.js'
import healthRoutes from '../routes/health.js'
import outboxPlugin from '../plugins/outbox.js'
import adminRoutes, { adminDisabled } from '../routes/admin/index.js'
import protectionPlugin from '../plugins/protection.js'
import adminDashboardPlugin from '../plugins/admin-dashboard.js'
import tracingPlugin from '../plugins/tracing.js'
import metricsPlugin from '../plugins/metrics.js'
import metricsRoutes from '../routes/metrics.js'
import { normaliseObservability } from './config/observability-block.js'
import { GatewayMetrics } from './observability/metrics.js'
import { openTracer } from './observability/tracing.js'

export interface GatewayOptions {
  /** A pino logger to use; by default one at the config's level writing to stdout. */
  logger?: FastifyBaseLogger
  /** An already open store (tests share one); by default opened from `config.store`. */
  store?: Store
  /** false: closing the gateway leaves the store open (its owner closes it: src/gateway-host.ts). */
  closeStore?: boolean
  /**
   * Hands Fastify's request handler to whoever owns the listening socket, and returns the
   * (unlistened) server Fastify attaches its listeners to (src/gateway-host.ts).
   */
  serverFactory?: FastifyServerFactory
  /**
   * true: the caller offers each request to `app.hitShortcut` itself before handing it to
   * the handler serverFactory got (src/gateway-host.ts); false (default): that handler does.
   */
  offersHits?: boolean
  /** Re-reads the config file and switches to it: POST /admin/reload (src/gateway-host.ts). */
  reload?: () => Promise<ReloadOutcome>
  /** Admin dashboard knobs (tests sample and refresh faster); defaults in the plugin and routes. */
  adminDashboard?: { sampleIntervalMs?: number, historySize?: number, refreshMs?: number }
}

/**
 * The listener's limits (docs/hygiene.md): node enforces them while parsing, before Fastify
 * sees a request, and src/server/client-error.ts answers what it refuses.
 */
export function listenerOptions (server: ServerConfig): Pick<FastifyHttpOptions<Server>, 'http' | 'keepAliveTimeout' | 'requestTimeout' | 'clientErrorHandler'> {
  return {
    http: {
      maxHeaderSize: server.maxHeaderSize,
      headersTimeout: server.headersTimeoutMs,
      requestTimeout: server.requestTimeoutMs,
      // node checks the two timeouts every 30 s by default: a 10 s limit could take 40 s.
      connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(server.headersTimeoutMs / 4))),
      // A missing Host gets problem+json from plugins/request-hygiene.ts, not node's bare 400.
      requireHostHeader: false
    },
    keepAliveTimeout: server.keepAliveTimeoutMs,
    requestTimeout: server.requestTimeoutMs,
    clientErrorHandler: clientErrorHandler(server)
  }
}

export async function buildGateway (config: GatewayConfig, opts: GatewayOptions = {}): Promise<FastifyInstance> {
  const store = opts.store ?? await openStore(config.store)
  const logging = opts.logger !== undefined
    ? { loggerInstance: opts.logger }
    : { logger: { level: config.server.logLevel } }
  const server = config.server
  const trust = compileTrust(server.trustProxy)
  // Fresh L1 hits are answered before the router (src/cache/hit-shortcut.ts). The server is
  // made when Fastify is, the shortcut once the response cache plugin is registered.
  let shortcut: HitShortcut | null = null
  const withShortcut = (handler: HttpHandler): HttpHandler => (req, res) => {
    if (shortcut === null || !shortcut.serve(req, res)) handler(req, res)
  }
  const serverFactory = opts.serverFactory ?? plainServer
  const app = Fastify({
    ...logging,
    bodyLimit: server.bodyLimit,
    // One trust function for Fastify (request.ip, request.protocol) and the forwarded headers.
    trustProxy: server.trustProxy === false ? false : (address: string) => trust(address),
    ...listenerOptions(server),
    serverFactory: (handler, options) => serverFactory(opts.offersHits === true ? handler : withShortcut(handler), options),
    rewriteUrl: (req: RawRequest) => originForm(req.url ?? '/'),
    frameworkErrors: frameworkErrorAnswer,
    // plugins/request-log.ts writes one line per request instead of Fastify's two.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'reqId' }),
    requestIdHeader: false,
    genReqId: requestId,
    // request.log is made when a request logs, not for every request.
    childLoggerFactory: requestLoggerFactory,
    return503OnClosing: true,
    // Idle keep-alive connections are closed at shutdown; busy ones finish their request.
    forceCloseConnections: 'idle'
  }) as unknown as FastifyInstance

  const observability = config.observability ?? normaliseObservability(undefined)
  const cachedRoutes = config.routes.flatMap(route => route.kind === 'proxy' && route.cache !== undefined ? [route.prefix] : route.kind === 'compose' && route.cache !== undefined ? [route.path] : [])
  try {
    await app.register(problemDetails)
    // First onRequest hook: every later hook, log line and upstream call has the request's span.
    await app.register(tracingPlugin, { tracer: await openTracer(observability.tracing.otlp) })
    await app.register(requestLog, { logLevel: config.server.logLevel })
    // Before every route: each route gets its metrics hook as it is registered.
    if (observability.metrics !== undefined) await app.register(metricsPlugin, { metrics: new GatewayMetrics({ cachedRoutes }) })
    // After request-log (every answer carries the request id), before every route.
    await app.register(requestHygiene, { maxHeaders: server.maxHeaders, versionHeaders: configuredVersionHeaders(config) })
    await app.register(gracefulClose)
    // Before every route: shedding load must cost as little as possible.
    await app.register(overloadPlugin, { overload: config.server.overload })
    await app.register(storePlugin, { store, close: opts.closeStore ?? true })
    await app.register(upstreamsPlugin, { services: config.services })
    // After the store: closes before it.
    await app.register(responseCachePlugin, { settings: config.cache, maxHeaders: server.maxHeaders })
    shortcut = app.hitShortcut
    // After store and upstreams: closes before them (Fastify closes in reverse order).
    await app.register(outboxPlugin, { options: config.outbox })
    if (config.admin.token !== undefined) {
      // Before the configured routes: its cache-outcome hook must apply to them.
      await app.register(adminDashboardPlugin, { routes: config.routes, sampleIntervalMs: opts.adminDashboard?.sampleIntervalMs, historySize: opts.adminDashboard?.historySize })
      await app.register(adminRoutes, { token: config.admin.token, cachedRoutes, reload: opts.reload, ...(opts.adminDashboard?.refreshMs === undefined ? {} : { refreshMs: opts.adminDashboard.refreshMs }) })
    } else {
      await app.register(adminDisabled)
    }
    await app.register(healthRoutes)
    if (observability.metrics !== undefined) await app.register(metricsRoutes, { config: observability.metrics })
    // Before the configured routes: they take their auth and rate-limit hooks from it.
    await app.register(protectionPlugin, { protection: config.protection, routes: config.routes, store: config.store })
    await app.register(proxyRoutes, { routes: config.routes, trustProxy: trust })
    await app.register(composeRoutes, { routes: config.routes })
    // Needs app.outbox; registered after it, so its recovery loop stops before the outbox closes.
    await app.register(writeRoutes, { routes: config.routes, trustProxy: trust })
    await app.ready()
  } catch (err) {
    await app.close().catch(() => {})
    throw err
  }
  return app
}

type HttpHandler = (req: IncomingMessage, res: ServerResponse) => void

/** What Fastify passes a serverFactory, the parts plainServer reads. */
interface ServerSettings {
  http?: ServerOptions
  keepAliveTimeout?: number
  requestTimeout?: number
  connectionTimeout?: number
  maxRequestsPerSocket?: number
}

/** The HTTP/1 server Fastify makes when given no serverFactory (fastify/lib/server.js), with our handler. */
function plainServer (handler: HttpHandler, settings: Record<string, unknown>): Server {
  const options = settings as ServerSettings
  const server = createServer(options.http ?? {}, handler)
  if (options.keepAliveTimeout !== undefined) server.keepAliveTimeout = options.keepAliveTimeout
  if (options.requestTimeout !== undefined) server.requestTimeout = options.requestTimeout
  if (options.connectionTimeout !== undefined) server.setTimeout(options.connectionTimeout)
  if (options.maxRequestsPerSocket !== undefined && options.maxRequestsPerSocket > 0) server.maxRequestsPerSocket = options.maxRequestsPerSocket
  return server
}

/** Version headers of copies other than the default one, lower-case, once each. */
function configuredVersionHeaders (config: GatewayConfig): string[] {
  const names = new Set<string>()
  for (const route of config.routes) {
    if (route.kind !== 'write') continue
    for (const target of route.propagate) {
      if (target.versionHeader !== undefined) names.add(target.versionHeader.toLowerCase())
    }
  }
  names.delete(DEFAULT_VERSION_HEADER.toLowerCase())
  return [...names]
}
