/**
 * The circuit breaker of an upstream URL, against a real upstream: it opens after
 * consecutive failures or a failure rate, answers 503 problem+json naming the service at
 * once while open (the service is not called), lets one probe through after the cool-down,
 * and closes when the probe succeeds or opens again when it fails.
 */
import t from 'tap'
import { request } from 'undici'
import { startCountingOrigin, unavailable } from './support/counting-origin.js'
import { startGateway } from './support/gateway.js'

interface Problem { status: number, code: string, service: string, detail: string }

/** GETs `url` until `until` says yes, at most 80 times 50 ms apart; returns the last status. */
async function poll (url: string, until: (status: number) => boolean): Promise<number> {
  let status = 0
  for (let i = 0; i < 80; i++) {
    const res = await request(url)
    status = res.statusCode
    await res.body.dump()
    if (until(status)) break
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  return status
}

t.test('consecutive failures open the circuit: fast 503, then a half-open probe closes it', async t => {
  let failing = true
  const origin = await startCountingOrigin(t, 'a', (_req, res) => {
    if (failing) unavailable(res)
    else res.end('ok')
  })
  const gw = await startGateway(t, `
services:
  users: { urls: [${origin.url}], retry: { attempts: 1 }, circuitBreaker: { consecutiveFailures: 3, coolDown: 1s } }
routes:
  - { proxy: /api, service: users }
`)
  for (let i = 0; i < 3; i++) {
    const res = await request(`${gw.url}/api/1`)
    t.equal(res.statusCode, 503, 'the service\'s own 503')
    t.equal(await res.body.text(), 'busy')
  }
  t.equal(origin.hits(), 3)

  const open = await request(`${gw.url}/api/1`)
  t.equal(open.statusCode, 503)
  t.match(open.headers['content-type'], /^application\/problem\+json/)
  t.equal(open.headers['retry-after'], '1', 'Retry-After: the cool-down left, in whole seconds')
  const problem = await open.body.json() as Problem
  t.match(problem, { status: 503, code: 'JUNCTION_UPSTREAM_CIRCUIT_OPEN', service: 'users', detail: 'Service "users" is failing, so Junction does not call it for now (circuit open); try again in 1 s.' })
  t.notMatch(JSON.stringify(problem), String(origin.port), 'the internal address is not disclosed')
  const post = await request(`${gw.url}/api/1`, { method: 'POST', body: '{}' })
  t.equal(post.statusCode, 503, 'every method fails fast while open')
  t.match(await post.body.json(), { code: 'JUNCTION_UPSTREAM_CIRCUIT_OPEN' })
  t.equal(origin.hits(), 3, 'no call reached the service while the circuit was open')

  failing = false
  t.equal(await poll(`${gw.url}/api/1`, status => status === 200), 200, 'after the cool-down the probe succeeds')
  t.equal(origin.hits(), 4, 'exactly one call, the probe, went through')
  const closed = await request(`${gw.url}/api/2`)
  t.equal(closed.statusCode, 200, 'the circuit is closed again')
  await closed.body.dump()
})

t.test('a failing probe opens the circuit again', async t => {
  const origin = await startCountingOrigin(t, 'a', (req) => { req.socket.destroy() })
  const gw = await startGateway(t, `
services:
  users: { urls: [${origin.url}], retry: { attempts: 1 }, circuitBreaker: { consecutiveFailures: 1, coolDown: 1s } }
routes:
  - { proxy: /api, service: users }
`)
  const first = await request(`${gw.url}/api/1`)
  t.equal(first.statusCode, 502, 'the reset itself')
  t.match(await first.body.json(), { code: 'JUNCTION_UPSTREAM_RESET' })
  t.equal(await poll(`${gw.url}/api/1`, status => status === 502), 502, 'after the cool-down the probe reaches the service, and fails')
  t.equal(origin.hits(), 2)
  const again = await request(`${gw.url}/api/1`)
  t.equal(again.statusCode, 503, 'open again at once')
  t.match(await again.body.json(), { code: 'JUNCTION_UPSTREAM_CIRCUIT_OPEN' })
  t.equal(origin.hits(), 2)
})

t.test('a failure rate opens the circuit; a 500 is not a failure of the URL', async t => {
  const origin = await startCountingOrigin(t, 'a', (req, res) => {
    if (req.url === '/fail') unavailable(res)
    else if (req.url === '/bug') res.writeHead(500).end('bug')
    else res.end('ok')
  })
  const gw = await startGateway(t, `
services:
  users: { urls: [${origin.url}], retry: { attempts: 1 }, circuitBreaker: { consecutiveFailures: 100, failureRate: 0.5, window: 1m, minimumRps: 0.1, coolDown: 1m } }
  buggy: { urls: [${origin.url}], retry: { attempts: 1 }, circuitBreaker: { consecutiveFailures: 2 } }
routes:
  - { proxy: /users, service: users, rewrite: / }
  - { proxy: /buggy, service: buggy, rewrite: / }
`)
  // minimumRps 0.1 over 1 minute: the rate is judged from the 6th call on.
  const statuses: number[] = []
  for (const path of ['ok', 'ok', 'ok', 'fail', 'fail', 'fail', 'fail']) {
    const res = await request(`${gw.url}/users/${path}`)
    statuses.push(res.statusCode)
    await res.body.dump()
  }
  t.same(statuses, [200, 200, 200, 503, 503, 503, 503])
  const open = await request(`${gw.url}/users/ok`)
  t.equal(open.statusCode, 503, '4 failures in 7 calls is over 50%: open, though never 100 in a row')
  t.match(await open.body.json(), { code: 'JUNCTION_UPSTREAM_CIRCUIT_OPEN', service: 'users' })

  for (let i = 0; i < 5; i++) {
    const res = await request(`${gw.url}/buggy/bug`)
    t.equal(res.statusCode, 500, 'the service\'s 500 every time: the circuit stays closed')
    await res.body.dump()
  }
})

t.test('with the breaker disabled, a failing service is called every time', async t => {
  const origin = await startCountingOrigin(t, 'a', (_req, res) => { unavailable(res) })
  const gw = await startGateway(t, `
services:
  users: { urls: [${origin.url}], retry: { attempts: 1 }, circuitBreaker: { enabled: false } }
routes:
  - { proxy: /api, service: users }
`)
  for (let i = 0; i < 8; i++) {
    const res = await request(`${gw.url}/api/1`)
    t.equal(res.statusCode, 503)
    t.equal(await res.body.text(), 'busy')
  }
  t.equal(origin.hits(), 8)
})
