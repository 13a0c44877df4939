/**
 * The cache-hit shortcut (src/cache/hit-shortcut.ts): fresh L1 hits answered before the
 * router. Its answers must be the ones Fastify gives, byte for byte but for Date and Age;
 * it must count in the metrics, the dashboard and the request log as the Fastify path does;
 * and everything it may not answer exactly so must reach Fastify.
 *
 * A request carrying a traceparent is never taken by the shortcut: the same request with one
 * is how a test gets Fastify's answer to compare with.
 */
import t, { type Test } from 'tap'
import { request } from 'undici'
import { startGateway, type TestGateway } from './support/gateway.js'
import { startCacheOrigin, type CacheOrigin } from './support/cache-origin.js'
import { captureLog } from './support/log-capture.js'
import { sample } from './support/metrics-text.js'
import { rawRequest } from './support/raw-http.js'

const TOKEN = 'shortcut-admin-token-0123456789abcdef'
const KEY = 'shortcut-client-key-0123456789abcdef'
const TRACEPARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'

const config = (origin: CacheOrigin): string => `
server: { logLevel: info }
admin: { token: ${TOKEN} }
auth:
  apiKeys:
    clients: { keys: [{ name: acme, key: ${KEY} }] }
services:
  catalog: { urls: ["${origin.url}"], timeout: 2s }
routes:
  - { proxy: /api/products, service: catalog, rewrite: /products, public: true, methods: [GET, HEAD, PUT], cache: { ttl: 1h } }
  - { proxy: /api/only-get, service: catalog, rewrite: /products, public: true, methods: [GET], cache: { ttl: 1h } }
  - { proxy: /api/private, service: catalog, rewrite: /products, auth: clients, cache: { ttl: 1h } }
  - { proxy: /api/by-lang, service: catalog, rewrite: /products, public: true, cache: { ttl: 1h, key: { headers: [accept-language] } } }
`

async function setup (t: Test): Promise<{ gw: TestGateway, origin: CacheOrigin, port: number, lines: Array<Record<string, unknown>>, answered: () => number }> {
  const origin = await startCacheOrigin(t, () => ({ headers: { 'content-type': 'application/json', 'x-origin-header': 'kept' }, body: JSON.stringify({ id: 1 }) }))
  const log = captureLog('info')
  const gw = await startGateway(t, config(origin), { logger: log.logger })
  const shortcut = gw.app.hitShortcut
  if (shortcut === null) throw new Error('the gateway has no shortcut')
  return { gw, origin, port: Number(new URL(gw.url).port), lines: log.lines, answered: () => shortcut.answered }
}

/** One request over a raw socket (Connection: close): the exact bytes of the answer. */
async function raw (port: number, method: string, path: string, headers: Record<string, string> = {}): Promise<string> {
  const lines = [`${method} ${path} HTTP/1.1`, 'Host: gateway.test', 'Connection: close', ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)]
  const res = await rawRequest(port, `${lines.join('\r\n')}\r\n\r\n`)
  return res.raw
}

/** The answer without the fields that differ between two answers a moment apart. */
function comparable (answer: string): string {
  return answer.split('\r\n').filter(line => !/^(date|age): /i.test(line)).join('\r\n')
}

t.test('a hit answered before the router is the answer Fastify gives', async t => {
  const { gw, origin, port, answered } = await setup(t)
  const path = '/api/products/1?x=1'
  t.equal((await request(`${gw.url}${path}`)).headers['x-cache'], 'MISS')
  // The first hit goes through the router, which shows the shortcut where this URL goes.
  t.equal((await request(`${gw.url}${path}`)).headers['x-cache'], 'HIT')
  t.equal(answered(), 0, 'the router answered the miss and the first hit')

  const etag = String((await request(`${gw.url}${path}`)).headers.etag)
  t.equal(answered(), 1, 'the next hit was answered before the router')
  const cases: Array<[string, Record<string, string>]> = [
    ['GET', { 'x-request-id': 'same-id' }],
    ['HEAD', { 'x-request-id': 'same-id' }],
    ['GET', { 'x-request-id': 'same-id', 'if-none-match': etag }],
    ['HEAD', { 'x-request-id': 'same-id', 'if-none-match': etag }],
    ['GET', { 'x-request-id': 'same-id', 'if-none-match': '"other"' }],
    ['GET', { 'accept-encoding': 'gzip' }]
  ]
  for (const [method, headers] of cases) {
    const before = answered()
    const viaShortcut = await raw(port, method, path, headers)
    t.equal(answered(), before + 1, `${method} ${JSON.stringify(headers)}: answered by the shortcut`)
    const viaFastify = await raw(port, method, path, { ...headers, traceparent: TRACEPARENT })
    t.equal(answered(), before + 1, 'and with a traceparent by Fastify')
    const label = `${method} ${JSON.stringify(headers)}`
    if (headers['x-request-id'] === undefined) {
      // Fresh ids on both sides: the same shape, different ids.
      const id = /\r\nx-request-id: ([0-9a-f-]{36})\r\n/
      t.match(viaShortcut, id, `${label}: a new request id`)
      t.equal(comparable(viaShortcut).replace(id, '\r\n'), comparable(viaFastify).replace(id, '\r\n'), `${label}: the same answer`)
    } else {
      t.equal(comparable(viaShortcut), comparable(viaFastify), `${label}: the same answer, byte for byte but Date and Age`)
    }
  }
  t.match(await raw(port, 'GET', path, { 'if-none-match': etag }), /^HTTP\/1\.1 304 /, 'a 304 for a matching If-None-Match')
  t.match(await raw(port, 'HEAD', path), /^HTTP\/1\.1 200 OK\r\n[\s\S]*content-length: \d+\r\n[\s\S]*\r\n\r\n$/, 'HEAD: the length, no body')
  t.equal(origin.count(), 1, 'one call to the service for all of it')
})

t.test('any body\'s bytes and repeated header lines: the answer Fastify gives', async t => {
  // UTF-8 text and every byte value: the shortcut writes its body as a one-byte string.
  const body = Buffer.concat([Buffer.from('{"name":"Zoë ✓ 😀"}'), Buffer.from(Array.from({ length: 256 }, (_, i) => i))])
  const origin = await startCacheOrigin(t, () => ({
    headers: { 'content-type': 'application/octet-stream', link: ['</a>; rel="a"', '</b>; rel="b"'], 'x-request-id': 'origin-id' },
    body
  }))
  const gw = await startGateway(t, config(origin))
  const shortcut = gw.app.hitShortcut
  if (shortcut === null) throw new Error('the gateway has no shortcut')
  const port = Number(new URL(gw.url).port)
  const path = '/api/products/bytes'
  for (let i = 0; i < 2; i++) await (await request(`${gw.url}${path}`)).body.dump()
  for (let i = 0; i < 3; i++) {
    const viaShortcut = await raw(port, 'GET', path)
    t.equal(shortcut.answered, i + 1, 'answered by the shortcut')
    const viaFastify = await raw(port, 'GET', path, { traceparent: TRACEPARENT })
    t.equal(comparable(viaShortcut), comparable(viaFastify), 'the same answer, byte for byte but Date and Age')
    t.same(Buffer.from(viaShortcut.slice(viaShortcut.indexOf('\r\n\r\n') + 4), 'latin1'), body, 'the body\'s bytes unchanged')
    t.match(viaShortcut, /\r\nlink: <\/a>; rel="a", <\/b>; rel="b"\r\n|\r\nlink: <\/a>; rel="a"\r\nlink: <\/b>; rel="b"\r\n/, 'both link lines')
  }
  t.equal(origin.count(), 1)
})

t.test('shortcut answers count in the metrics, the dashboard and the request log', async t => {
  const { gw, port, lines, answered } = await setup(t)
  const path = '/api/products/7'
  await request(`${gw.url}${path}`)
  await request(`${gw.url}${path}`)
  for (let i = 0; i < 5; i++) await raw(port, 'GET', path, { 'x-request-id': `short-${i}` })
  t.equal(answered(), 5)

  const metrics = await (await request(`${gw.url}/metrics`)).body.text()
  t.equal(sample(metrics, 'junction_http_requests_total', { route: '/api/products', method: 'GET', status: '200' }), 7, 'every answer counted under its route')
  t.equal(sample(metrics, 'junction_cache_requests_total', { route: '/api/products', result: 'hit' }), 6, 'and every hit as a hit')
  t.equal(sample(metrics, 'junction_http_request_duration_seconds_count', { route: '/api/products' }), 7, 'with its duration')

  const model = await (await request(`${gw.url}/admin/dashboard`, { headers: { authorization: `Bearer ${TOKEN}` } })).body.json() as { routes: Array<{ cache?: { route: string, hits: number, misses: number } }> }
  t.match(model.routes.find(r => r.cache?.route === '/api/products')?.cache, { hits: 6, misses: 1 }, 'the dashboard counts them')

  const requestLines = lines.filter(l => l.msg === 'request' && l.path === path)
  t.equal(requestLines.length, 7, 'one request line per answer')
  const viaRouter = requestLines[1]!
  const viaShortcut = requestLines.find(l => l.reqId === 'short-0')
  const fields = (line: Record<string, unknown> | undefined): Record<string, unknown> => {
    const { time, ms, reqId, ...rest } = line ?? {}
    return rest
  }
  t.same(fields(viaShortcut), fields(viaRouter), 'the same line as the router\'s hit')
  t.type(viaShortcut?.ms, 'number')
})

t.test('what the shortcut may not answer reaches Fastify', async t => {
  const { gw, origin, port, answered } = await setup(t)
  const warm = async (path: string, headers: Record<string, string> = {}): Promise<void> => {
    for (let i = 0; i < 3; i++) await (await request(`${gw.url}${path}`, { headers })).body.dump()
  }

  await warm('/api/private/1', { 'x-api-key': KEY })
  await warm('/api/by-lang/1', { 'accept-language': 'en' })
  t.equal(answered(), 0, 'a route with authentication or headers in its key: never')
  t.match(await raw(port, 'GET', '/api/private/1'), /^HTTP\/1\.1 401 /, 'a protected route still refuses a caller without a key')

  await warm('/api/products/2')
  const taken = answered()
  t.ok(taken > 0, 'a plain cached route is taken once learned')
  const refused = await rawRequest(port, 'GET /api/products/2 HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\nConnection: close\r\n\r\n')
  t.equal(refused.status, 400, 'two Host headers: the head checks refuse it')
  t.match(refused.headers['content-type'], /^application\/problem\+json/)
  t.match(await raw(port, 'GET', '/api/products/2', { range: 'bytes=0-3' }), /\r\nx-cache: BYPASS\r\n/i, 'a Range request is streamed uncached')
  t.match(await raw(port, 'GET', '/api/products/2', { 'content-length': '0' }), /^HTTP\/1\.1 200 /, 'a request with a body header is answered by the router')
  t.equal(answered(), taken, 'none of those by the shortcut')

  await warm('/api/only-get/3')
  const headOnly = await raw(port, 'HEAD', '/api/only-get/3')
  t.match(headOnly, /^HTTP\/1\.1 405 /, 'HEAD on a GET-only route: 405 from the router, as before')

  // A write through the route invalidates its URI: the next read is a miss, not the shortcut's copy.
  const calls = origin.count()
  const put = await request(`${gw.url}/api/products/2`, { method: 'PUT', body: '{}', headers: { 'content-type': 'application/json' } })
  t.equal(put.statusCode, 200)
  await put.body.dump()
  const after = await request(`${gw.url}/api/products/2`)
  await after.body.dump()
  t.equal(after.headers['x-cache'], 'MISS', 'read after write: a miss')
  t.equal(origin.count(), calls + 2, 'the PUT and the fill reached the service')
})
