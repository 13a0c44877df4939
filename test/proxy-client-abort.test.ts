/**
 * A client that goes away before its answer: the gateway stops the upstream call too
 * (the service sees its request closed), and that is not counted against the service.
 */
import { request as httpRequest } from 'node:http'
import t from 'tap'
import { request } from 'undici'
import { startOrigin } from './support/origin.js'
import { startGateway } from './support/gateway.js'

/** Resolves with `value` once `promise` settles, or with 'timeout' after `ms`. */
async function within<T> (promise: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<'timeout'>(resolve => { timer = setTimeout(() => resolve('timeout'), ms) })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

t.test('a client closing its connection mid-request closes the upstream request, and the circuit stays closed', async t => {
  let arrived: () => void = () => {}
  let closed: () => void = () => {}
  const upstreamArrived = new Promise<void>(resolve => { arrived = resolve })
  const upstreamClosed = new Promise<void>(resolve => { closed = resolve })
  let hang = true
  const origin = await startOrigin(t, (req, res) => {
    if (!hang) { res.end('ok'); return }
    res.on('close', () => { if (!res.writableFinished) closed() })
    arrived()
  })
  const gw = await startGateway(t, `
services:
  slow: { urls: [${origin.url}], timeout: 30s, circuitBreaker: { consecutiveFailures: 1 } }
routes:
  - { proxy: /api, service: slow }
`)

  const client = httpRequest(`${gw.url}/api/wait`)
  client.on('error', () => {}) // destroyed on purpose below
  client.end()
  t.equal(await within(upstreamArrived, 10_000), undefined, 'the service got the request')
  client.destroy()
  t.equal(await within(upstreamClosed, 10_000), undefined, 'the gateway closed the upstream request when the client left')

  // The abort was not the service's failure: with one failure enough to open the circuit,
  // the next request still reaches the service.
  hang = false
  const next = await request(`${gw.url}/api/next`)
  t.equal(next.statusCode, 200)
  t.equal(await next.body.text(), 'ok')
})
