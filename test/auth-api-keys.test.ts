/**
 * API keys, scopes and routes accepting several authenticators, through a real gateway
 * and a real origin: the key is checked, never forwarded, and replaced by the key's claims;
 * a client's own claim headers never reach a service, on protected and public routes alike.
 */
import t, { type Test } from 'tap'
import { request } from 'undici'
import { startOrigin } from './support/origin.js'
import { startGateway } from './support/gateway.js'
import { now, signJwt } from './support/jwt.js'

const ACME = 'acme-key-0123456789abcdef'
const GLOBEX = 'globex-key-0123456789abcdef'
const PARTNER = 'partner-key-0123456789abcdef'
const SECRET = 'a-test-secret-that-is-long-enough-for-hs256'

interface Answer { status: number, body: any, headers: Record<string, string | string[] | undefined> }

async function setup (t: Test): Promise<{ call: (method: string, path: string, headers?: Record<string, string | string[]>) => Promise<Answer>, seen: Array<Record<string, unknown>> }> {
  const seen: Array<Record<string, unknown>> = []
  const origin = await startOrigin(t, (req, res) => {
    seen.push(req.headers)
    res.end('ok')
  })
  const gw = await startGateway(t, `
auth:
  apiKeys:
    clients:
      keys:
        - { name: acme, key: "\${ACME_KEY}", subject: acme-corp, scopes: [orders:read, orders:write], claims: { tenant: t-acme } }
        - { name: globex, key: ${GLOBEX}, scopes: [orders:read] }
      forwardClaims: { sub: x-client, tenant: x-tenant, key: x-key-name }
    partners:
      header: X-Partner-Key
      keys: [{ name: initech, key: ${PARTNER} }]
      forwardClaims: { sub: x-client }
  jwt:
    staff: { secret: "${SECRET}", forwardClaims: { sub: x-client } }
services:
  orders: { urls: [${origin.url}] }
routes:
  - { proxy: /orders, service: orders, auth: clients, methods: [GET] }
  - { proxy: /orders-admin, service: orders, auth: clients, scopes: [orders:write] }
  - { proxy: /partners, service: orders, auth: partners }
  - { proxy: /either, service: orders, auth: [staff, clients] }
  - { proxy: /public, service: orders, public: true }
`, { env: { ACME_KEY: ACME } })
  const call = async (method: string, path: string, headers: Record<string, string | string[]> = {}): Promise<Answer> => {
    const res = await request(`${gw.url}${path}`, { method: method as 'GET', headers })
    const text = await res.body.text()
    return { status: res.statusCode, body: text.startsWith('{') ? JSON.parse(text) : text, headers: res.headers }
  }
  return { call, seen }
}

t.test('a good key passes; the key stays at the gateway and its claims go on', async t => {
  const { call, seen } = await setup(t)
  const res = await call('GET', '/orders/1', { 'x-api-key': ACME, 'x-client': 'root', 'x-tenant': 'evil', 'x-key-name': 'forged' })
  t.equal(res.status, 200)
  const h = seen.at(-1) ?? {}
  t.equal(h['x-api-key'], undefined, 'the key is not forwarded')
  t.equal(h['x-client'], 'acme-corp', 'the key\'s subject')
  t.equal(h['x-tenant'], 't-acme', 'one of the key\'s own claims')
  t.equal(h['x-key-name'], 'acme')
  t.equal((await call('GET', '/orders/1', { 'x-api-key': GLOBEX })).status, 200)
  t.equal(seen.at(-1)?.['x-client'], 'globex', 'the subject defaults to the key\'s name')
  t.equal(seen.at(-1)?.['x-tenant'], undefined, 'a claim the key does not have is not sent')
})

t.test('missing, wrong and repeated keys are 401 problem+json with a challenge', async t => {
  const { call, seen } = await setup(t)
  const missing = await call('GET', '/orders/1')
  t.equal(missing.status, 401)
  t.match(missing.headers['content-type'], /^application\/problem\+json/)
  t.match(missing.body, { code: 'JUNCTION_AUTHENTICATION_REQUIRED', detail: 'This route needs an API key in the x-api-key header.' })
  t.equal(missing.headers['www-authenticate'], 'ApiKey realm="junction", header="x-api-key"')
  for (const key of ['wrong', ACME.slice(0, -1), `${ACME}x`, ACME.toUpperCase(), PARTNER, '']) {
    const res = await call('GET', '/orders/1', { 'x-api-key': key })
    t.equal(res.status, 401, `key ${JSON.stringify(key)}`)
    t.match(res.body, { code: key === '' ? /JUNCTION_(INVALID_API_KEY|AUTHENTICATION_REQUIRED)/ : 'JUNCTION_INVALID_API_KEY' })
  }
  const twice = await call('GET', '/orders/1', { 'x-api-key': [ACME, GLOBEX] })
  t.equal(twice.status, 401, 'two keys in one request are no key')
  t.equal(seen.length, 0)
})

t.test('the header is configurable; the default one is then not a credential', async t => {
  const { call, seen } = await setup(t)
  t.equal((await call('GET', '/partners/x', { 'x-partner-key': PARTNER })).status, 200)
  t.equal(seen.at(-1)?.['x-partner-key'], undefined)
  t.equal(seen.at(-1)?.['x-client'], 'initech')
  const wrongHeader = await call('GET', '/partners/x', { 'x-api-key': PARTNER })
  t.equal(wrongHeader.status, 401)
  t.equal(wrongHeader.headers['www-authenticate'], 'ApiKey realm="junction", header="x-partner-key"')
})

t.test('scopes: a key without the route\'s scope gets 403 with insufficient_scope', async t => {
  const { call } = await setup(t)
  t.equal((await call('GET', '/orders-admin/1', { 'x-api-key': ACME })).status, 200)
  const res = await call('GET', '/orders-admin/1', { 'x-api-key': GLOBEX })
  t.equal(res.status, 403)
  t.match(res.body, { code: 'JUNCTION_INSUFFICIENT_SCOPE', missingScopes: ['orders:write'] })
  t.match(res.headers['www-authenticate'], /^ApiKey realm="junction", header="x-api-key", error="insufficient_scope", .*scope="orders:write"$/)
})

t.test('authentication comes before the method check: no Allow list for strangers', async t => {
  const { call } = await setup(t)
  t.equal((await call('POST', '/orders/1')).status, 401)
  const allowed = await call('POST', '/orders/1', { 'x-api-key': ACME })
  t.equal(allowed.status, 405)
  t.equal(allowed.headers.allow, 'GET')
})

t.test('a route with two authenticators accepts either, and challenges with both', async t => {
  const { call, seen } = await setup(t)
  const token = signJwt({ sub: 'grace', exp: now() + 60 }, { alg: 'HS256', key: SECRET })
  t.equal((await call('GET', '/either/1', { authorization: `Bearer ${token}` })).status, 200)
  t.equal(seen.at(-1)?.['x-client'], 'grace')
  t.equal((await call('GET', '/either/1', { 'x-api-key': GLOBEX })).status, 200)
  t.equal(seen.at(-1)?.['x-client'], 'globex')
  const none = await call('GET', '/either/1')
  t.equal(none.status, 401)
  t.match(none.body.detail, 'a bearer token (Authorization: Bearer <token>) or an API key in the x-api-key header')
  t.same(none.headers['www-authenticate'], ['Bearer realm="junction"', 'ApiKey realm="junction", header="x-api-key"'])
  const bad = await call('GET', '/either/1', { authorization: 'Bearer nope' })
  t.equal(bad.status, 401)
  t.match(bad.body, { code: 'JUNCTION_INVALID_TOKEN' })
  t.same(bad.headers['www-authenticate'], [
    'Bearer realm="junction", error="invalid_token", error_description="The bearer token was refused: it is not a well-formed JWT."',
    'ApiKey realm="junction", header="x-api-key"'
  ])
})

t.test('public routes: a client\'s claim headers are removed there too', async t => {
  const { call, seen } = await setup(t)
  const res = await call('GET', '/public/x', { 'x-client': 'root', 'x-tenant': 'evil', 'x-key-name': 'acme', 'x-other': 'kept' })
  t.equal(res.status, 200)
  const h = seen.at(-1) ?? {}
  t.equal(h['x-client'], undefined)
  t.equal(h['x-tenant'], undefined)
  t.equal(h['x-key-name'], undefined)
  t.equal(h['x-other'], 'kept')
})
