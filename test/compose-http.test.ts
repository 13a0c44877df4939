/**
 * What a client of a composed route sees over HTTP: strong ETags and 304s, HEAD, the header
 * allow-list toward parts (plus request id and trace context), Vary, and shaping.
 */
import t from 'tap'
import type { IncomingHttpHeaders } from 'node:http'
import { request } from 'undici'
import { startOrigin } from './support/origin.js'
import { startGateway } from './support/gateway.js'
import { startDemoServices } from '../examples/services/run.js'

t.test('a strong ETag from the composed body; If-None-Match → 304; a changed part → a new tag', async t => {
  let name = 'Ada'
  const o = await startOrigin(t, (req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(req.url === '/u' ? { name } : { n: 1 }))
  })
  const gw = await startGateway(t, `
services:
  s: { urls: ["${o.url}"] }
routes:
  - get: /p
    compose:
      user: { service: s, path: /u }
      other: { service: s, path: /o }
`)
  const first = await fetch(`${gw.url}/p`)
  const etag = first.headers.get('etag') ?? ''
  t.match(etag, /^"[A-Za-z0-9_-]{27}"$/, 'strong: no W/ prefix')
  t.equal((await fetch(`${gw.url}/p`)).headers.get('etag'), etag, 'same parts, same tag')
  for (const inm of [etag, `W/${etag}`, `"other", ${etag}`, '*']) {
    const res = await fetch(`${gw.url}/p`, { headers: { 'if-none-match': inm } })
    t.equal(res.status, 304, `If-None-Match: ${inm}`)
    t.equal(res.headers.get('etag'), etag)
    t.equal(await res.text(), '')
  }
  t.equal((await fetch(`${gw.url}/p`, { headers: { 'if-none-match': '"stale"' } })).status, 200)
  name = 'Ada L.'
  const changed = await fetch(`${gw.url}/p`, { headers: { 'if-none-match': etag } })
  t.equal(changed.status, 200, 'a part changed: the old tag no longer matches')
  t.not(changed.headers.get('etag'), etag)
})

t.test('304s against the demo services; HEAD answers headers only', async t => {
  const demo = await startDemoServices()
  t.teardown(() => demo.close())
  const gw = await startGateway(t, `
services:
  users: { urls: ["${demo.urls.users}"] }
  catalog: { urls: ["${demo.urls.catalog}"] }
routes:
  - get: /api/users/:id/card
    compose:
      user: { service: users, path: "/users/{params.id}" }
      company: { service: catalog, path: "/companies/{user.companyId}" }
    shape: { pick: [user.name, company.name] }
`)
  const res = await fetch(`${gw.url}/api/users/3/card`)
  t.same(await res.json(), { user: { name: 'Alan Turing' }, company: { name: 'Bletchley Computing' } })
  const etag = res.headers.get('etag') ?? ''
  t.equal((await fetch(`${gw.url}/api/users/3/card`, { headers: { 'if-none-match': etag } })).status, 304)
  const head = await request(`${gw.url}/api/users/3/card`, { method: 'HEAD' })
  t.equal(head.statusCode, 200)
  t.equal(head.headers.etag, etag)
  t.equal(await head.body.text(), '')
})

t.test('only the declared headers reach the parts, plus x-request-id and the trace context', async t => {
  const seen: IncomingHttpHeaders[] = []
  const o = await startOrigin(t, (req, res) => {
    seen.push(req.headers)
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
  })
  const gw = await startGateway(t, `
services:
  s: { urls: ["${o.url}"] }
routes:
  - get: /p
    compose:
      a: { service: s, path: /a }
      b: { service: s, path: "/b?lang={headers.accept-language}" }
    forwardHeaders: [Authorization, accept-language]
`)
  const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'
  const res = await fetch(`${gw.url}/p`, {
    headers: {
      authorization: 'Bearer t0k',
      'accept-language': 'fr',
      cookie: 'session=secret',
      'x-api-key': 'k',
      'x-request-id': 'req-42',
      traceparent,
      tracestate: 'vendor=1'
    }
  })
  t.equal(res.status, 200)
  t.equal(res.headers.get('vary'), 'authorization, accept-language')
  t.equal(seen.length, 2)
  for (const headers of seen) {
    t.equal(headers.authorization, 'Bearer t0k')
    t.equal(headers['accept-language'], 'fr')
    t.equal(headers['x-request-id'], 'req-42')
    t.match(headers.traceparent, /^00-0af7651916cd43dd8448eb211c80319c-[0-9a-f]{16}-01$/, 'the client\'s trace, under Junction\'s span')
    t.not(headers.traceparent, traceparent)
    t.equal(headers.tracestate, 'vendor=1')
    t.equal(headers.cookie, undefined, 'cookies are not forwarded')
    t.equal(headers['x-api-key'], undefined, 'undeclared headers are not forwarded')
    t.same(Object.keys(headers).sort(), ['accept', 'accept-language', 'authorization', 'connection', 'host', 'traceparent', 'tracestate', 'x-request-id'])
  }
})

t.test('without forwardHeaders nothing of the client reaches the parts', async t => {
  const seen: IncomingHttpHeaders[] = []
  const o = await startOrigin(t, (req, res) => {
    seen.push(req.headers)
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
  })
  const gw = await startGateway(t, `
services:
  s: { urls: ["${o.url}"] }
routes:
  - get: /p
    compose: { a: { service: s, path: /a } }
`)
  const res = await fetch(`${gw.url}/p`, { headers: { authorization: 'Bearer t0k' } })
  t.equal(res.headers.get('vary'), null)
  t.equal(seen[0]?.authorization, undefined)
  t.match(seen[0]?.['x-request-id'], /^[0-9a-f-]{36}$/, 'a generated request id')
})

t.test('shaping: the issue\'s example, merge collisions, omit through arrays, rename into the root', async t => {
  const bodies: Record<string, unknown> = {
    '/u/1': { id: '1', name: 'Ada', companyId: 'c', email: 'a@x', kind: 'user' },
    '/orders?userId=1': [{ id: 'o1', total: 3, secret: 's' }],
    '/c/c': { id: 'c', name: 'Acme', kind: 'company' },
    '/prefs/1': { theme: 'dark', kind: 'prefs', user: 'shadowed' }
  }
  const o = await startOrigin(t, (req, res) => {
    const body = bodies[req.url ?? '']
    res.writeHead(body === undefined ? 404 : 200, { 'content-type': 'application/json' }).end(JSON.stringify(body ?? {}))
  })
  const gw = await startGateway(t, `
services:
  s: { urls: ["${o.url}"] }
routes:
  - get: /issue/:id
    compose:
      user: { service: s, path: "/u/{params.id}" }
      orders: { service: s, path: "/orders?userId={params.id}", optional: true, timeout: 300ms }
      company: { service: s, path: "/c/{user.companyId}" }
    shape: { pick: [user.id, user.name, company.name, orders], rename: { user.name: displayName } }
  - get: /merged/:id
    compose:
      company: { service: s, path: "/c/c" }
      user: { service: s, path: "/u/{params.id}" }
      prefs: { service: s, path: "/prefs/{params.id}" }
      orders: { service: s, path: "/orders?userId={params.id}" }
    shape: { merge: [company, user, prefs], omit: [email, orders.secret], rename: { orders.0.total: firstTotal } }
`)
  t.same(await (await fetch(`${gw.url}/issue/1`)).json(), {
    user: { id: '1' },
    company: { name: 'Acme' },
    orders: [{ id: 'o1', total: 3, secret: 's' }],
    displayName: 'Ada'
  })
  t.same(await (await fetch(`${gw.url}/merged/1`)).json(), {
    id: '1', // user (merged after company) wins over company's id
    name: 'Ada',
    kind: 'prefs', // the last merged part wins
    companyId: 'c',
    theme: 'dark',
    user: 'shadowed', // a merged key that is not a nested part's name stays
    orders: [{ id: 'o1' }], // a nested part's name wins over merged keys; omit walks arrays
    firstTotal: 3
  })
})
