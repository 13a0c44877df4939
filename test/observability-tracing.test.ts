/**
 * W3C traceparent on every upstream call (docs/observability.md): Junction takes part in
 * the trace (a span id of its own as the parent of its calls), starts a trace when the
 * client sent none or an invalid one, and a delivery carries the write's trace however
 * late it is made: retried after the dependent restarts, or from an entry stored before
 * tracing existed. With `observability.tracing.otlp`, spans reach a real OTLP/HTTP server.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { request } from 'undici'
import { startRecordingOrigin } from './support/recording-origin.js'
import { readBody, startOrigin } from './support/origin.js'
import { startGateway } from './support/gateway.js'
import { eventually } from './support/writes.js'
import { parseTraceParent } from '../src/observability/trace-context.js'
import { captureLog } from './support/log-capture.js'

const CLIENT_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736'
const CLIENT_SPAN = '00f067aa0ba902b7'
const CLIENT_PARENT = `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01`

function traceOf (headers: Record<string, string | string[] | undefined>): { traceId: string, spanId: string, flags: string } {
  const parsed = parseTraceParent(headers.traceparent)
  if (parsed === undefined) throw new Error(`no valid traceparent: ${String(headers.traceparent)}`)
  return parsed
}

t.test('proxy: the client\'s trace continues under a span of Junction\'s; none or invalid starts a new one', async t => {
  const origin = await startRecordingOrigin(t)
  const gw = await startGateway(t, `
services:
  users: { urls: [${origin.url}] }
routes:
  - { proxy: /api/users, service: users }
`)
  const get = async (headers: Record<string, string>): Promise<void> => {
    const res = await request(`${gw.url}/api/users/1`, { headers })
    await res.body.dump()
  }
  await get({ traceparent: CLIENT_PARENT, tracestate: 'vendor=abc' })
  await get({ traceparent: CLIENT_PARENT, tracestate: 'vendor=abc' })
  await get({})
  await get({ traceparent: `00-${'0'.repeat(32)}-${CLIENT_SPAN}-01`, tracestate: 'vendor=abc' })
  await get({ traceparent: 'garbage' })
  const [first, second, none, zero, garbage] = origin.received.map(r => r.headers)
  const a = traceOf(first!)
  t.equal(a.traceId, CLIENT_TRACE, 'same trace')
  t.not(a.spanId, CLIENT_SPAN, 'the parent is Junction\'s span, not the client\'s')
  t.equal(a.flags, '01', 'sampled flag kept')
  t.equal(first!.tracestate, 'vendor=abc', 'tracestate passed on')
  t.not(traceOf(second!).spanId, a.spanId, 'a span per request')
  for (const [name, headers] of [['none', none], ['all-zero trace id', zero], ['garbage', garbage]] as const) {
    const trace = traceOf(headers!)
    t.not(trace.traceId, CLIENT_TRACE, `${name}: a new trace`)
    t.equal(trace.flags, '01', `${name}: sampled`)
    t.equal(headers!.tracestate, undefined, `${name}: no tracestate without a valid traceparent`)
  }
})

t.test('a request that calls no service makes no trace ids unless the client sent a traceparent; the log line says which trace', async t => {
  const origin = await startRecordingOrigin(t, (_req, res) => {
    res.setHeader('cache-control', 'max-age=60')
    res.end('ok')
  })
  const { lines, logger } = captureLog()
  const gw = await startGateway(t, `
services:
  users: { urls: [${origin.url}] }
routes:
  - { proxy: /api/users, service: users, cache: { ttl: 60s } }
`, { logger })
  const get = async (id: string, headers: Record<string, string> = {}): Promise<string | undefined> => {
    const res = await request(`${gw.url}/api/users/1`, { headers: { 'x-request-id': id, ...headers } })
    await res.body.dump()
    return res.headers['x-cache'] as string | undefined
  }
  t.equal(await get('miss'), 'MISS')
  t.equal(await get('hit'), 'HIT')
  t.equal(await get('hit-traced', { traceparent: CLIENT_PARENT }), 'HIT')
  const missing = await request(`${gw.url}/nope`, { headers: { 'x-request-id': 'not-found' } })
  await missing.body.dump()
  await eventually(async () => lines.filter(l => l.msg === 'request').length === 4)
  const line = (reqId: string): Record<string, unknown> | undefined => lines.find(l => l.msg === 'request' && l.reqId === reqId)

  const fill = traceOf(origin.received[0]!.headers)
  t.equal(origin.received.length, 1, 'one fill, the rest hits')
  t.equal(line('miss')?.traceId, fill.traceId, 'the fill\'s trace: the one its upstream call carried')
  t.equal(line('hit')?.traceId, undefined, 'a hit without a traceparent has no trace')
  t.equal(line('not-found')?.traceId, undefined, 'nor has a 404')
  t.equal(line('hit-traced')?.traceId, CLIENT_TRACE, 'a hit with a traceparent logs the client\'s trace')
})

t.test('compose parts and a write\'s owner call and deliveries carry the request\'s trace', async t => {
  const users = await startRecordingOrigin(t, (req, res) => {
    res.setHeader('content-type', 'application/json')
    if (req.method === 'PUT') res.setHeader('etag', '"2"')
    res.end(JSON.stringify({ id: '1', version: 2, name: 'Ada' }))
  })
  const copies = await startRecordingOrigin(t, (_req, res) => { res.statusCode = 204; res.end() })
  const gw = await startGateway(t, `
outbox: { attemptTimeout: 1s, pollInterval: 100ms, baseBackoff: 50ms, maxBackoff: 200ms }
services:
  users: { urls: [${users.url}] }
  copies: { urls: [${copies.url}] }
routes:
  - get: /api/profile/:id
    compose:
      user: { service: users, path: "/users/{params.id}" }
      again: { service: users, path: "/users/{user.id}" }
  - put: /api/users/:id
    write:
      owner: { service: users, path: "/users/{params.id}", version: { etag: true } }
      propagate:
        - { service: copies, path: "/customers/{params.id}" }
`)
  const composed = await request(`${gw.url}/api/profile/1`, { headers: { traceparent: CLIENT_PARENT } })
  await composed.body.dump()
  t.equal(composed.statusCode, 200)
  const parts = users.received.map(r => traceOf(r.headers))
  t.equal(parts.length, 2)
  t.ok(parts.every(p => p.traceId === CLIENT_TRACE && p.spanId !== CLIENT_SPAN), 'both parts in the client\'s trace, under Junction\'s span')
  t.equal(parts[0]!.spanId, parts[1]!.spanId, 'one request, one span of Junction\'s')

  users.reset()
  const put = await request(`${gw.url}/api/users/1`, { method: 'PUT', headers: { traceparent: CLIENT_PARENT, 'content-type': 'application/json' }, body: '{"name":"Ada"}' })
  await put.body.dump()
  t.equal(put.statusCode, 200)
  const owner = traceOf(users.received[0]!.headers)
  t.equal(owner.traceId, CLIENT_TRACE, 'owner call in the trace')
  t.ok(await eventually(async () => copies.received.length === 1, 5000), 'delivered')
  const delivery = traceOf(copies.received[0]!.headers)
  t.equal(delivery.traceId, CLIENT_TRACE, 'the delivery joins the write\'s trace')
  t.not(delivery.spanId, owner.spanId, 'under a span of its own')
})

t.test('a delivery retried after the dependent restarts carries the write\'s trace; an entry stored without one gets a new trace', async t => {
  const received: Array<{ url: string, headers: IncomingMessage['headers'] }> = []
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    received.push({ url: req.url ?? '', headers: req.headers })
    res.statusCode = 204
    res.end()
  }
  // The dependent: up, then down when the write happens, then up again on the same port.
  const first = createServer(handler)
  await new Promise<void>(resolve => first.listen(0, '127.0.0.1', resolve))
  const port = (first.address() as AddressInfo).port
  await new Promise<void>(resolve => first.close(() => resolve()))

  const owner = await startOrigin(t, (req, res) => {
    readBody(req).then(() => {
      res.setHeader('content-type', 'application/json')
      res.setHeader('etag', '"5"')
      res.end(JSON.stringify({ id: '1', version: 5 }))
    }, () => {})
  })
  const { lines, logger } = captureLog()
  const gw = await startGateway(t, `
outbox: { attemptTimeout: 500ms, pollInterval: 50ms, baseBackoff: 100ms, maxBackoff: 200ms, maxAttempts: 100 }
services:
  users: { urls: [${owner.url}] }
  copies: { urls: [http://127.0.0.1:${port}], connectTimeout: 200ms }
routes:
  - put: /api/users/:id
    write:
      owner: { service: users, path: "/users/{params.id}", version: { etag: true } }
      propagate:
        - { service: copies, path: "/customers/{params.id}" }
`, { logger })
  const put = await request(`${gw.url}/api/users/1`, { method: 'PUT', headers: { traceparent: CLIENT_PARENT, 'content-type': 'application/json', 'x-request-id': 'trace-retry-1' }, body: '{}' })
  await put.body.dump()
  t.equal(put.statusCode, 200)
  t.ok(await eventually(async () => lines.some(l => l.msg === 'delivery' && l.outcome === 'retry'), 5000), 'a retry was scheduled')
  t.match(lines.find(l => l.msg === 'delivery' && l.outcome === 'retry'), { reqId: 'trace-retry-1', writeId: String, traceId: CLIENT_TRACE, dependent: 'copies', retryInMs: Number })

  const again = createServer(handler)
  t.teardown(() => new Promise<void>(resolve => { again.closeAllConnections(); again.close(() => resolve()) }))
  await new Promise<void>(resolve => again.listen(port, '127.0.0.1', resolve))
  t.ok(await eventually(async () => received.length >= 1, 10_000), 'delivered after the restart')
  const delivered = traceOf(received[0]!.headers)
  t.equal(delivered.traceId, CLIENT_TRACE, 'the retried delivery carries the write\'s trace')
  t.equal(received[0]!.headers['x-request-id'], 'trace-retry-1')
  t.ok(await eventually(async () => lines.some(l => l.msg === 'delivery' && l.outcome === 'delivered'), 5000))
  t.match(lines.find(l => l.msg === 'delivery' && l.outcome === 'delivered'), { reqId: 'trace-retry-1', traceId: CLIENT_TRACE, attempts: Number })

  // An entry as written before tracing (no traceparent field): delivered in a new trace.
  await gw.app.outbox.enqueue([{ dependent: 'copies', entity: 'users:/users/9', version: 1, writeId: 'old-entry', method: 'PUT', path: '/customers/9', body: '{}', committedAt: Date.now() }])
  t.ok(await eventually(async () => received.some(r => r.url === '/customers/9'), 5000), 'the old entry is delivered')
  const old = traceOf(received.find(r => r.url === '/customers/9')!.headers)
  t.not(old.traceId, CLIENT_TRACE, 'a trace of its own')
})

t.test('with tracing.otlp, request and delivery spans reach a real OTLP/HTTP server', async t => {
  const bodies: Buffer[] = []
  const collector = await startOrigin(t, (req, res) => {
    readBody(req).then(body => {
      if (req.url === '/v1/traces') bodies.push(body)
      res.setHeader('content-type', 'application/json')
      res.end('{}')
    }, () => {})
  })
  const users = await startRecordingOrigin(t, (req, res) => {
    res.setHeader('content-type', 'application/json')
    if (req.method === 'PUT') res.setHeader('etag', '"2"')
    res.end(JSON.stringify({ id: '1', version: 2 }))
  })
  const copies = await startRecordingOrigin(t, (_req, res) => { res.statusCode = 204; res.end() })
  const gw = await startGateway(t, `
observability:
  tracing: { otlp: { url: ${collector.url}/v1/traces, interval: 100ms }, serviceName: junction-test }
outbox: { pollInterval: 100ms }
services:
  users: { urls: [${users.url}] }
  copies: { urls: [${copies.url}] }
routes:
  - { proxy: /api/users, service: users }
  - put: /api/users/:id
    write:
      owner: { service: users, path: "/users/{params.id}", version: { etag: true } }
      propagate:
        - { service: copies, path: "/customers/{params.id}" }
`)
  const res = await request(`${gw.url}/api/users/1`, { headers: { traceparent: CLIENT_PARENT } })
  await res.body.dump()
  const put = await request(`${gw.url}/api/users/1`, { method: 'PUT', headers: { traceparent: CLIENT_PARENT, 'content-type': 'application/json' }, body: '{}' })
  await put.body.dump()
  t.ok(await eventually(async () => copies.received.length === 1, 5000), 'delivered')
  // The exporter's encoding (JSON with hex ids, or protobuf with raw bytes) is its own business: look for either.
  const seen = (needle: string): boolean => bodies.some(b => b.includes(needle) || b.includes(Buffer.from(needle, 'hex')))
  const text = (needle: string): boolean => bodies.some(b => b.includes(needle))
  t.ok(await eventually(async () => seen(CLIENT_TRACE) && text('deliver copies') && text('PUT /api/users/:id'), 10_000), 'spans exported in the client\'s trace')
  t.ok(text('GET /api/users/*'), 'the proxy request\'s span, named by its route')
  t.ok(text('junction-test'), 'service.name')
  // The span id the proxy call carried is a span the collector received.
  const carried = traceOf(users.received[0]!.headers).spanId
  t.ok(seen(carried), 'the upstream call\'s parent is an exported span')
})
