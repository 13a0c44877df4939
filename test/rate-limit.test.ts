/**
 * Rate limiting in process memory (embedded store), through a real gateway and origin:
 * the 429 and its headers, one bucket per configured route and client key, the key kinds
 * (address with and without trustProxy, subject, API key), the top-level default and
 * `rateLimit: false`, failed authentication counted by address, and a window's end.
 */
import t, { type Test } from 'tap'
import { request } from 'undici'
import { startOrigin } from './support/origin.js'
import { startGateway } from './support/gateway.js'
import { now, signJwt } from './support/jwt.js'

const SECRET = 'a-test-secret-that-is-long-enough-for-hs256'
const KEY = 'acme-key-0123456789abcdef'

interface Answer { status: number, body: any, headers: Record<string, string | string[] | undefined> }

async function setup (t: Test, routes: string, opts: { trustProxy?: boolean, top?: string } = {}): Promise<{ call: (method: string, path: string, headers?: Record<string, string>) => Promise<Answer>, served: () => number }> {
  let served = 0
  const origin = await startOrigin(t, (_req, res) => {
    served++
    res.end('ok')
  })
  const gw = await startGateway(t, `
server: { trustProxy: ${opts.trustProxy === true} }
${opts.top ?? ''}
auth:
  default: public
  jwt:
    staff: { secret: "${SECRET}" }
  apiKeys:
    clients: { keys: [{ name: acme, key: ${KEY} }] }
services:
  s: { urls: [${origin.url}] }
routes:
${routes}`)
  const call = async (method: string, path: string, headers: Record<string, string> = {}): Promise<Answer> => {
    const res = await request(`${gw.url}${path}`, { method: method as 'GET', headers })
    const text = await res.body.text()
    return { status: res.statusCode, body: text.startsWith('{') ? JSON.parse(text) : text, headers: res.headers }
  }
  return { call, served: () => served }
}

const bearer = (sub: string): Record<string, string> => ({ authorization: `Bearer ${signJwt({ sub, exp: now() + 60, jti: Math.random().toString(36) }, { alg: 'HS256', key: SECRET })}` })

t.test('over the limit: 429 problem+json with Retry-After and RateLimit headers, and the service is spared', async t => {
  const { call, served } = await setup(t, '  - { proxy: /a, service: s, rateLimit: { max: 3, window: 1m } }\n')
  const remaining: unknown[] = []
  for (let i = 0; i < 3; i++) {
    const res = await call('GET', '/a')
    t.equal(res.status, 200)
    t.equal(res.headers['ratelimit-limit'], '3')
    t.ok(Number(res.headers['ratelimit-reset']) > 0 && Number(res.headers['ratelimit-reset']) <= 60)
    remaining.push(res.headers['ratelimit-remaining'])
  }
  t.same(remaining, ['2', '1', '0'])
  const limited = await call('GET', '/a')
  t.equal(limited.status, 429)
  t.match(limited.headers['content-type'], /^application\/problem\+json/)
  t.match(limited.body, { status: 429, code: 'JUNCTION_RATE_LIMITED', limit: 3, detail: /^More than 3 requests in 1 minute on this route; retry in \d+ s\.$/ })
  const retryAfter = Number(limited.headers['retry-after'])
  t.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After ${retryAfter}`)
  t.equal(limited.body.retryAfter, retryAfter)
  t.equal(limited.headers['ratelimit-remaining'], '0')
  t.equal(served(), 3)
})

t.test('one bucket per configured route: its methods and paths share it, other routes do not', async t => {
  const { call } = await setup(t, [
    '  - { proxy: /a, service: s, rateLimit: { max: 3, window: 1m } }',
    '  - { proxy: /b, service: s, rateLimit: { max: 3, window: 1m } }',
    ''
  ].join('\n'))
  t.equal((await call('GET', '/a')).status, 200)
  t.equal((await call('POST', '/a/x')).status, 200)
  t.equal((await call('DELETE', '/a/y/z')).status, 200)
  t.equal((await call('GET', '/a/other')).status, 429)
  t.equal((await call('GET', '/b')).status, 200, '/b counts on its own')
})

t.test('key: ip follows server.trustProxy', async t => {
  const trusted = await setup(t, '  - { proxy: /a, service: s, rateLimit: { max: 1, window: 1m } }\n', { trustProxy: true })
  t.equal((await trusted.call('GET', '/a', { 'x-forwarded-for': '10.0.0.1' })).status, 200)
  t.equal((await trusted.call('GET', '/a', { 'x-forwarded-for': '10.0.0.1' })).status, 429)
  t.equal((await trusted.call('GET', '/a', { 'x-forwarded-for': '10.0.0.2' })).status, 200, 'behind a trusted proxy, clients are told apart by X-Forwarded-For')
  const direct = await setup(t, '  - { proxy: /a, service: s, rateLimit: { max: 1, window: 1m } }\n')
  t.equal((await direct.call('GET', '/a', { 'x-forwarded-for': '10.0.0.1' })).status, 200)
  t.equal((await direct.call('GET', '/a', { 'x-forwarded-for': '10.0.0.2' })).status, 429, 'without trustProxy a forged X-Forwarded-For does not buy a new bucket')
})

t.test('key: sub gives each subject its own bucket, whatever token it sends', async t => {
  const { call } = await setup(t, '  - { proxy: /a, service: s, auth: staff, rateLimit: { max: 2, window: 1m, key: sub } }\n')
  t.equal((await call('GET', '/a', bearer('ada'))).status, 200)
  t.equal((await call('GET', '/a', bearer('ada'))).status, 200, 'a second token of the same subject')
  t.equal((await call('GET', '/a', bearer('ada'))).status, 429)
  t.equal((await call('GET', '/a', bearer('grace'))).status, 200, 'another subject is not limited by ada')
  t.equal((await call('GET', '/a', bearer('grace'))).status, 200)
  t.equal((await call('GET', '/a', bearer('grace'))).status, 429)
})

t.test('key: apiKey counts each key', async t => {
  const { call } = await setup(t, '  - { proxy: /a, service: s, auth: clients, rateLimit: { max: 1, window: 1m, key: apiKey } }\n')
  t.equal((await call('GET', '/a', { 'x-api-key': KEY })).status, 200)
  t.equal((await call('GET', '/a', { 'x-api-key': KEY })).status, 429)
})

t.test('key: ip counts refused credentials too (no free guessing)', async t => {
  const { call, served } = await setup(t, '  - { proxy: /a, service: s, auth: clients, rateLimit: { max: 2, window: 1m } }\n')
  t.equal((await call('GET', '/a', { 'x-api-key': 'guess-0000000000000001' })).status, 401)
  t.equal((await call('GET', '/a', { 'x-api-key': 'guess-0000000000000002' })).status, 401)
  t.equal((await call('GET', '/a', { 'x-api-key': KEY })).status, 429, 'the limit comes before authentication')
  t.equal(served(), 0)
})

t.test('a top-level rateLimit is every route\'s default; rateLimit: false turns it off', async t => {
  const { call } = await setup(t, [
    '  - { proxy: /a, service: s }',
    '  - { proxy: /b, service: s, rateLimit: { max: 2, window: 1m } }',
    '  - { proxy: /c, service: s, rateLimit: false }',
    ''
  ].join('\n'), { top: 'rateLimit: { max: 1, window: 1m }' })
  t.equal((await call('GET', '/a')).status, 200)
  t.equal((await call('GET', '/a')).status, 429, 'the default limit')
  t.equal((await call('GET', '/b')).status, 200)
  t.equal((await call('GET', '/b')).status, 200, 'the route\'s own limit wins')
  t.equal((await call('GET', '/b')).status, 429)
  for (let i = 0; i < 5; i++) t.equal((await call('GET', '/c')).status, 200)
  t.equal((await call('GET', '/c')).headers['ratelimit-limit'], undefined, 'no limit, no headers')
})

t.test('a window ends: the client may call again', async t => {
  const { call } = await setup(t, '  - { proxy: /a, service: s, rateLimit: { max: 1, window: 300ms } }\n')
  t.equal((await call('GET', '/a')).status, 200)
  t.equal((await call('GET', '/a')).status, 429)
  let status = 429
  for (let i = 0; i < 100 && status === 429; i++) {
    await new Promise(resolve => setTimeout(resolve, 50))
    status = (await call('GET', '/a')).status
  }
  t.equal(status, 200)
})
