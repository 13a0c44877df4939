/**
 * Composition on real servers: concurrency of independent parts, dependency order, and
 * collections with their concurrency bound, all observed at the services (never on wall-clock).
 */
import t from 'tap'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { startOrigin } from './support/origin.js'
import { startGateway } from './support/gateway.js'
import { startDemoServices } from '../examples/services/run.js'

interface Event { readonly kind: 'start' | 'end', readonly path: string }
interface Teardown { teardown (fn: () => unknown): void }

/** A JSON origin that answers `routes[path]` after `delayMs`, logging when each request starts and ends. */
async function jsonOrigin (tt: Teardown, routes: Record<string, unknown>, delayMs = 0, shared: Event[] = []): Promise<{ url: string, events: Event[], maxInFlight: () => number }> {
  const events: Event[] = []
  let inFlight = 0
  let max = 0
  const origin = await startOrigin(tt, (req: IncomingMessage, res: ServerResponse) => {
    const path = req.url ?? '/'
    events.push({ kind: 'start', path })
    shared.push({ kind: 'start', path })
    inFlight++
    max = Math.max(max, inFlight)
    setTimeout(() => {
      inFlight--
      events.push({ kind: 'end', path })
      shared.push({ kind: 'end', path })
      const body = routes[path]
      if (body === undefined) {
        res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not found"}')
        return
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body))
    }, delayMs)
  })
  return { url: origin.url, events, maxInFlight: () => max }
}

t.test('parts without dependencies run concurrently: every call starts before any ends', async t => {
  const log: Event[] = []
  const a = await jsonOrigin(t, { '/a': { n: 1 } }, 100, log)
  const b = await jsonOrigin(t, { '/b': { n: 2 } }, 100, log)
  const c = await jsonOrigin(t, { '/c': { n: 3 } }, 100, log)
  const gw = await startGateway(t, `
services:
  a: { urls: ["${a.url}"] }
  b: { urls: ["${b.url}"] }
  c: { urls: ["${c.url}"] }
routes:
  - get: /x
    compose:
      a: { service: a, path: /a }
      b: { service: b, path: /b }
      c: { service: c, path: /c }
`)
  const res = await fetch(`${gw.url}/x`)
  t.equal(res.status, 200)
  t.same(await res.json(), { a: { n: 1 }, b: { n: 2 }, c: { n: 3 } })
  // The three services share this process: one log orders their events.
  t.same(log.map(e => e.kind), ['start', 'start', 'start', 'end', 'end', 'end'], 'all three calls started before any ended')
  t.same(log.slice(0, 3).map(e => e.path).sort(), ['/a', '/b', '/c'])
})

t.test('overlap, observed at one service: three parts on one origin are in flight together', async t => {
  const o = await jsonOrigin(t, { '/a': 1, '/b': 2, '/c': 3 }, 100)
  const gw = await startGateway(t, `
services:
  s: { urls: ["${o.url}"] }
routes:
  - get: /x
    compose:
      a: { service: s, path: /a }
      b: { service: s, path: /b }
      c: { service: s, path: /c }
`)
  const res = await fetch(`${gw.url}/x`)
  t.same(await res.json(), { a: 1, b: 2, c: 3 })
  t.same(o.events.slice(0, 3).map(e => e.kind), ['start', 'start', 'start'], 'all three started before any ended')
  t.equal(o.maxInFlight(), 3)
})

t.test('a dependent part waits for exactly the part it reads', async t => {
  const log: Event[] = []
  const o = await jsonOrigin(t, { '/users/7': { id: 7, companyId: 'c1' }, '/companies/c1': { name: 'Acme' } }, 0, log)
  // A slow independent part: the dependent one must not wait for it.
  const slow = await jsonOrigin(t, { '/slow': { ok: true } }, 300, log)
  const gw = await startGateway(t, `
services:
  s: { urls: ["${o.url}"] }
  slow: { urls: ["${slow.url}"] }
routes:
  - get: /u/:id
    compose:
      company: { service: s, path: "/companies/{user.companyId}" }
      user: { service: s, path: "/users/{params.id}" }
      other: { service: slow, path: /slow }
`)
  const res = await fetch(`${gw.url}/u/7`)
  t.equal(res.status, 200)
  t.same(await res.json(), { company: { name: 'Acme' }, user: { id: 7, companyId: 'c1' }, other: { ok: true } })
  t.same(o.events.map(e => `${e.kind} ${e.path}`), ['start /users/7', 'end /users/7', 'start /companies/c1', 'end /companies/c1'],
    'company starts only after user ended')
  const at = (event: string): number => log.findIndex(e => `${e.kind} ${e.path}` === event)
  t.ok(at('start /slow') < at('end /users/7'), 'the independent part started with the first wave')
  t.ok(at('start /companies/c1') < at('end /slow'), 'the dependent part did not wait for the slow independent one')
})

t.test('a collection runs once per distinct value, within maxConcurrency, results beside the elements', async t => {
  const demo = await startDemoServices({ control: true })
  t.teardown(() => demo.close())
  await fetch(`${demo.urls.catalog}/_control`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ delayMs: 50, resetStats: true }) })
  const gw = await startGateway(t, `
services:
  orders: { urls: ["${demo.urls.orders}"] }
  catalog: { urls: ["${demo.urls.catalog}"] }
routes:
  - get: /all-orders
    compose:
      orders: { service: orders, path: /orders }
      product: { service: catalog, path: "/products/{each orders.items.productId}", maxConcurrency: 2 }
    shape: { pick: [orders.id, orders.items.productId, orders.items.product.name] }
`)
  const res = await fetch(`${gw.url}/all-orders`)
  t.equal(res.status, 200)
  t.same(await res.json(), {
    orders: [
      { id: '1', items: [{ productId: '1', product: { name: 'Difference Engine' } }, { productId: '3', product: { name: 'Compiler Handbook' } }] },
      { id: '2', items: [{ productId: '2', product: { name: 'Punched Card Pack' } }] },
      { id: '3', items: [{ productId: '4', product: { name: 'Bombe Rotor' } }] },
      { id: '4', items: [{ productId: '1', product: { name: 'Difference Engine' } }, { productId: '5', product: { name: 'Trajectory Tables' } }] }
    ]
  })
  const stats = await (await fetch(`${demo.urls.catalog}/_control/stats`)).json() as { requests: number, maxInFlight: number }
  t.equal(stats.requests, 5, 'six items, five distinct products: five calls')
  t.equal(stats.maxInFlight, 2, 'never more than maxConcurrency in flight, and the bound was reached')
})

t.test('a collection over an array of scalars yields an aligned array beside it', async t => {
  const o = await jsonOrigin(t, { '/team': { memberIds: ['1', '2'] }, '/people/1': { n: 'ada' }, '/people/2': { n: 'alan' } })
  const gw = await startGateway(t, `
services:
  s: { urls: ["${o.url}"] }
routes:
  - get: /team
    compose:
      team: { service: s, path: /team }
      members: { service: s, path: "/people/{each team.memberIds}" }
`)
  t.same(await (await fetch(`${gw.url}/team`)).json(), { team: { memberIds: ['1', '2'], members: [{ n: 'ada' }, { n: 'alan' }] } })
})
