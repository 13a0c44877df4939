/**
 * Passive health: a URL whose circuit opens leaves the round-robin for the cool-down and
 * comes back once a probe succeeds; the other URLs serve meanwhile. With every URL out,
 * proxy and compose answer 503 at once. The write path and outbox deliveries (their own
 * retry policies) skip ejected URLs too, but still try one when all are out.
 */
import t from 'tap'
import { request } from 'undici'
import { startCountingOrigin, unavailable } from './support/counting-origin.js'
import { startGateway } from './support/gateway.js'
import { ServicePool } from '../src/upstream/service-pool.js'
import { callUpstream } from '../src/upstream/upstream-call.js'
import { CIRCUIT_BREAKER_DEFAULTS, RETRY_DEFAULTS } from '../src/config/resilience-block.js'

t.test('a failing URL is ejected, the others serve, and it returns after the cool-down', async t => {
  let aFailing = true
  const a = await startCountingOrigin(t, 'a', (_req, res) => {
    if (aFailing) unavailable(res)
    else res.end('ok')
  })
  const b = await startCountingOrigin(t, 'b', (_req, res) => { res.end('ok') })
  const gw = await startGateway(t, `
services:
  users: { urls: [${a.url}, ${b.url}], circuitBreaker: { consecutiveFailures: 2, coolDown: 2s } }
routes:
  - { proxy: /api, service: users }
`)
  for (let i = 0; i < 6; i++) {
    const res = await request(`${gw.url}/api/${i}`)
    t.equal(res.statusCode, 200, 'a\'s failures are retried on b')
    t.equal(res.headers['x-served-by'], 'b')
    await res.body.dump()
  }
  t.equal(a.hits(), 2, 'after 2 failures a is out of rotation')

  aFailing = false
  let servedByA = false
  for (let i = 0; i < 100 && !servedByA; i++) {
    const res = await request(`${gw.url}/api/x`)
    servedByA = res.headers['x-served-by'] === 'a'
    await res.body.dump()
    if (!servedByA) await new Promise(resolve => setTimeout(resolve, 50))
  }
  t.ok(servedByA, 'after the cool-down a probe reaches a and succeeds')
  const servers: unknown[] = []
  for (let i = 0; i < 4; i++) {
    const res = await request(`${gw.url}/api/${i}`)
    servers.push(res.headers['x-served-by'])
    await res.body.dump()
  }
  t.same(servers.sort(), ['a', 'a', 'b', 'b'], 'a is back in the round-robin')
})

t.test('with every URL out, proxy and compose answer 503 at once', async t => {
  const a = await startCountingOrigin(t, 'a', (_req, res) => { unavailable(res) })
  const b = await startCountingOrigin(t, 'b', (req) => { req.socket.destroy() })
  const gw = await startGateway(t, `
services:
  users: { urls: [${a.url}, ${b.url}], retry: { attempts: 1 }, circuitBreaker: { consecutiveFailures: 1, coolDown: 1m } }
routes:
  - { proxy: /api, service: users }
  - get: /profile/:id
    compose:
      user: { service: users, path: "/users/{params.id}" }
`)
  const first = await request(`${gw.url}/api/1`)
  t.equal(first.statusCode, 503, 'a\'s own 503')
  await first.body.dump()
  const second = await request(`${gw.url}/api/1`)
  t.equal(second.statusCode, 502, 'b\'s reset')
  await second.body.dump()

  const out = await request(`${gw.url}/api/1`)
  t.equal(out.statusCode, 503)
  t.equal(out.headers['retry-after'], '60')
  t.match(await out.body.json(), { code: 'JUNCTION_UPSTREAM_CIRCUIT_OPEN', service: 'users' })

  const composed = await request(`${gw.url}/profile/1`)
  t.equal(composed.statusCode, 502)
  t.match(await composed.body.json(), {
    code: 'JUNCTION_COMPOSE_PART_FAILED',
    service: 'users',
    detail: 'Part "user" (service "users") failed: the service is failing and out of rotation (circuit open).'
  })
  t.equal(a.hits() + b.hits(), 2, 'nothing reached the service after both URLs were ejected')
})

t.test('pick() for callers with their own retries skips ejected URLs, but never refuses', async t => {
  const a = await startCountingOrigin(t, 'a', (_req, res) => { unavailable(res) })
  const b = await startCountingOrigin(t, 'b', (_req, res) => { res.end('ok') })
  const pool = new ServicePool({
    name: 'users',
    urls: [a.url, b.url],
    timeoutMs: 2000,
    connectTimeoutMs: 1000,
    connections: 4,
    keepAliveTimeoutMs: 1000,
    retry: { ...RETRY_DEFAULTS, attempts: 1 },
    circuitBreaker: { ...CIRCUIT_BREAKER_DEFAULTS, consecutiveFailures: 1, coolDownMs: 60_000 },
    health: undefined
  })
  t.teardown(() => pool.close())
  const [ua, ub] = pool.upstreams
  const failed = await callUpstream(pool, { method: 'GET', path: '/', headers: {}, body: null, retryable: false })
  t.equal(failed.upstream, ua)
  t.equal(failed.res.statusCode, 503)
  await failed.res.body.dump()
  t.same([pool.pick(), pool.pick(), pool.pick()].map(u => u.origin), [ub?.origin, ub?.origin, ub?.origin], 'a is skipped while ejected')

  const other = await callUpstream(pool, { method: 'GET', path: '/', headers: {}, body: null, retryable: false })
  t.equal(other.upstream, ub)
  await other.res.body.dump()
  b.server.closeAllConnections()
  await b.close()
  await t.rejects(callUpstream(pool, { method: 'GET', path: '/', headers: {}, body: null, retryable: false }), 'b refuses')
  t.equal(pool.anyInRotation(), false)
  t.ok([ua, ub].includes(pool.pick()), 'with every URL out, pick() still names one')
  await t.rejects(callUpstream(pool, { method: 'GET', path: '/', headers: {}, body: null, retryable: false }), { code: 'JUNCTION_UPSTREAM_CIRCUIT_OPEN' })
})
