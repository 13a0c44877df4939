/**
 * `observability:`: the Prometheus endpoint and the optional OpenTelemetry export
 * (docs/observability.md).
 *
 *   observability:
 *     metrics: { path: /metrics, token: "${METRICS_TOKEN}" }
 *     tracing: { otlp: { url: http://127.0.0.1:4318/v1/traces }, serviceName: junction }
 *
 * W3C traceparent propagation needs no config: it is always on.
 */
import { Type, type Static } from '@sinclair/typebox'
import { type ConfigIssue, type PathSegment, formatPath } from './config-error.js'
import { checkPlainPath } from './route-path.js'
import { checkDuration, parseDuration } from './units.js'

const NonEmptyString = (description: string): ReturnType<typeof Type.String> => Type.String({ minLength: 1, description })

export const MetricsSchema = Type.Object({
  enabled: Type.Optional(Type.Boolean({ description: 'Serve Prometheus metrics. Default true.' })),
  path: Type.Optional(NonEmptyString('Where the metrics are served, e.g. /metrics (the default). Must not be under a route\'s prefix or match a route\'s path, nor be under /health, /ready or /admin.')),
  // eslint-disable-next-line no-template-curly-in-string -- the description shows env-substitution syntax
  token: Type.Optional(Type.String({ description: 'Bearer token a scraper must send (Authorization: Bearer <token>); without one, the endpoint is open to whoever reaches the listener. Use "${METRICS_TOKEN}" rather than writing the secret in the file. An empty value means none.' }))
}, { additionalProperties: false, description: 'The Prometheus endpoint. On by default at /metrics, without a token.' })

export const TracingSchema = Type.Object({
  otlp: Type.Optional(Type.Object({
    url: NonEmptyString('The OTLP/HTTP traces endpoint (protobuf over HTTP), e.g. http://127.0.0.1:4318/v1/traces.'),
    headers: Type.Optional(Type.Record(Type.String(), Type.String({ description: 'A header value.' }), { description: 'Headers sent with every export, e.g. an API key of the collector.' })),
    interval: Type.Optional(Type.Unsafe<string | number>({
      type: ['string', 'integer'],
      description: 'Spans are exported in batches at least this often. A duration ("5s", "500ms") or milliseconds. Default 5s.',
      examples: ['5s', '1s']
    }))
  }, { additionalProperties: false, description: 'Export spans over OTLP/HTTP. Without it no OpenTelemetry SDK is loaded and nothing needs a collector.' })),
  serviceName: Type.Optional(NonEmptyString('service.name of the exported spans. Default junction.'))
}, { additionalProperties: false, description: 'Tracing. traceparent propagation is always on; this adds exporting Junction\'s spans.' })

export const ObservabilitySchema = Type.Object({
  metrics: Type.Optional(MetricsSchema),
  tracing: Type.Optional(TracingSchema)
}, { additionalProperties: false, description: 'Metrics and tracing (docs/observability.md).' })

export type RawObservability = Static<typeof ObservabilitySchema>

export interface MetricsConfig {
  readonly path: string
  readonly token: string | undefined
}

export interface ObservabilityConfig {
  /** undefined: metrics are off (no endpoint, nothing counted). */
  readonly metrics: MetricsConfig | undefined
  readonly tracing: {
    readonly otlp: { readonly url: string, readonly headers: Readonly<Record<string, string>>, readonly serviceName: string, readonly exportIntervalMs: number } | undefined
  }
}

export const DEFAULT_METRICS_PATH = '/metrics'
/** The gateway's other endpoints: the metrics path may not be inside one of them. */
const OWN_ENDPOINTS = ['/health', '/ready', '/admin']

function isObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** Whether a route path template (`/users/:id`) matches the fixed path `path`. */
function templateMatches (template: string, path: string): boolean {
  const a = template.split('/')
  const b = path.split('/')
  return a.length === b.length && a.every((segment, i) => segment.startsWith(':') || segment === b[i])
}

/** The routes[] entry whose requests the metrics path would take, if any. */
function collidingRoute (path: string, routes: unknown): string | undefined {
  if (!Array.isArray(routes)) return undefined
  for (const [index, route] of routes.entries()) {
    if (!isObject(route)) continue
    if (typeof route.proxy === 'string') {
      const prefix = route.proxy.replace(/(.)\/+$/, '$1')
      // A '/' prefix forwards what no other route takes; the gateway's own endpoints win over it.
      if (prefix !== '/' && (path === prefix || path.startsWith(prefix + '/'))) return `routes[${index}] (proxy ${JSON.stringify(route.proxy)})`
    }
    for (const key of ['get', 'put', 'post', 'patch', 'delete']) {
      const template = route[key]
      if (typeof template === 'string' && templateMatches(template, path)) return `routes[${index}] (${key} ${JSON.stringify(template)})`
    }
  }
  return undefined
}

export function checkObservability (value: unknown, routes: unknown, issues: ConfigIssue[]): void {
  if (!isObject(value)) return
  const metrics = value.metrics
  if (isObject(metrics) && typeof metrics.path === 'string' && metrics.enabled !== false) {
    const at: PathSegment[] = ['observability', 'metrics', 'path']
    const path = metrics.path
    if (checkPlainPath(path, at, issues)) {
      const own = OWN_ENDPOINTS.find(p => path === p || path.startsWith(p + '/'))
      const route = collidingRoute(path, routes)
      if (path === '/' || /[:*]/.test(path)) {
        issues.push({ path: formatPath(at), message: `must be one fixed path such as "/metrics" (found ${JSON.stringify(path)})` })
      } else if (own !== undefined) {
        issues.push({ path: formatPath(at), message: `${JSON.stringify(path)} is inside the gateway's own endpoint ${JSON.stringify(own)}; choose another path, e.g. "/metrics"` })
      } else if (route !== undefined) {
        issues.push({ path: formatPath(at), message: `${JSON.stringify(path)} collides with ${route}: that route would never see it, or the metrics would be answered by the service; choose a path outside every route, e.g. "/metrics"` })
      }
    }
  }
  const tracing = value.tracing
  if (isObject(tracing) && isObject(tracing.otlp)) {
    const otlp = tracing.otlp
    if (typeof otlp.url === 'string' && otlp.url !== '') {
      let url: URL | undefined
      try {
        url = new URL(otlp.url)
      } catch {}
      if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
        issues.push({ path: 'observability.tracing.otlp.url', message: `must be an http:// or https:// URL, e.g. "http://127.0.0.1:4318/v1/traces" (found ${JSON.stringify(otlp.url)})` })
      }
    }
    checkDuration(otlp.interval, ['observability', 'tracing', 'otlp', 'interval'], issues)
  }
}

export function normaliseObservability (raw: RawObservability | undefined): ObservabilityConfig {
  const metrics = raw?.metrics
  const otlp = raw?.tracing?.otlp
  return {
    metrics: metrics?.enabled === false
      ? undefined
      : { path: metrics?.path ?? DEFAULT_METRICS_PATH, token: metrics?.token === undefined || metrics.token === '' ? undefined : metrics.token },
    tracing: {
      otlp: otlp === undefined
        ? undefined
        : { url: otlp.url, headers: { ...otlp.headers }, serviceName: raw?.tracing?.serviceName ?? 'junction', exportIntervalMs: otlp.interval === undefined ? 5000 : parseDuration(otlp.interval) ?? 5000 }
    }
  }
}
