/**
 * The listener's limits (server.maxHeaderSize, maxHeaders, headersTimeout, requestTimeout,
 * keepAliveTimeout; docs/hygiene.md) on a real gateway over raw sockets: what the client is
 * answered and what the services never see. The per-case corpus is hostile-requests.test.ts.
 */
import t from 'tap'
import { startGateway } from './support/gateway.js'
import { startHostileOrigins } from './support/hostile-origins.js'
import { rawHttp, rawRequest } from './support/raw-http.js'
import { startRecordingOrigin } from './support/recording-origin.js'

t.test('the defaults reach node\'s server', async t => {
  const services = await startHostileOrigins(t)
  const gw = await startGateway(t, services.config())
  const server = gw.app.server
  t.equal(server.headersTimeout, 10_000)
  t.equal(server.requestTimeout, 60_000)
  t.equal(server.keepAliveTimeout, 72_000)
  t.equal(server.maxHeadersCount, 100)
  t.equal((server as unknown as { maxHeaderSize?: number }).maxHeaderSize, 16 * 1024)
})

t.test('maxHeaders: exactly the limit passes, one more is 431', async t => {
  const services = await startHostileOrigins(t)
  const gw = await startGateway(t, services.config('server: { maxHeaders: 10 }'))
  const port = Number(new URL(gw.url).port)
  // Host and Connection count too.
  const fields = (n: number): Array<[string, string]> => Array.from({ length: n - 2 }, (_, i) => [`X-F${i}`, 'v'])
  t.equal((await rawRequest(port, rawHttp('GET', '/api/users/1', fields(10)))).status, 200)
  const refused = await rawRequest(port, rawHttp('GET', '/api/users/1', fields(11)))
  t.equal(refused.status, 431)
  t.match(JSON.parse(refused.body), { code: 'JUNCTION_HEADERS_TOO_LARGE', detail: 'The request has more than 10 header fields (server.maxHeaders).' })
  t.equal(services.origins.users.received.length, 1, 'only the first reached the service')
})

t.test('maxHeaderSize: a head over the limit gets 431 problem+json', async t => {
  const services = await startHostileOrigins(t)
  const gw = await startGateway(t, services.config('server: { maxHeaderSize: 2kb }'))
  const port = Number(new URL(gw.url).port)
  t.equal((await rawRequest(port, rawHttp('GET', '/api/users/1', [['X-Pad', 'p'.repeat(1500)]]))).status, 200)
  const refused = await rawRequest(port, rawHttp('GET', '/api/users/1', [['X-Pad', 'p'.repeat(2100)]]))
  t.equal(refused.status, 431)
  t.equal(refused.headers['content-type'], 'application/problem+json')
  t.match(JSON.parse(refused.body), { code: 'JUNCTION_HEADERS_TOO_LARGE', detail: 'The request line and headers exceed 2048 bytes (server.maxHeaderSize).' })
  t.ok(refused.closedByServer, 'the connection is closed')
  t.equal(services.origins.users.received.length, 1)
})

t.test('slowloris: a head that trickles in is cut at headersTimeout with 408', async t => {
  const services = await startHostileOrigins(t)
  const gw = await startGateway(t, services.config('server: { headersTimeout: 300ms, requestTimeout: 1s }'))
  const port = Number(new URL(gw.url).port)
  const text = 'GET /api/users/1 HTTP/1.1\r\nHost: gateway.test\r\n' + 'X-Slow: 1\r\n'.repeat(40) + '\r\n'
  const pieces = (text.match(/[\s\S]{1,8}/g) ?? []).map(piece => Buffer.from(piece))
  const res = await rawRequest(port, Buffer.alloc(0), { pieces, pauseMs: 50, timeoutMs: 8000 })
  t.equal(res.status, 408)
  t.match(JSON.parse(res.body), { code: 'JUNCTION_REQUEST_TIMEOUT', detail: 'The request did not arrive in time: its headers must arrive within 300 ms and all of it within 1000 ms.' })
  t.ok(res.closedByServer, 'the server closed the connection, not the client giving up')
  t.equal(services.origins.users.received.length, 0)
})

t.test('a body that trickles in through the proxy is cut at requestTimeout; the service never gets it whole', async t => {
  const services = await startHostileOrigins(t)
  const gw = await startGateway(t, services.config('server: { headersTimeout: 300ms, requestTimeout: 600ms }'))
  const port = Number(new URL(gw.url).port)
  const pieces = [rawHttp('POST', '/api/users/1', [['Content-Type', 'text/plain'], ['Content-Length', '100']]), ...Array.from({ length: 50 }, () => Buffer.from('xx'))]
  const res = await rawRequest(port, Buffer.alloc(0), { pieces, pauseMs: 50, timeoutMs: 8000 })
  t.equal(res.status, 408)
  t.match(JSON.parse(res.body), { code: 'JUNCTION_REQUEST_TIMEOUT' })
  t.ok(services.origins.users.received.every(r => !r.complete), 'the service saw at most an aborted request')
})

t.test('an idle keep-alive connection is closed after keepAliveTimeout', async t => {
  const services = await startHostileOrigins(t)
  const gw = await startGateway(t, services.config('server: { keepAliveTimeout: 200ms }'))
  const port = Number(new URL(gw.url).port)
  const res = await rawRequest(port, rawHttp('GET', '/api/users/1', [['Connection', 'keep-alive']]), { timeoutMs: 5000 })
  t.equal(res.status, 200)
  t.ok(res.closedByServer, 'the gateway closed the idle connection before the client gave up')
})

t.test('a malformed request pipelined behind one being answered closes the connection without a misplaced answer', async t => {
  const origin = await startRecordingOrigin(t, (req, res) => { setTimeout(() => res.end('first'), 300) })
  const gw = await startGateway(t, `
services:
  users: { urls: [${origin.url}] }
routes:
  - { proxy: /api/users, service: users, rewrite: /users }
`)
  const port = Number(new URL(gw.url).port)
  const bytes = Buffer.concat([rawHttp('GET', '/api/users/1', [['Connection', 'keep-alive']]), Buffer.from('POST /api/users/2 HTTP/1.1\r\nHost: gateway.test\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n')])
  const res = await rawRequest(port, bytes, { timeoutMs: 5000 })
  t.ok(res.closedByServer)
  t.notMatch(res.raw, /^HTTP\/1\.1 400/, 'the 400 of the second request is not sent as the answer to the first')
  // The parser refuses the second request in the same read as the first: the connection (and
  // the first request with it) is dropped before the first upstream call even starts.
  t.notOk(origin.received.some(r => r.url === '/users/2'), 'the smuggling attempt reached no service')
  t.ok(origin.received.every(r => r.url === '/users/1'))
})
