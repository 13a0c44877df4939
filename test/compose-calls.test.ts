/**
 * The life of a part call, observed at real services: the client going away and a required
 * part failing cancel the calls in flight; a part's deadline covers the whole call (waiting
 * for a connection, headers and body); bodies the gateway does not use are drained so the
 * connection stays reusable; a body over maxBodySize fails its part even without a
 * Content-Length. Waits are bounded; nothing is asserted on wall-clock time.
 */
import t from 'tap'
import { request } from 'node:http'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { startOrigin } from './support/origin.js'
import { startGateway } from './support/gateway.js'

interface Teardown { teardown (fn: () => unknown): void }

/** Resolves with `promise`, or rejects after `ms` saying what did not happen. */
async function within<T> (promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms) })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

/** Per path, a promise resolved when `fire(path)` is called (before or after it is asked for). */
function events (): { fire: (path: string) => void, on: (path: string) => Promise<void> } {
  const entries = new Map<string, { promise: Promise<void>, resolve: () => void }>()
  const entry = (path: string): { promise: Promise<void>, resolve: () => void } => {
    let e = entries.get(path)
    if (e === undefined) {
      let fire!: () => void
      const promise = new Promise<void>(resolve => { fire = resolve })
      e = { promise, resolve: fire }
      entries.set(path, e)
    }
    return e
  }
  return { fire: path => entry(path).resolve(), on: async path => await entry(path).promise }
}

/**
 * An origin that holds `/hold...` requests without answering (until released) and reports
 * when the gateway closes one of them unanswered; other paths are answered by `answer`.
 */
async function holdingOrigin (t: Teardown, answer: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => { res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}') }): Promise<{
  url: string
  connections: () => number
  arrived: (path: string) => Promise<void>
  closedEarly: (path: string) => Promise<void>
  release: () => void
}> {
  const held: ServerResponse[] = []
  const arrived = events()
  const closedEarly = events()
  const o = await startOrigin(t, (req, res) => {
    const path = req.url ?? '/'
    arrived.fire(path)
    if (!path.startsWith('/hold')) {
      answer(req, res)
      return
    }
    held.push(res)
    res.on('close', () => { if (!res.writableEnded) closedEarly.fire(path) })
  })
  const release = (): void => {
    for (const res of held.splice(0)) {
      if (!res.destroyed) res.writeHead(200, { 'content-type': 'application/json' }).end('{"held":true}')
    }
  }
  t.teardown(release)
  return { url: o.url, connections: o.connections, arrived: arrived.on, closedEarly: closedEarly.on, release }
}

t.test('the client going away cancels the part calls in flight', async t => {
  const o = await holdingOrigin(t)
  const gw = await startGateway(t, `
services:
  s: { urls: ["${o.url}"], timeout: 10s }
routes:
  - get: /p
    compose:
      quick: { service: s, path: /quick }
      held: { service: s, path: /hold }
`)
  const client = request(`${gw.url}/p`)
  client.on('error', () => {})
  client.end()
  await within(o.arrived('/hold'), 5000, 'the held part was called')
  client.destroy()
  await within(o.closedEarly('/hold'), 5000, 'the gateway closed the held call')
  t.pass('the call was closed long before its 10 s deadline')
})

t.test('a required part failing cancels the other calls in flight', async t => {
  const o = await holdingOrigin(t, (_req, res) => { res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":"down"}') })
  const gw = await startGateway(t, `
services:
  s: { urls: ["${o.url}"], timeout: 10s }
routes:
  - get: /p
    compose:
      held: { service: s, path: /hold, optional: true }
      broken: { service: s, path: /broken }
`)
  const res = await within(fetch(`${gw.url}/p`), 5000, 'the 502')
  t.equal(res.status, 502)
  t.match(await res.json(), { part: 'broken', reason: 'the service answered 503' })
  await within(o.closedEarly('/hold'), 5000, 'the gateway closed the held call')
  t.pass('the held call was cancelled once the answer was decided')
})

t.test('a call waiting for a free connection still fails at its own deadline', async t => {
  const o = await holdingOrigin(t)
  const gw = await startGateway(t, `
services:
  s: { urls: ["${o.url}"], connections: 1, timeout: 10s }
routes:
  - get: /p
    compose:
      held: { service: s, path: /hold, optional: true }
      queued: { service: s, path: /queued, timeout: 200ms }
`)
  // `held` takes the only connection; `queued` waits behind it and is never sent.
  const res = await within(fetch(`${gw.url}/p`), 5000, 'the answer while the held call still holds the connection')
  t.equal(res.status, 504)
  t.match(await res.json(), { code: 'JUNCTION_COMPOSE_PART_TIMEOUT', part: 'queued', detail: 'Part "queued" (service "s") did not answer within 200 ms.' })
})

t.test('the deadline covers the body: a body trickling in slower than the timeout fails the part', async t => {
  const o = await startOrigin(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' })
    res.write('{"items":[0')
    // A chunk every 50 ms: undici's between-chunks timeout never fires, the part's deadline does.
    let sent = 0
    const timer = setInterval(() => {
      if (res.destroyed || ++sent > 200) {
        clearInterval(timer)
        res.end(']}')
        return
      }
      res.write(',0')
    }, 50)
    res.on('close', () => clearInterval(timer))
  })
  const gw = await startGateway(t, `
services:
  s: { urls: ["${o.url}"], timeout: 10s }
routes:
  - get: /p
    compose:
      slow: { service: s, path: /slow, timeout: 300ms }
`)
  const res = await within(fetch(`${gw.url}/p`), 5000, 'the 504')
  t.equal(res.status, 504)
  t.match(await res.json(), { code: 'JUNCTION_COMPOSE_PART_TIMEOUT', part: 'slow', service: 's' })
})

t.test('bodies of error answers are drained: the connection is reused', async t => {
  const o = await holdingOrigin(t, (_req, res) => {
    res.writeHead(503, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'down', detail: 'x'.repeat(1000) }))
  })
  const gw = await startGateway(t, `
services:
  s: { urls: ["${o.url}"] }
routes:
  - get: /p
    compose: { broken: { service: s, path: /broken } }
`)
  for (let i = 0; i < 5; i++) {
    const res = await fetch(`${gw.url}/p`)
    t.equal(res.status, 502)
    await res.arrayBuffer()
  }
  t.equal(o.connections(), 1, 'five failed calls, one connection')
})

t.test('a chunked body (no Content-Length) over maxBodySize fails its part', async t => {
  const o = await startOrigin(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' })
    res.write('{"pad":"')
    for (let i = 0; i < 4; i++) res.write('x'.repeat(512))
    res.end('"}')
  })
  const gw = await startGateway(t, `
services:
  s: { urls: ["${o.url}"] }
routes:
  - get: /p
    compose: { big: { service: s, path: /big, maxBodySize: 1kb } }
`)
  const res = await fetch(`${gw.url}/p`)
  t.equal(res.status, 502)
  t.match(await res.json(), { part: 'big', reason: 'the body exceeds the part\'s maxBodySize of 1024 bytes' })
})

t.test('a body that arrives in several chunks is put together whole, a character split across two included', async t => {
  // "é" is two bytes in UTF-8; the first chunk ends between them.
  const text = '{ "name": "Ren\u00e9e",  "n": 1.0 }'
  const bytes = Buffer.from(text)
  const split = bytes.indexOf(0xc3) + 1
  const o = await startOrigin(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' })
    res.write(bytes.subarray(0, split))
    // Later, so the gateway reads the two as separate chunks.
    setTimeout(() => { res.write(bytes.subarray(split, split + 3)) }, 20)
    setTimeout(() => { res.end(bytes.subarray(split + 3)) }, 40)
  })
  const gw = await startGateway(t, `
services:
  s: { urls: ["${o.url}"] }
routes:
  - get: /p
    compose: { person: { service: s, path: /person } }
`)
  const res = await fetch(`${gw.url}/p`)
  t.equal(res.status, 200)
  // Passed through as sent: spacing and `1.0` kept.
  t.equal(await res.text(), `{"person":${text}}`)
})
