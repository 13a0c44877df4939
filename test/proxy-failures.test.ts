import { Readable } from 'node:stream'
import t from 'tap'
import { errors as undiciErrors, request } from 'undici'
import { freePort, startOrigin } from './support/origin.js'
import { startGateway } from './support/gateway.js'
import { upstreamError } from '../src/upstream/error-map.js'
import type { ServiceConfig } from '../src/config/types.js'
import { RETRY_DEFAULTS } from '../src/config/resilience-block.js'

interface Problem { status: number, code: string, service: string, detail: string, title: string }

async function problem (res: Awaited<ReturnType<typeof request>>): Promise<Problem> {
  const ct = res.headers['content-type']
  if (typeof ct !== 'string' || !ct.startsWith('application/problem+json')) throw new Error(`not a problem: ${String(ct)}`)
  return await res.body.json() as Problem
}

t.test('a refused connection is a 502 naming the service, never its URL', async t => {
  const port = await freePort()
  const gw = await startGateway(t, `
services:
  users: { urls: [http://127.0.0.1:${port}] }
routes:
  - { proxy: /api/users, service: users }
`)
  const res = await request(`${gw.url}/api/users/1`)
  t.equal(res.statusCode, 502)
  const body = await problem(res)
  t.match(body, { status: 502, code: 'JUNCTION_UPSTREAM_UNAVAILABLE', service: 'users', title: 'Bad Gateway' })
  t.notMatch(JSON.stringify(body), String(port), 'the internal address is not disclosed')
})

t.test('an upstream slower than the service timeout is a 504', async t => {
  const origin = await startOrigin(t, (_req, res) => {
    const timer = setTimeout(() => res.end('late'), 2_000)
    res.on('close', () => clearTimeout(timer))
  })
  const gw = await startGateway(t, `
services:
  slow: { urls: [${origin.url}], timeout: 150ms }
routes:
  - { proxy: /slow, service: slow }
`)
  const res = await request(`${gw.url}/slow`)
  t.equal(res.statusCode, 504)
  t.match(await problem(res), { status: 504, code: 'JUNCTION_UPSTREAM_TIMEOUT', service: 'slow', detail: 'Service "slow" did not answer within 150 ms.' })
})

t.test('an upstream that resets the connection is a 502', async t => {
  const origin = await startOrigin(t, (req) => { req.socket.destroy() })
  const gw = await startGateway(t, `
services:
  flaky: { urls: [${origin.url}] }
routes:
  - { proxy: /flaky, service: flaky }
`)
  const res = await request(`${gw.url}/flaky`)
  t.equal(res.statusCode, 502)
  t.match(await problem(res), { code: 'JUNCTION_UPSTREAM_RESET', service: 'flaky' })
})

t.test('a connect timeout maps to a 504 naming the service', async t => {
  const service: ServiceConfig = { name: 'users', urls: ['http://127.0.0.1:1'], timeoutMs: 1000, connectTimeoutMs: 250, connections: 1, keepAliveTimeoutMs: 1000, retry: RETRY_DEFAULTS, circuitBreaker: undefined, health: undefined }
  const err = upstreamError(service, new undiciErrors.ConnectTimeoutError())
  t.equal(err.statusCode, 504)
  t.equal(err.code, 'JUNCTION_UPSTREAM_CONNECT_TIMEOUT')
  t.equal(err.message, 'Service "users" did not accept a connection within 250 ms.')
  t.type(err.cause, undiciErrors.ConnectTimeoutError, 'the original error is kept as cause')
})

t.test('a body over the route limit is a 413, declared or streamed', async t => {
  let reached = 0
  const origin = await startOrigin(t, (req, res) => {
    reached++
    req.resume()
    req.on('end', () => res.end('ok'))
  })
  const gw = await startGateway(t, `
server: { bodyLimit: 1kb }
services:
  users: { urls: [${origin.url}] }
routes:
  - { proxy: /small, service: users }
  - { proxy: /big, service: users, bodyLimit: 64kb }
`)
  const declared = await request(`${gw.url}/small`, { method: 'POST', body: Buffer.alloc(2048) })
  t.equal(declared.statusCode, 413)
  t.match(await problem(declared), { code: 'JUNCTION_BODY_TOO_LARGE', status: 413, limit: 1024 })
  t.equal(reached, 0, 'a declared oversize body never reaches the service')

  async function * chunks (): AsyncGenerator<Buffer> {
    for (let i = 0; i < 4; i++) yield Buffer.alloc(512)
  }
  const streamed = await request(`${gw.url}/small`, { method: 'POST', body: Readable.from(chunks()) })
  t.equal(streamed.statusCode, 413, 'a chunked body is cut off when it crosses the limit')
  t.match(await problem(streamed), { code: 'JUNCTION_BODY_TOO_LARGE' })

  const raised = await request(`${gw.url}/big`, { method: 'POST', body: Buffer.alloc(32 * 1024) })
  t.equal(raised.statusCode, 200, 'a route can raise the server limit')
  t.equal(await raised.body.text(), 'ok')
})

t.test('a client that goes away cancels the upstream call', async t => {
  let arrived: () => void = () => {}
  const reached = new Promise<void>(resolve => { arrived = resolve })
  let closed: () => void = () => {}
  const upstreamClosed = new Promise<void>(resolve => { closed = resolve })
  const origin = await startOrigin(t, (req, res) => {
    arrived()
    res.on('close', () => closed())
    // Never answers on its own.
  })
  const gw = await startGateway(t, `
services:
  hang: { urls: [${origin.url}], timeout: 30s }
routes:
  - { proxy: /hang, service: hang }
`)
  const controller = new AbortController()
  const pending = request(`${gw.url}/hang`, { signal: controller.signal })
  await reached
  controller.abort()
  await t.rejects(pending)
  await upstreamClosed
  t.pass('the upstream request was closed when the client left')
})

t.test('a status HTTP does not have (999) is a 502, on plain and cached routes, and the gateway lives on', async t => {
  const origin = await startOrigin(t, (_req, res) => {
    res.statusCode = 999
    res.end('what')
  })
  const gw = await startGateway(t, `
services:
  odd: { urls: [${origin.url}] }
routes:
  - { proxy: /plain, service: odd }
  - { proxy: /cached, service: odd, cache: { mode: http } }
`)
  for (const path of ['/plain', '/cached', '/plain']) {
    const res = await request(`${gw.url}${path}`)
    t.equal(res.statusCode, 502, path)
    t.match(await problem(res), { status: 502, code: 'JUNCTION_UPSTREAM_FAILED', service: 'odd' })
  }
})
