import t, { type Test } from 'tap'
import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http'
import { request } from 'undici'
import { startOrigin } from './support/origin.js'
import { startGateway } from './support/gateway.js'

async function setup (t: Test, trustProxy = false): Promise<{ url: string, seen: () => IncomingHttpHeaders }> {
  let last: IncomingHttpHeaders = {}
  const origin = await startOrigin(t, (req, res) => {
    last = req.headers
    res.setHeader('connection', 'keep-alive, x-hop')
    res.setHeader('x-hop', 'must not reach the client')
    res.setHeader('keep-alive', 'timeout=5')
    res.setHeader('x-end', 'kept')
    res.end('ok')
  })
  const gw = await startGateway(t, `
server: { trustProxy: ${trustProxy} }
services:
  users: { urls: [${origin.url}] }
routes:
  - { proxy: /api, service: users }
`)
  return { url: gw.url, seen: () => last }
}

t.test('hop-by-hop headers are stripped in both directions', async t => {
  const { url, seen } = await setup(t)
  // node:http as the client: undici refuses to send a Connection header listing names.
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    http.get(`${url}/api/x`, {
      headers: { connection: 'keep-alive, x-secret-hop', 'x-secret-hop': 'no', 'proxy-authorization': 'Basic abc', te: 'trailers', 'x-end': 'yes' },
      agent: false
    }, resolve).on('error', reject)
  })
  t.equal(res.statusCode, 200)
  res.resume()
  const h = seen()
  t.equal(h['x-secret-hop'], undefined, 'a header named in Connection is not forwarded')
  t.equal(h['proxy-authorization'], undefined)
  t.equal(h.te, undefined)
  t.equal(h['x-end'], 'yes', 'end-to-end headers pass')
  t.equal(res.headers['x-hop'], undefined, 'the upstream\'s Connection-listed header does not reach the client')
  t.equal(res.headers['x-end'], 'kept')
})

t.test('X-Forwarded-* are set by the gateway, and client values are not believed by default', async t => {
  const { url, seen } = await setup(t)
  const res = await request(`${url}/api/x`, {
    headers: { 'x-forwarded-for': '6.6.6.6', 'x-forwarded-host': 'evil.example', forwarded: 'for=6.6.6.6', host: 'api.example.com' }
  })
  await res.body.dump()
  const h = seen()
  t.equal(h['x-forwarded-for'], '127.0.0.1')
  t.equal(h['x-forwarded-proto'], 'http')
  t.equal(h['x-forwarded-host'], 'api.example.com')
  t.equal(h.forwarded, undefined)
  t.not(h.host, 'api.example.com', 'the upstream sees its own Host')
})

t.test('behind a trusted proxy the chain is extended', async t => {
  const { url, seen } = await setup(t, true)
  const res = await request(`${url}/api/x`, { headers: { 'x-forwarded-for': '203.0.113.9', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'api.example.com' } })
  await res.body.dump()
  const h = seen()
  t.equal(h['x-forwarded-for'], '203.0.113.9, 127.0.0.1')
  t.equal(h['x-forwarded-proto'], 'https')
  t.equal(h['x-forwarded-host'], 'api.example.com')
})

t.test('x-request-id is generated, or propagated when sane, and returned', async t => {
  const { url, seen } = await setup(t)
  const generated = await request(`${url}/api/x`)
  await generated.body.dump()
  const id = generated.headers['x-request-id']
  t.match(id, /^[0-9a-f-]{36}$/, 'a UUID is generated')
  t.equal(seen()['x-request-id'], id, 'the upstream sees the same id')

  const given = await request(`${url}/api/x`, { headers: { 'x-request-id': 'abc-123' } })
  await given.body.dump()
  t.equal(given.headers['x-request-id'], 'abc-123')
  t.equal(seen()['x-request-id'], 'abc-123')

  const hostile = await request(`${url}/api/x`, { headers: { 'x-request-id': 'a b\tc' + 'x'.repeat(200) } })
  await hostile.body.dump()
  t.match(hostile.headers['x-request-id'], /^[0-9a-f-]{36}$/, 'an unsafe id is replaced')

  const missing = await request(`${url}/nothing-here`, { headers: { 'x-request-id': 'err-1' } })
  t.equal(missing.headers['x-request-id'], 'err-1', 'error answers carry the id too')
  t.match(await missing.body.json(), { requestId: 'err-1' })
})

t.test('W3C trace context: the client\'s trace continues under Junction\'s span (docs/observability.md)', async t => {
  const { url, seen } = await setup(t)
  const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
  const res = await request(`${url}/api/x`, { headers: { traceparent, tracestate: 'congo=t61rcWkgMzE' } })
  await res.body.dump()
  t.match(seen().traceparent, /^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/, 'same trace, sampled')
  t.not(seen().traceparent, traceparent, 'a span id of Junction\'s as the parent')
  t.equal(seen().tracestate, 'congo=t61rcWkgMzE')
})
