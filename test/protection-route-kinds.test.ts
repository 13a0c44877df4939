/**
 * Authentication, claim forwarding and rate limiting on compose and write routes (proxy
 * routes are covered by the auth-* and rate-limit tests): the parts of a composed answer and
 * the owner of a write see the verified claims and never the client's copies, and each
 * route's limit holds for its HEAD twin too.
 */
import t, { type Test } from 'tap'
import { request } from 'undici'
import { startOrigin, readBody } from './support/origin.js'
import { startGateway } from './support/gateway.js'

const ACME = 'acme-key-0123456789abcdef'
const GLOBEX = 'globex-key-0123456789abcdef'

interface Answer { status: number, body: any, headers: Record<string, string | string[] | undefined> }

async function setup (t: Test): Promise<{ call: (method: string, path: string, headers?: Record<string, string>, body?: unknown) => Promise<Answer>, seen: Array<{ method: string, url: string, headers: Record<string, unknown> }> }> {
  const seen: Array<{ method: string, url: string, headers: Record<string, unknown> }> = []
  const origin = await startOrigin(t, (req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers })
    readBody(req).then(body => {
      res.setHeader('content-type', 'application/json')
      if (req.method === 'PUT') {
        res.setHeader('etag', '"2"')
        res.end(body.length > 0 ? body : '{}')
      } else {
        res.end(JSON.stringify({ id: 7, name: 'Ada' }))
      }
    }).catch(() => res.destroy())
  })
  const gw = await startGateway(t, `
auth:
  apiKeys:
    clients:
      keys: [{ name: acme, key: ${ACME} }, { name: globex, key: ${GLOBEX} }]
      forwardClaims: { sub: x-client }
services:
  users: { urls: [${origin.url}] }
routes:
  - get: /api/users/:id/profile
    compose: { user: { service: users, path: "/users/{params.id}" } }
    auth: clients
    rateLimit: { max: 2, window: 1m, key: apiKey }
  - put: /api/users/:id
    write: { owner: { service: users, path: "/users/{params.id}", version: { etag: true } } }
    auth: clients
    rateLimit: { max: 1, window: 1m, key: sub }
`)
  const call = async (method: string, path: string, headers: Record<string, string> = {}, body?: unknown): Promise<Answer> => {
    const res = await request(`${gw.url}${path}`, {
      method: method as 'GET',
      headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
      body: body === undefined ? undefined : JSON.stringify(body)
    })
    const text = await res.body.text()
    return { status: res.statusCode, body: text === '' ? undefined : JSON.parse(text), headers: res.headers }
  }
  return { call, seen }
}

t.test('compose: parts receive the verified claims, not the client\'s; the limit counts per key', async t => {
  const { call, seen } = await setup(t)
  t.equal((await call('GET', '/api/users/7/profile')).status, 401)
  t.equal(seen.length, 0)
  const first = await call('GET', '/api/users/7/profile', { 'x-api-key': ACME, 'x-client': 'root' })
  t.equal(first.status, 200)
  t.same(first.body, { user: { id: 7, name: 'Ada' } })
  t.equal(seen.at(-1)?.headers['x-client'], 'acme', 'a claim header reaches a part without being listed in forwardHeaders')
  t.equal(seen.at(-1)?.headers['x-api-key'], undefined)
  t.equal(first.headers['ratelimit-remaining'], '1')
  const head = await call('HEAD', '/api/users/7/profile', { 'x-api-key': ACME })
  t.equal(head.status, 200, 'HEAD is the same route and the same bucket')
  const third = await call('GET', '/api/users/7/profile', { 'x-api-key': ACME })
  t.equal(third.status, 429)
  t.match(third.body, { code: 'JUNCTION_RATE_LIMITED', limit: 2 })
  t.equal((await call('GET', '/api/users/7/profile', { 'x-api-key': GLOBEX })).status, 200, 'another key has its own bucket')
})

t.test('write: the owner receives the verified claims; the limit counts per subject', async t => {
  const { call, seen } = await setup(t)
  t.equal((await call('PUT', '/api/users/7', {}, { name: 'Ada' })).status, 401)
  t.equal(seen.length, 0)
  const put = await call('PUT', '/api/users/7', { 'x-api-key': GLOBEX, 'x-client': 'root' }, { name: 'Ada' })
  t.equal(put.status, 200)
  const owner = seen.find(r => r.method === 'PUT')
  t.equal(owner?.headers['x-client'], 'globex')
  t.equal(owner?.headers['x-api-key'], undefined)
  const again = await call('PUT', '/api/users/7', { 'x-api-key': GLOBEX }, { name: 'Ada' })
  t.equal(again.status, 429)
  t.ok(Number(again.headers['retry-after']) >= 1 && Number(again.headers['retry-after']) <= 60, 'Retry-After: the seconds left of the 1-minute window')
  t.equal((await call('PUT', '/api/users/7', { 'x-api-key': ACME }, { name: 'Ada' })).status, 200)
})
