/**
 * Failure semantics of composed responses, each on real servers: required parts fail the
 * request naming the part and the service; optional ones leave a partial answer that says
 * what is missing; dependents of a failed part are skipped; bad bodies fail their part only.
 */
import t from 'tap'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { startOrigin, freePort } from './support/origin.js'
import { startGateway } from './support/gateway.js'

interface Teardown { teardown (fn: () => unknown): void }

type Answer = { status?: number, type?: string, body: string, delayMs?: number }

/** An origin answering each path from a table; unknown paths get 404. */
async function origin (t: Teardown, table: Record<string, Answer>): Promise<{ url: string, hits: string[] }> {
  const hits: string[] = []
  const o = await startOrigin(t, (req: IncomingMessage, res: ServerResponse) => {
    const path = req.url ?? '/'
    hits.push(path)
    const answer = table[path] ?? { status: 404, body: '{}' }
    const send = (): void => { res.writeHead(answer.status ?? 200, { 'content-type': answer.type ?? 'application/json' }).end(answer.body) }
    if (answer.delayMs === undefined) send()
    else setTimeout(send, answer.delayMs)
  })
  return { url: o.url, hits }
}

const json = (value: unknown, extra: Partial<Answer> = {}): Answer => ({ body: JSON.stringify(value), ...extra })

async function get (url: string, headers: Record<string, string> = {}): Promise<{ status: number, headers: Headers, body: Record<string, unknown> }> {
  const res = await fetch(url, { headers })
  return { status: res.status, headers: res.headers, body: await res.json() as Record<string, unknown> }
}

t.test('a required part that fails → 502 problem+json naming the part and the service', async t => {
  const o = await origin(t, { '/u/1': json({ id: 1 }), '/broken': json({ error: true }, { status: 503 }) })
  const gw = await startGateway(t, `
services:
  users: { urls: ["${o.url}"] }
  billing: { urls: ["${o.url}"] }
routes:
  - get: /p/:id
    compose:
      user: { service: users, path: "/u/{params.id}" }
      invoices: { service: billing, path: /broken }
`)
  const res = await fetch(`${gw.url}/p/1`)
  t.equal(res.status, 502)
  t.match(res.headers.get('content-type'), /^application\/problem\+json/)
  t.match(await res.json(), {
    status: 502,
    code: 'JUNCTION_COMPOSE_PART_FAILED',
    detail: 'Part "invoices" (service "billing") failed: the service answered 503.',
    part: 'invoices',
    service: 'billing',
    reason: 'the service answered 503'
  })
})

t.test('a required part that times out → 504 naming the part, its own timeout', async t => {
  const o = await origin(t, { '/slow': json({}, { delayMs: 1000 }), '/fast': json({ ok: 1 }) })
  const gw = await startGateway(t, `
services:
  s: { urls: ["${o.url}"], timeout: 5s }
routes:
  - get: /p
    compose:
      fast: { service: s, path: /fast }
      slow: { service: s, path: /slow, timeout: 100ms }
`)
  const { status, body } = await get(`${gw.url}/p`)
  t.equal(status, 504)
  t.match(body, { code: 'JUNCTION_COMPOSE_PART_TIMEOUT', detail: 'Part "slow" (service "s") did not answer within 100 ms.', part: 'slow', service: 's' })
})

t.test('an unreachable service fails its part', async t => {
  const port = await freePort()
  const gw = await startGateway(t, `
services:
  gone: { urls: ["http://127.0.0.1:${port}"] }
routes:
  - get: /p
    compose:
      x: { service: gone, path: /x }
`)
  const { status, body } = await get(`${gw.url}/p`)
  t.equal(status, 502)
  t.match(body, { code: 'JUNCTION_COMPOSE_PART_FAILED', reason: 'the service could not be reached', part: 'x', service: 'gone' })
})

t.test('an optional part that fails → 200, the part null, Junction-Partial names it', async t => {
  const o = await origin(t, { '/u/1': json({ id: 1, name: 'Ada' }), '/orders': json({}, { status: 500 }) })
  const gw = await startGateway(t, `
services:
  s: { urls: ["${o.url}"] }
routes:
  - get: /p/:id
    compose:
      user: { service: s, path: "/u/{params.id}" }
      orders: { service: s, path: /orders, optional: true }
`)
  const { status, headers, body } = await get(`${gw.url}/p/1`)
  t.equal(status, 200)
  t.same(body, { user: { id: 1, name: 'Ada' }, orders: null })
  t.equal(headers.get('junction-partial'), 'orders')
  t.equal(headers.get('cache-control'), 'no-store', 'a degraded answer is not for caches')
  t.ok(headers.get('etag'))
})

t.test('an optional part that times out is partial, and its dependents are skipped and reported the same way', async t => {
  const o = await origin(t, {
    '/u/1': json({ id: 1 }),
    '/orders?userId=1': json([{ id: 'o1', productId: 'p1' }], { delayMs: 1000 })
  })
  const gw = await startGateway(t, `
services:
  s: { urls: ["${o.url}"] }
routes:
  - get: /p/:id
    compose:
      user: { service: s, path: "/u/{params.id}" }
      orders: { service: s, path: "/orders?userId={params.id}", optional: true, timeout: 100ms }
      latest: { service: s, path: "/products/{orders.0.productId}", optional: true }
      product: { service: s, path: "/products/{each orders.productId}", optional: true }
    shape: { merge: [user] }
`)
  const { status, headers, body } = await get(`${gw.url}/p/1`)
  t.equal(status, 200)
  t.same(body, { id: 1, orders: null, latest: null })
  t.equal(headers.get('junction-partial'), 'orders, latest, product')
  t.notOk(o.hits.some(h => h.startsWith('/products')), 'skipped parts made no calls')
})

t.test('a non-JSON body, an invalid JSON body and an oversized body fail their part, not the gateway', async t => {
  const o = await origin(t, {
    '/html': { type: 'text/html', body: '<html>oops</html>' },
    '/bad': { body: '{"a":' },
    '/big': json({ pad: 'x'.repeat(5000) }),
    '/ok': json({ ok: true })
  })
  const gw = await startGateway(t, `
services:
  s: { urls: ["${o.url}"] }
routes:
  - get: /optional
    compose:
      ok: { service: s, path: /ok }
      html: { service: s, path: /html, optional: true }
      bad: { service: s, path: /bad, optional: true }
      big: { service: s, path: /big, optional: true, maxBodySize: 1kb }
  - get: /html
    compose: { html: { service: s, path: /html } }
  - get: /bad
    compose: { bad: { service: s, path: /bad } }
  - get: /big
    compose: { big: { service: s, path: /big, maxBodySize: 1kb } }
`)
  const partial = await get(`${gw.url}/optional`)
  t.equal(partial.status, 200)
  t.same(partial.body, { ok: { ok: true }, html: null, bad: null, big: null })
  t.equal(partial.headers.get('junction-partial'), 'html, bad, big')
  t.match((await get(`${gw.url}/html`)).body, { status: 502, reason: 'the body is not JSON (content-type "text/html")', part: 'html' })
  t.match((await get(`${gw.url}/bad`)).body, { status: 502, reason: 'the body is not valid JSON', part: 'bad' })
  t.match((await get(`${gw.url}/big`)).body, { status: 502, reason: 'the body exceeds the part\'s maxBodySize of 1024 bytes', part: 'big' })
  t.equal((await get(`${gw.url}/optional`)).status, 200, 'the gateway still answers')
})

t.test('a field a placeholder reads is missing at runtime: unresolvable placeholder', async t => {
  const o = await origin(t, { '/u/1': json({ id: 1 }), '/u/2': json({ id: 2, companyId: { nested: true } }) })
  const gw = await startGateway(t, `
services:
  s: { urls: ["${o.url}"] }
routes:
  - get: /p/:id
    compose:
      user: { service: s, path: "/u/{params.id}" }
      company: { service: s, path: "/companies/{user.companyId}" }
  - get: /q/:id
    compose:
      user: { service: s, path: "/u/{params.id}" }
      company: { service: s, path: "/companies/{user.companyId}", optional: true }
`)
  const required = await get(`${gw.url}/p/1`)
  t.equal(required.status, 502)
  t.match(required.body, {
    code: 'JUNCTION_COMPOSE_PART_FAILED',
    part: 'company',
    reason: 'unresolvable placeholder {user.companyId}: field "companyId" of part "user" is missing or not a string, number or boolean'
  })
  t.equal((await get(`${gw.url}/p/2`)).status, 502, 'an object is not a value to put in a path')
  const optional = await get(`${gw.url}/q/1`)
  t.equal(optional.status, 200)
  t.same(optional.body, { user: { id: 1 }, company: null })
  t.equal(optional.headers.get('junction-partial'), 'company')
})

t.test('404: from a part reading only the request it is 404; through another part\'s data it is 502', async t => {
  const o = await origin(t, { '/u/1': json({ id: 1, companyId: 'gone' }) })
  const gw = await startGateway(t, `
services:
  users: { urls: ["${o.url}"] }
  catalog: { urls: ["${o.url}"] }
routes:
  - get: /p/:id
    compose:
      user: { service: users, path: "/u/{params.id}" }
      company: { service: catalog, path: "/companies/{user.companyId}" }
`)
  const missing = await get(`${gw.url}/p/9`)
  t.equal(missing.status, 404)
  t.match(missing.body, { code: 'JUNCTION_COMPOSE_NOT_FOUND', detail: 'Part "user" (service "users") found nothing for this request.', part: 'user', service: 'users' })
  const dangling = await get(`${gw.url}/p/1`)
  t.equal(dangling.status, 502)
  t.match(dangling.body, { code: 'JUNCTION_COMPOSE_PART_FAILED', part: 'company', service: 'catalog', reason: 'the service answered 404' })
})

t.test('a query parameter a required part reads is missing → 400', async t => {
  const o = await origin(t, { '/search?q=ada': json([1]) })
  const gw = await startGateway(t, `
services:
  s: { urls: ["${o.url}"] }
routes:
  - get: /search
    compose:
      hits: { service: s, path: "/search?q={query.q}" }
`)
  t.same((await get(`${gw.url}/search?q=ada`)).body, { hits: [1] })
  const { status, body } = await get(`${gw.url}/search`)
  t.equal(status, 400)
  t.match(body, { code: 'JUNCTION_COMPOSE_MISSING_INPUT', detail: 'Part "hits" needs the query parameter "q", which this request does not have.' })
})

t.test('collections: a failed element of an optional collection is null and reported; of a required one, a 502', async t => {
  const o = await origin(t, {
    '/cart': json({ items: [{ id: 'a' }, { id: 'b' }, { id: 'c' }] }),
    '/p/a': json({ n: 'A' }),
    '/p/c': json({ n: 'C' })
  })
  const gw = await startGateway(t, `
services:
  s: { urls: ["${o.url}"] }
routes:
  - get: /optional
    compose:
      cart: { service: s, path: /cart }
      product: { service: s, path: "/p/{each cart.items.id}", optional: true }
  - get: /required
    compose:
      cart: { service: s, path: /cart }
      product: { service: s, path: "/p/{each cart.items.id}" }
  - get: /capped
    compose:
      cart: { service: s, path: /cart }
      product: { service: s, path: "/p/{each cart.items.id}", maxCalls: 2 }
`)
  const optional = await get(`${gw.url}/optional`)
  t.equal(optional.status, 200)
  t.same(optional.body, { cart: { items: [{ id: 'a', product: { n: 'A' } }, { id: 'b', product: null }, { id: 'c', product: { n: 'C' } }] } })
  t.equal(optional.headers.get('junction-partial'), 'product')
  t.match((await get(`${gw.url}/required`)).body, { status: 502, part: 'product', reason: 'the service answered 404' })
  t.match((await get(`${gw.url}/capped`)).body, { status: 502, part: 'product', reason: 'the collection needs 3 calls, more than its maxCalls of 2' })
})

t.test('a merged part whose body is not an object fails', async t => {
  const o = await origin(t, { '/list': json([1, 2]) })
  const gw = await startGateway(t, `
services:
  s: { urls: ["${o.url}"] }
routes:
  - get: /m
    compose: { list: { service: s, path: /list } }
    shape: { merge: [list] }
`)
  t.match((await get(`${gw.url}/m`)).body, { status: 502, reason: 'the body is not a JSON object, so it cannot be merged into the root' })
})
