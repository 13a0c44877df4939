/**
 * bufferedCall (src/upstream/buffered-call.ts), the bounded whole-answer call of owner
 * calls and deliveries, against a real HTTP server through a real undici Pool: answers,
 * truncation and overflow, timeouts (also while queued for a connection), abandonment,
 * transport errors.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { Pool } from 'undici'
import { AnswerTooLargeError, bufferedCall, CallAbandonedError, CallTimeoutError } from '../src/upstream/buffered-call.js'

type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void

async function origin (t: { teardown: (fn: () => unknown) => void }, handler: Handler): Promise<Pool> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => { handler(req, res, Buffer.concat(chunks).toString()) })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const pool = new Pool(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, { connections: 1 })
  t.teardown(async () => {
    await pool.destroy()
    server.closeAllConnections()
    await new Promise(resolve => server.close(resolve))
  })
  return pool
}

const call = { method: 'PUT', path: '/x', headers: { 'content-type': 'application/json' }, body: '{"a":1}', maxBytes: 1024, overflow: 'fail' } as const

t.test('status, headers and the whole body; the request body and headers arrive', async t => {
  const pool = await origin(t, (req, res, body) => {
    res.writeHead(201, { etag: '"7"', 'retry-after': '3', 'content-type': 'application/json' })
    res.end(JSON.stringify({ got: body, type: req.headers['content-type'], method: req.method }))
  })
  const answer = await bufferedCall(pool, call)
  t.equal(answer.status, 201)
  t.equal(answer.headers.etag, '"7"')
  t.equal(answer.headers['retry-after'], '3')
  t.same(JSON.parse(answer.body.toString()), { got: '{"a":1}', type: 'application/json', method: 'PUT' })
  t.equal(answer.truncated, false)
  const empty = await origin(t, (_req, res) => { res.writeHead(204).end() })
  const none = await bufferedCall(empty, { ...call, method: 'DELETE', body: undefined })
  t.equal(none.status, 204)
  t.equal(none.body.length, 0)
})

t.test('past maxBytes: truncate keeps the excerpt, fail rejects; the pool keeps working', async t => {
  const big = 'x'.repeat(200_000)
  const pool = await origin(t, (req, res) => { res.end(req.url === '/small' ? 'ok' : big) })
  const cut = await bufferedCall(pool, { ...call, maxBytes: 100, overflow: 'truncate' })
  t.equal(cut.status, 200)
  t.equal(cut.body.toString(), big.slice(0, 100))
  t.equal(cut.truncated, true)
  await t.rejects(bufferedCall(pool, { ...call, maxBytes: 100 }), AnswerTooLargeError)
  const exact = await bufferedCall(pool, { ...call, path: '/small', maxBytes: 2 })
  t.equal(exact.body.toString(), 'ok', 'exactly maxBytes is not too large')
  t.equal(exact.truncated, false)
})

t.test('timeout: a hanging answer, and a call still queued for a connection', async t => {
  const held: ServerResponse[] = []
  const pool = await origin(t, (_req, res) => { held.push(res) })
  // The pool has one connection: the first call holds it, the second waits in the queue.
  const first = bufferedCall(pool, { ...call, timeoutMs: 200 })
  const queued = bufferedCall(pool, { ...call, timeoutMs: 100 })
  await t.rejects(queued, CallTimeoutError, 'the queued call gives up without ever getting a connection')
  await t.rejects(first, CallTimeoutError)
  for (const res of held) res.destroy()
})

t.test('a signal abandons the call; an aborted one is not sent', async t => {
  let seen = 0
  const pool = await origin(t, () => { seen++ })
  const closing = new AbortController()
  const pending = bufferedCall(pool, { ...call, signal: closing.signal, timeoutMs: 10_000 })
  await new Promise(resolve => setTimeout(resolve, 50))
  closing.abort()
  await t.rejects(pending, CallAbandonedError)
  await t.rejects(bufferedCall(pool, { ...call, signal: closing.signal }), CallAbandonedError)
  t.equal(seen, 1, 'the second call never reached the server')
})

t.test('transport errors are undici\'s, for upstreamError to map', async t => {
  const server = createServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  await new Promise(resolve => server.close(resolve))
  const pool = new Pool(`http://127.0.0.1:${port}`)
  t.teardown(() => pool.destroy())
  await t.rejects(bufferedCall(pool, call), { code: 'ECONNREFUSED' })
  const reset = await origin(t, (req) => { req.socket.destroy() })
  await t.rejects(bufferedCall(reset, call), { code: 'UND_ERR_SOCKET' })
})
