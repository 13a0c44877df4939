/**
 * Compose parts under the service's resilience policy, against real upstreams: a part is
 * retried after a 503, a refused connection or a reset (on another URL when there is one),
 * never past the part's own timeout, within the retry budget; and its outcomes feed the
 * per-URL circuit breakers the proxy path reads. Nothing is asserted on wall-clock time.
 */
import t from 'tap'
import { request } from 'undici'
import type { ServerResponse } from 'node:http'
import { freePort } from './support/origin.js'
import { startCountingOrigin, unavailable } from './support/counting-origin.js'
import { startGateway } from './support/gateway.js'

function user (res: ServerResponse, id: string): void {
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id, name: 'Ada' }))
}

const idOf = (url: string | undefined): string => url?.split('/').pop() ?? ''

async function getJson (url: string): Promise<{ status: number, body: unknown }> {
  const res = await request(url)
  return { status: res.statusCode, body: await res.body.json() }
}

t.test('a compose part is retried after a 503', async t => {
  const users = await startCountingOrigin(t, 'users', (req, res, n) => {
    if (n === 1) { unavailable(res); return }
    user(res, idOf(req.url))
  })
  const gw = await startGateway(t, `
services:
  users: { urls: [${users.url}], circuitBreaker: { enabled: false } }
routes:
  - get: /api/profile/:id
    compose:
      user: { service: users, path: "/users/{params.id}" }
`)
  const res = await getJson(`${gw.url}/api/profile/7`)
  t.equal(res.status, 200)
  t.same(res.body, { user: { id: '7', name: 'Ada' } })
  t.equal(users.hits(), 2, 'one 503, one retry')
})

t.test('a part is retried after a refused connection (on the other URL) and after a reset', async t => {
  const refused = `http://127.0.0.1:${await freePort()}`
  let reset = true
  const b = await startCountingOrigin(t, 'b', (req, res) => {
    if (req.url?.startsWith('/reset') === true && reset) {
      reset = false
      req.socket.destroy()
      return
    }
    user(res, idOf(req.url))
  })
  const gw = await startGateway(t, `
services:
  users: { urls: [${refused}, ${b.url}], circuitBreaker: { enabled: false } }
routes:
  - get: /api/profile/:id
    compose:
      user: { service: users, path: "/users/{params.id}" }
`)
  // Round-robin starts at the refused URL.
  const refusedFirst = await getJson(`${gw.url}/api/profile/1`)
  t.equal(refusedFirst.status, 200, 'refused, then answered by b')
  t.same(refusedFirst.body, { user: { id: '1', name: 'Ada' } })
  t.equal(b.hits(), 1)

  // With one URL, the retry goes to the same one (on a new connection).
  const single = await startGateway(t, `
services:
  users: { urls: [${b.url}], circuitBreaker: { enabled: false } }
routes:
  - get: /api/reset/:id
    compose:
      user: { service: users, path: "/reset/{params.id}" }
`)
  const afterReset = await getJson(`${single.url}/api/reset/2`)
  t.equal(afterReset.status, 200, 'reset, then answered on a new connection')
  t.same(afterReset.body, { user: { id: '2', name: 'Ada' } })
  t.equal(b.hits(), 3, 'the reset try and its retry')
})

t.test('a part is not retried past its own timeout; a shorter tryTimeout leaves room for a retry', async t => {
  const seen = new Set<string>()
  const hung = await startCountingOrigin(t, 'hung', (req, res) => {
    // The first call of each path hangs (until the gateway gives up on it); later ones answer.
    const path = req.url ?? '/'
    if (!seen.has(path)) {
      seen.add(path)
      return
    }
    user(res, idOf(path))
  })
  const gw = await startGateway(t, `
services:
  users: { urls: [${hung.url}], timeout: 5s, circuitBreaker: { enabled: false } }
  quick: { urls: [${hung.url}], timeout: 5s, retry: { tryTimeout: 200ms }, circuitBreaker: { enabled: false } }
routes:
  - get: /slow/:id
    compose:
      user: { service: users, path: "/slow/{params.id}", timeout: 300ms }
  - get: /quick/:id
    compose:
      user: { service: quick, path: "/users/{params.id}", timeout: 3s }
`)
  const slow = await getJson(`${gw.url}/slow/1`)
  t.equal(slow.status, 504)
  t.match(slow.body, { code: 'JUNCTION_COMPOSE_PART_TIMEOUT', part: 'user', detail: 'Part "user" (service "users") did not answer within 300 ms.' })
  t.equal(hung.hits(), 1, 'the try used the whole part timeout: no retry after it')

  const quick = await getJson(`${gw.url}/quick/2`)
  t.equal(quick.status, 200, 'the hung try was abandoned after tryTimeout and retried within the part timeout')
  t.same(quick.body, { user: { id: '2', name: 'Ada' } })
  t.equal(hung.hits(), 3)
})

t.test('compose failures open the circuit, and the proxy path then finds it open', async t => {
  const origin = await startCountingOrigin(t, 'a', (_req, res) => { unavailable(res) })
  const gw = await startGateway(t, `
services:
  users: { urls: [${origin.url}], retry: { attempts: 1 }, circuitBreaker: { consecutiveFailures: 3, coolDown: 1m } }
routes:
  - { proxy: /api, service: users }
  - get: /profile/:id
    compose:
      user: { service: users, path: "/users/{params.id}" }
`)
  for (let i = 0; i < 3; i++) {
    const res = await getJson(`${gw.url}/profile/${i}`)
    t.equal(res.status, 502)
    t.match(res.body, { code: 'JUNCTION_COMPOSE_PART_FAILED', detail: 'Part "user" (service "users") failed: the service answered 503.' })
  }
  t.equal(origin.hits(), 3)

  const proxied = await request(`${gw.url}/api/users/1`)
  t.equal(proxied.statusCode, 503)
  t.equal(proxied.headers['retry-after'], '60')
  t.match(await proxied.body.json(), { code: 'JUNCTION_UPSTREAM_CIRCUIT_OPEN', service: 'users' })
  const composed = await getJson(`${gw.url}/profile/9`)
  t.match(composed.body, { detail: 'Part "user" (service "users") failed: the service is failing and out of rotation (circuit open).' })
  t.equal(origin.hits(), 3, 'nothing reached the service once compose failures had opened its circuit')
})

t.test('the proxy\'s failures open the circuit for compose, and a compose success closes it after the cool-down', async t => {
  let failing = true
  const origin = await startCountingOrigin(t, 'a', (req, res) => {
    if (failing) { req.socket.destroy(); return }
    user(res, idOf(req.url))
  })
  const gw = await startGateway(t, `
services:
  users: { urls: [${origin.url}], retry: { attempts: 1 }, circuitBreaker: { consecutiveFailures: 2, coolDown: 1s } }
routes:
  - { proxy: /api, service: users }
  - get: /profile/:id
    compose:
      user: { service: users, path: "/users/{params.id}" }
`)
  for (let i = 0; i < 2; i++) {
    const res = await request(`${gw.url}/api/users/1`)
    t.equal(res.statusCode, 502)
    await res.body.dump()
  }
  const open = await getJson(`${gw.url}/profile/1`)
  t.match(open.body, { reason: 'the service is failing and out of rotation (circuit open)' })
  t.equal(origin.hits(), 2)

  failing = false
  let probe = open
  for (let i = 0; i < 80 && probe.status !== 200; i++) {
    await new Promise(resolve => setTimeout(resolve, 50))
    probe = await getJson(`${gw.url}/profile/1`)
  }
  t.equal(probe.status, 200, 'after the cool-down a compose part was the probe, and it succeeded')
  t.equal(origin.hits(), 3, 'exactly one call, the probe, went through')
  t.equal(gw.app.upstreams.get('users').upstreams[0]?.breaker?.state, 'closed', 'the compose probe closed the circuit')
  const proxied = await request(`${gw.url}/api/users/2`)
  t.equal(proxied.statusCode, 200, 'the probe closed the circuit for the proxy too')
  await proxied.body.dump()
})

t.test('the retry budget caps compose retries while a service fails', async t => {
  const origin = await startCountingOrigin(t, 'a', (_req, res) => { unavailable(res) })
  const gw = await startGateway(t, `
services:
  users: { urls: [${origin.url}], retry: { attempts: 3, backoff: 1ms, maxBackoff: 2ms, budget: { ratio: 0, minRetries: 2, window: 10m } }, circuitBreaker: { enabled: false } }
routes:
  - get: /profile/:id
    compose:
      user: { service: users, path: "/users/{params.id}", optional: true }
      other: { service: users, path: "/other/{params.id}", optional: true }
`)
  const first = await getJson(`${gw.url}/profile/1`)
  t.equal(first.status, 200, 'optional parts: a partial answer')
  t.same(first.body, { user: null, other: null })
  t.equal(origin.hits(), 4, 'two parts tried, the two retries of the budget shared between them')
  for (let i = 0; i < 5; i++) {
    const res = await getJson(`${gw.url}/profile/1`)
    t.equal(res.status, 200)
  }
  t.equal(origin.hits(), 14, 'the budget is spent: every later part is tried once')
})
