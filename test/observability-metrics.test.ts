/**
 * GET /metrics after real traffic through a real gateway (docs/observability.md): proxy
 * with a cache hit and coalesced fills, a compose route, an unknown path, a failing service
 * whose circuit opens, and a write whose deliveries succeed at one dependent and die at
 * another. The numbers are checked against what the origins saw.
 */
import t from 'tap'
import { request } from 'undici'
import { freePort } from './support/origin.js'
import { startRecordingOrigin } from './support/recording-origin.js'
import { startGateway } from './support/gateway.js'
import { sample } from './support/metrics-text.js'
import { eventually } from './support/writes.js'
import { captureLog } from './support/log-capture.js'

async function scrape (url: string, headers: Record<string, string> = {}): Promise<{ status: number, type: string, text: string }> {
  const res = await request(`${url}/metrics`, { headers })
  return { status: res.statusCode, type: String(res.headers['content-type']), text: await res.body.text() }
}

t.test('metrics after proxy, cache, compose, 404, upstream failure and a write with a dead letter', async t => {
  const users = await startRecordingOrigin(t, (req, res) => {
    if (req.method === 'PUT') {
      res.setHeader('content-type', 'application/json')
      res.setHeader('etag', '"2"')
      res.end(JSON.stringify({ id: '1', version: 2, name: 'Ada' }))
      return
    }
    const send = (): void => {
      res.setHeader('content-type', 'application/json')
      res.setHeader('cache-control', 'max-age=60')
      res.end(JSON.stringify({ id: req.url.split('/').pop(), name: 'Ada' }))
    }
    // /users/2 answers slowly: concurrent requests for it wait on one fill.
    if (req.url === '/users/2') setTimeout(send, 300)
    else send()
  })
  const copies = await startRecordingOrigin(t, (_req, res) => { res.statusCode = 204; res.end() })
  const broken = await startRecordingOrigin(t, (_req, res) => { res.statusCode = 400; res.end('no such thing') })
  const gone = await freePort()
  const { lines, logger } = captureLog()
  const gw = await startGateway(t, `
outbox: { attemptTimeout: 1s, pollInterval: 100ms, baseBackoff: 50ms, maxBackoff: 200ms }
services:
  users: { urls: [${users.url}] }
  copies: { urls: [${copies.url}] }
  broken: { urls: [${broken.url}] }
  gone: { urls: [http://127.0.0.1:${gone}], circuitBreaker: { consecutiveFailures: 1, coolDown: 60s } }
routes:
  - { proxy: /api/users, service: users, rewrite: /users, cache: { ttl: 60s } }
  - { proxy: /api/gone, service: gone }
  - get: /api/profile/:id
    compose:
      user: { service: users, path: "/users/{params.id}" }
  - put: /api/users/:id
    write:
      owner: { service: users, path: "/users/{params.id}", version: { etag: true } }
      propagate:
        - { service: copies, path: "/customers/{params.id}" }
        - { service: broken, path: "/broken/{params.id}" }
`, { logger })

  const get = async (path: string, headers: Record<string, string> = {}): Promise<number> => {
    const res = await request(`${gw.url}${path}`, { headers })
    await res.body.dump()
    return res.statusCode
  }
  t.equal(await get('/api/users/1'), 200)
  t.equal(await get('/api/users/1'), 200)
  t.same(await Promise.all([1, 2, 3, 4, 5].map(async () => await get('/api/users/2'))), [200, 200, 200, 200, 200])
  t.equal(users.received.filter(r => r.url === '/users/2').length, 1, 'five concurrent requests, one fill')
  t.equal(await get('/nope/1'), 404)
  t.equal(await get('/nope/2'), 404)
  t.equal(await get('/api/profile/3'), 200)
  t.equal(await get('/api/gone/x'), 502)
  t.equal(await get('/api/gone/y'), 503, 'the circuit opened')
  const put = await request(`${gw.url}/api/users/1`, { method: 'PUT', headers: { 'content-type': 'application/json', 'x-request-id': 'metrics-write-1' }, body: JSON.stringify({ name: 'Ada' }) })
  await put.body.dump()
  t.equal(put.statusCode, 200)
  t.ok(await eventually(async () => copies.received.length === 1 && broken.received.length === 1), 'both dependents were called')

  let text = ''
  t.ok(await eventually(async () => {
    text = (await scrape(gw.url)).text
    return sample(text, 'junction_outbox_deliveries', { dependent: 'broken', state: 'dead' }) === 1 &&
      sample(text, 'junction_outbox_outcomes_total', { dependent: 'copies', outcome: 'delivered' }) === 1
  }, 5000), 'the outbox settled')
  const res = await scrape(gw.url)
  t.equal(res.status, 200)
  t.match(res.type, /^text\/plain; version=0\.0\.4/)
  text = res.text

  // Requests by route template, method and status; raw paths never appear.
  t.equal(sample(text, 'junction_http_requests_total', { route: '/api/users', method: 'GET', status: '200' }), 7)
  t.equal(sample(text, 'junction_http_requests_total', { route: 'unmatched', method: 'GET', status: '404' }), 2, 'unknown paths collapse to one label')
  t.equal(sample(text, 'junction_http_requests_total', { route: '/api/profile/:id', method: 'GET', status: '200' }), 1)
  t.equal(sample(text, 'junction_http_requests_total', { route: '/api/gone', method: 'GET', status: '502' }), 1)
  t.equal(sample(text, 'junction_http_requests_total', { route: '/api/gone', method: 'GET', status: '503' }), 1)
  t.equal(sample(text, 'junction_http_requests_total', { route: '/api/users/:id', method: 'PUT', status: '200' }), 1)
  t.equal(sample(text, 'junction_http_request_duration_seconds_count', { route: '/api/users' }), 7)
  t.notMatch(text, /route="\/api\/users\/1"|\/nope/, 'no raw path is a label value')
  t.notMatch(text, new RegExp(String(gone)), 'no upstream URL is a label value')

  // Cache: one hit, four requests coalesced on one fill.
  t.equal(sample(text, 'junction_cache_requests_total', { route: '/api/users', result: 'hit' }), 1)
  t.ok((sample(text, 'junction_cache_requests_total', { route: '/api/users', result: 'miss' }) ?? 0) >= 2, 'misses counted')
  t.equal(sample(text, 'junction_cache_coalesced_total', { route: '/api/users' }), 4)

  // Upstreams: every call users answered is in its latency histogram (proxy fills, compose part, owner call).
  t.equal(sample(text, 'junction_upstream_request_duration_seconds_count', { service: 'users' }), users.received.length)
  t.equal(sample(text, 'junction_upstream_request_duration_seconds_count', { service: 'copies' }), 1)
  t.equal(sample(text, 'junction_upstream_errors_total', { service: 'gone', kind: 'refused' }), 1)
  t.equal(sample(text, 'junction_upstream_errors_total', { service: 'gone', kind: 'circuit_open' }), 1)
  t.equal(sample(text, 'junction_circuit_state', { service: 'gone', upstream: '0' }), 2, 'open')
  t.equal(sample(text, 'junction_circuit_state', { service: 'users', upstream: '0' }), 0, 'closed')

  // Outbox: depth per dependent, outcomes, attempts, lag.
  t.equal(sample(text, 'junction_outbox_deliveries', { dependent: 'copies', state: 'pending' }), 0)
  t.equal(sample(text, 'junction_outbox_deliveries', { dependent: 'copies', state: 'dead' }), 0)
  t.equal(sample(text, 'junction_outbox_oldest_pending_age_seconds', { dependent: 'copies' }), 0)
  t.equal(sample(text, 'junction_outbox_outcomes_total', { dependent: 'broken', outcome: 'dead' }), 1)
  t.equal(sample(text, 'junction_outbox_attempts_total', { dependent: 'broken', result: 'dead' }), 1)
  t.equal(sample(text, 'junction_outbox_attempts_total', { dependent: 'copies', result: 'delivered' }), 1)
  t.equal(sample(text, 'junction_outbox_propagation_lag_seconds_count', { dependent: 'copies' }), 1)

  // Event-loop lag, from prom-client's process metrics.
  t.ok(sample(text, 'nodejs_eventloop_lag_seconds') !== undefined, 'event-loop lag')

  // One log line per delivery outcome, with request id and write id.
  const deliveries = lines.filter(l => l.msg === 'delivery')
  const writeId = deliveries[0]?.writeId
  t.equal(typeof writeId, 'string')
  t.match(deliveries.find(l => l.dependent === 'copies'), { reqId: 'metrics-write-1', writeId, outcome: 'delivered', attempts: 1, status: 204, traceId: /^[0-9a-f]{32}$/ })
  t.match(deliveries.find(l => l.dependent === 'broken'), { reqId: 'metrics-write-1', writeId, outcome: 'dead', attempts: 1, status: 400, level: 40, reason: /HTTP 400/ })
})

t.test('metrics path and token from the config; off when disabled', async t => {
  const origin = await startRecordingOrigin(t)
  const gw = await startGateway(t, `
observability: { metrics: { path: /internal/metrics, token: s3cret-token } }
services:
  users: { urls: [${origin.url}] }
routes:
  - { proxy: /api/users, service: users }
`)
  const none = await request(`${gw.url}/internal/metrics`)
  t.equal(none.statusCode, 401)
  t.equal(none.headers['www-authenticate'], 'Bearer realm="junction-metrics"')
  t.match(await none.body.json(), { code: 'JUNCTION_AUTHENTICATION_REQUIRED' })
  const wrong = await request(`${gw.url}/internal/metrics`, { headers: { authorization: 'Bearer nope' } })
  await wrong.body.dump()
  t.equal(wrong.statusCode, 401)
  const ok = await request(`${gw.url}/internal/metrics`, { headers: { authorization: 'Bearer s3cret-token' } })
  t.equal(ok.statusCode, 200)
  t.match(await ok.body.text(), /junction_http_requests_total\{route="\/internal\/metrics",method="GET",status="401"\} 2/)
  t.equal(origin.received.length, 0, 'never forwarded')

  const off = await startGateway(t, `
observability: { metrics: { enabled: false } }
services:
  users: { urls: [${origin.url}] }
routes:
  - { proxy: /api/users, service: users }
`)
  const missing = await request(`${off.url}/metrics`)
  await missing.body.dump()
  t.equal(missing.statusCode, 404)
})

t.test('two gateways in one process keep their numbers apart', async t => {
  const origin = await startRecordingOrigin(t)
  const yaml = `
services:
  users: { urls: [${origin.url}] }
routes:
  - { proxy: /api/users, service: users }
`
  const a = await startGateway(t, yaml)
  const b = await startGateway(t, yaml)
  const res = await request(`${a.url}/api/users/1`)
  await res.body.dump()
  t.equal(sample((await scrape(a.url)).text, 'junction_http_requests_total', { route: '/api/users', method: 'GET', status: '200' }), 1)
  t.equal(sample((await scrape(b.url)).text, 'junction_http_requests_total', { route: '/api/users', method: 'GET', status: '200' }), undefined)
})
