/**
 * `observability:` (docs/observability.md): defaults, the normalised form, and every error
 * message, the metrics path colliding with a route among them.
 */
import t from 'tap'
import { parseConfig } from '../src/config/load.js'
import { problemsOf as problems } from './support/config-problems.js'

const BASE = `services:
  users: { urls: [http://127.0.0.1:3001] }
routes:
  - { proxy: /api/users, service: users }
  - get: /api/profile/:id
    compose:
      user: { service: users, path: "/users/{params.id}" }
`

t.test('defaults: metrics at /metrics without a token; no span export', async t => {
  const config = parseConfig(BASE, { env: {} })
  t.same(config.observability, { metrics: { path: '/metrics', token: undefined }, tracing: { otlp: undefined } })
})

t.test('path, token, disabled, OTLP export', async t => {
  const config = parseConfig(`${BASE}observability:
  metrics: { path: /internal/metrics, token: "\${METRICS_TOKEN}" }
  tracing: { otlp: { url: http://127.0.0.1:4318/v1/traces, headers: { x-api-key: k }, interval: 2s }, serviceName: edge }
`, { env: { METRICS_TOKEN: 'abc' } })
  t.same(config.observability, {
    metrics: { path: '/internal/metrics', token: 'abc' },
    tracing: { otlp: { url: 'http://127.0.0.1:4318/v1/traces', headers: { 'x-api-key': 'k' }, serviceName: 'edge', exportIntervalMs: 2000 } }
  })
  t.equal(parseConfig(`${BASE}observability: { metrics: { enabled: false } }\n`, { env: {} }).observability?.metrics, undefined)
  t.equal(parseConfig(`${BASE}observability: { metrics: { token: "" } }\n`, { env: {} }).observability?.metrics?.token, undefined, 'an empty token is none')
})

t.test('error messages', async t => {
  t.same(problems(`${BASE}observability: { metrics: { path: /api/users/metrics } }\n`), [
    'observability.metrics.path: "/api/users/metrics" collides with routes[0] (proxy "/api/users"): that route would never see it, or the metrics would be answered by the service; choose a path outside every route, e.g. "/metrics"'
  ])
  t.same(problems(`${BASE}observability: { metrics: { path: /api/profile/metrics } }\n`), [
    'observability.metrics.path: "/api/profile/metrics" collides with routes[1] (get "/api/profile/:id"): that route would never see it, or the metrics would be answered by the service; choose a path outside every route, e.g. "/metrics"'
  ])
  t.same(problems(`${BASE}observability: { metrics: { path: /admin/metrics } }\n`), [
    'observability.metrics.path: "/admin/metrics" is inside the gateway\'s own endpoint "/admin"; choose another path, e.g. "/metrics"'
  ])
  t.same(problems(`${BASE}observability: { metrics: { path: "/m/:x" } }\n`), [
    'observability.metrics.path: must be one fixed path such as "/metrics" (found "/m/:x")'
  ])
  t.same(problems(`${BASE}observability: { tracing: { otlp: { url: "collector:4318", interval: soon } } }\n`), [
    'observability.tracing.otlp.url: must be an http:// or https:// URL, e.g. "http://127.0.0.1:4318/v1/traces" (found "collector:4318")',
    'observability.tracing.otlp.interval: "soon" is not a duration; write a number with a unit, e.g. "500ms", "2s" or "5m", or an integer of milliseconds'
  ])
  t.match(problems(`${BASE}observability: { metrics: { port: 9090 } }\n`), [/^observability\.metrics\.port: unknown key/])
  t.same(problems(`${BASE}observability: { metrics: { path: /api/users/metrics, enabled: false } }\n`), [], 'a disabled endpoint collides with nothing')
})
