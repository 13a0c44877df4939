/**
 * Retries through the gateway, against real upstreams: safe methods are retried after a
 * reset, a refused connection, a try timeout or a 502/503/504, on another URL when there
 * is one; POST and PATCH never; PUT and DELETE only where the route opts in, and only
 * while the body has not been sent; the retry budget caps them. Compose parts:
 * resilience-compose.test.ts.
 */
import t from 'tap'
import { request } from 'undici'
import { freePort, readBody } from './support/origin.js'
import { startCountingOrigin as countingOrigin, unavailable } from './support/counting-origin.js'
import { startGateway } from './support/gateway.js'

t.test('a GET is retried after a 503 and a reset, a POST or PATCH never', async t => {
  /** How the next request fails; the one after it succeeds. */
  let fail: 'busy' | 'reset' | undefined
  const origin = await countingOrigin(t, 'a', (req, res) => {
    const now = fail
    fail = undefined
    if (now === 'reset') { req.socket.destroy(); return }
    if (now === 'busy') { unavailable(res); return }
    readBody(req).then(() => res.end(`ok ${req.method ?? ''}`), () => res.destroy())
  })
  const gw = await startGateway(t, `
services:
  users: { urls: [${origin.url}], circuitBreaker: { enabled: false } }
routes:
  - { proxy: /api, service: users }
`)
  fail = 'busy'
  const busy = await request(`${gw.url}/api/1`)
  t.equal(busy.statusCode, 200)
  t.equal(await busy.body.text(), 'ok GET')
  t.equal(origin.hits(), 2, 'the 503 was retried once')

  fail = 'reset'
  const reset = await request(`${gw.url}/api/1`)
  t.equal(reset.statusCode, 200)
  t.equal(await reset.body.text(), 'ok GET')
  t.equal(origin.hits(), 4, 'the reset was retried once')

  fail = 'busy'
  const post = await request(`${gw.url}/api/1`, { method: 'POST', body: '{}' })
  t.equal(post.statusCode, 503, 'the upstream\'s own 503 reaches the client')
  t.equal(await post.body.text(), 'busy')
  t.equal(origin.hits(), 5, 'a POST is tried once')

  fail = 'reset'
  const postReset = await request(`${gw.url}/api/1`, { method: 'POST', body: '{}' })
  t.equal(postReset.statusCode, 502)
  t.match(await postReset.body.json(), { code: 'JUNCTION_UPSTREAM_RESET', service: 'users' })
  t.equal(origin.hits(), 6, 'a reset POST is not retried either')

  fail = 'busy'
  const patch = await request(`${gw.url}/api/1`, { method: 'PATCH', body: '{}' })
  t.equal(patch.statusCode, 503)
  await patch.body.dump()
  t.equal(origin.hits(), 7, 'nor a PATCH')
})

t.test('a retry goes to another URL of the service', async t => {
  const a = await countingOrigin(t, 'a', (_req, res) => { unavailable(res) })
  const b = await countingOrigin(t, 'b', (_req, res) => { res.end('ok') })
  const gw = await startGateway(t, `
services:
  users: { urls: [${a.url}, ${b.url}], circuitBreaker: { enabled: false } }
routes:
  - { proxy: /api, service: users }
`)
  for (let i = 0; i < 6; i++) {
    const res = await request(`${gw.url}/api/${i}`)
    t.equal(res.statusCode, 200)
    t.equal(res.headers['x-served-by'], 'b')
    await res.body.dump()
  }
  t.equal(a.hits(), 3, 'round-robin sent every other first try to a')
  t.equal(b.hits(), 6, 'each of a\'s failures was retried on b, never on a again')
})

t.test('PUT and DELETE are retried only where the route opts in, and a sent body is never resent', async t => {
  const refused = `http://127.0.0.1:${await freePort()}`
  const bodies: string[] = []
  const b = await countingOrigin(t, 'b', (req, res) => {
    readBody(req).then(body => {
      bodies.push(`${req.method ?? ''} ${body.toString()}`)
      if (req.url?.startsWith('/busy') === true) unavailable(res)
      else res.end('stored')
    }, () => res.destroy())
  })
  const gw = await startGateway(t, `
services:
  users: { urls: [${refused}, ${b.url}], circuitBreaker: { enabled: false } }
routes:
  - { proxy: /opted, service: users, rewrite: /, retry: { methods: [PUT, DELETE] } }
  - { proxy: /plain, service: users, rewrite: / }
  - { proxy: /busy, service: users, retry: { methods: [PUT, DELETE] } }
`)
  // Round-robin starts at the refused URL: each first try below goes there.
  const put = await request(`${gw.url}/opted/users/1`, { method: 'PUT', body: '{"name":"Ada"}', headers: { 'content-type': 'application/json' } })
  t.equal(put.statusCode, 200, 'refused before the body was sent: retried on b with the whole body')
  t.equal(await put.body.text(), 'stored')
  t.same(bodies, ['PUT {"name":"Ada"}'])

  const del = await request(`${gw.url}/opted/users/1`, { method: 'DELETE' })
  t.equal(del.statusCode, 200, 'an opted-in DELETE is retried')
  await del.body.dump()

  const plain = await request(`${gw.url}/plain/users/1`, { method: 'PUT', body: '{"name":"Bob"}' })
  t.equal(plain.statusCode, 502, 'without the opt-in a PUT is tried once')
  t.match(await plain.body.json(), { code: 'JUNCTION_UPSTREAM_UNAVAILABLE', service: 'users' })

  // The next first try goes to b, which reads the body and answers 503: not resent.
  const hitsBefore = b.hits()
  const busy = await request(`${gw.url}/busy/users/1`, { method: 'PUT', body: '{"name":"Cy"}' })
  t.equal(busy.statusCode, 503, 'the body was sent: the 503 is the answer')
  await busy.body.dump()
  t.equal(b.hits(), hitsBefore + 1, 'b saw the PUT once')
  t.same(bodies.filter(body => body.includes('Cy')), ['PUT {"name":"Cy"}'])

  const after = await request(`${gw.url}/plain/users/2`)
  t.equal(after.statusCode, 200, 'the connection that carried an unsent body still works')
  await after.body.dump()
})

t.test('a try that times out is retried on another URL; the error names the try timeout', async t => {
  const hung = await countingOrigin(t, 'hung', () => {})
  const b = await countingOrigin(t, 'b', (_req, res) => { res.end('ok') })
  const gw = await startGateway(t, `
services:
  users: { urls: [${hung.url}, ${b.url}], timeout: 5s, retry: { tryTimeout: 100ms }, circuitBreaker: { enabled: false } }
  slow: { urls: [${hung.url}], timeout: 5s, retry: { attempts: 2, tryTimeout: 100ms, deadline: 10s }, circuitBreaker: { enabled: false } }
routes:
  - { proxy: /api, service: users }
  - { proxy: /slow, service: slow }
`)
  const res = await request(`${gw.url}/api/1`)
  t.equal(res.statusCode, 200)
  t.equal(res.headers['x-served-by'], 'b')
  await res.body.dump()
  t.equal(hung.hits(), 1, 'the first try went to the hung URL')

  const slow = await request(`${gw.url}/slow/1`)
  t.equal(slow.statusCode, 504)
  t.match(await slow.body.json(), { code: 'JUNCTION_UPSTREAM_TIMEOUT', service: 'slow', detail: 'Service "slow" did not answer within 100 ms.' })
  t.equal(hung.hits(), 3, 'two tries of (at least) 100 ms, both within the deadline')
})

t.test('the retry budget caps retries while a service fails', async t => {
  const origin = await countingOrigin(t, 'a', (_req, res) => { unavailable(res) })
  const gw = await startGateway(t, `
services:
  users: { urls: [${origin.url}], retry: { attempts: 3, backoff: 1ms, maxBackoff: 2ms, budget: { ratio: 0, minRetries: 2, window: 10m } }, circuitBreaker: { enabled: false } }
routes:
  - { proxy: /api, service: users }
`)
  const first = await request(`${gw.url}/api/1`)
  t.equal(first.statusCode, 503)
  await first.body.dump()
  t.equal(origin.hits(), 3, 'the first request used both retries of the budget')
  for (let i = 0; i < 5; i++) {
    const res = await request(`${gw.url}/api/1`)
    t.equal(res.statusCode, 503)
    await res.body.dump()
  }
  t.equal(origin.hits(), 8, 'the budget is spent: every later request is tried once')
})
