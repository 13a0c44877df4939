import t from 'tap'
import { request } from 'undici'
import { startOrigin } from './support/origin.js'
import { startGateway } from './support/gateway.js'
import { captureLog } from './support/log-capture.js'

t.test('one structured log line per request: id, route, service, upstream, status, duration', async t => {
  const { lines, logger } = captureLog()
  const origin = await startOrigin(t, (_req, res) => res.end('ok'))
  const gw = await startGateway(t, `
services:
  users: { urls: [${origin.url}] }
routes:
  - { proxy: /api/users, service: users, rewrite: /users }
`, { logger })

  const res = await request(`${gw.url}/api/users/7?secret=1`, { headers: { 'x-request-id': 'log-test-1' } })
  await res.body.dump()
  const missing = await request(`${gw.url}/nope`, { headers: { 'x-request-id': 'log-test-2' } })
  await missing.body.dump()
  await new Promise(resolve => setImmediate(resolve))

  const requests = lines.filter(l => l.msg === 'request')
  t.equal(requests.length, 2, 'exactly one line per request')
  t.match(requests[0], {
    reqId: 'log-test-1', method: 'GET', path: '/api/users/7', route: '/api/users/*', service: 'users', upstream: origin.url, status: 200, ms: Number
  })
  t.notMatch(JSON.stringify(requests[0]), 'secret', 'query strings are not logged')
  t.match(requests[1], { reqId: 'log-test-2', path: '/nope', status: 404 })
})
