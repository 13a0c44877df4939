/**
 * The admin dashboard's read model (src/admin/): the bounded ring and lag sampler, the
 * stateless session cookie, and, through a real gateway with real origins, the snapshot's
 * cache hit ratio per route and upstream rotation state (GET /admin/dashboard).
 */
import t from 'tap'
import { request } from 'undici'
import { AdminSessions, readCookie, sessionCookie } from '../src/admin/admin-session.js'
import { LagHistory, Ring } from '../src/admin/lag-history.js'
import { escapeHtml, lagChart } from '../src/admin/dashboard-html.js'
import type { DependentStats } from '../src/outbox/types.js'
import { startGateway } from './support/gateway.js'
import { freePort, startOrigin } from './support/origin.js'
import { until } from './support/outbox-harness.js'

t.test('the ring keeps the newest items, oldest first, and never grows past its capacity', async t => {
  const ring = new Ring<number>(3)
  t.same(ring.toArray(), [])
  for (let i = 1; i <= 7; i++) ring.push(i)
  t.same(ring.toArray(), [5, 6, 7])
  t.equal(ring.size, 3)
  t.throws(() => new Ring(0), /positive integer/)
})

t.test('the lag history samples each dependent into its own bounded ring; a failed sample is skipped', async t => {
  let round = 0
  const errors: unknown[] = []
  const stats = async (): Promise<DependentStats[]> => {
    round++
    if (round === 2) throw new Error('store down')
    return [
      { dependent: 'orders', pending: round, inFlight: 0, retrying: 0, dead: 0, oldestAgeMs: round * 10, lagMs: round },
      { dependent: 'catalog', pending: 0, inFlight: 0, retrying: 0, dead: 1, oldestAgeMs: 0 }
    ]
  }
  const history = new LagHistory({ stats, capacity: 3, intervalMs: 10, onError: err => errors.push(err) })
  history.start()
  await until('six rounds', () => round >= 6, 5000)
  await history.stop()
  const stopped = round
  t.equal(errors.length, 1, 'the failure was reported once')
  t.match(errors[0], /store down/)
  const orders = history.samples('orders')
  t.equal(orders.length, 3, 'bounded by the capacity')
  t.same(orders.map(s => s.pending), [stopped - 2, stopped - 1, stopped], 'the newest, oldest first')
  t.equal(orders[2]?.oldestAgeMs, stopped * 10)
  t.same(history.samples('catalog').map(s => s.lagMs), [undefined, undefined, undefined])
  t.same(history.samples('nobody'), [])
  await new Promise(resolve => setTimeout(resolve, 50))
  t.equal(round, stopped, 'no sample after stop()')
})

t.test('the lag chart needs two samples and escapes nothing it did not make', async t => {
  t.match(lagChart([]), /collecting samples/)
  const svg = lagChart([
    { at: 0, pending: 0, retrying: 0, dead: 0, oldestAgeMs: 0, lagMs: undefined },
    { at: 60_000, pending: 3, retrying: 0, dead: 0, oldestAgeMs: 400, lagMs: 100 }
  ])
  t.match(svg, /<polyline class="oldest" points="0\.0,120\.0 600\.0,0\.0"\/>/)
  t.match(svg, /<polyline class="lag" points="600\.0,90\.0"\/>/, 'a sample without a lag has no point')
  t.match(svg, /Last 1\.0 min, top of chart 400 ms/)
  t.equal(escapeHtml('<a href="x">\'&'), '&lt;a href=&quot;x&quot;&gt;&#39;&amp;')
})

t.test('sessions: signed, expiring, bound to the token; CSRF token derived from the session', async t => {
  const sessions = new AdminSessions('the-token', 60_000)
  t.ok(sessions.checkToken('the-token'))
  t.notOk(sessions.checkToken('the-token '))
  t.notOk(sessions.checkToken(''))
  const now = 1_000_000
  const issued = sessions.issue(now)
  t.notMatch(issued.cookie, /the-token/)
  t.same(sessions.verify(issued.cookie, now + 1), { expiresAt: now + 60_000, csrfToken: issued.csrfToken })
  t.equal(sessions.verify(issued.cookie, now + 60_000), undefined, 'expired')
  const [expiry, nonce, mac] = issued.cookie.split('.') as [string, string, string]
  t.equal(sessions.verify(`${Number(expiry) + 1000}.${nonce}.${mac}`, now), undefined, 'a longer expiry breaks the mac')
  t.equal(sessions.verify(`${expiry}.${nonce}x.${mac}`, now), undefined)
  t.equal(sessions.verify(`${expiry}.${nonce}`, now), undefined)
  t.equal(sessions.verify(undefined, now), undefined)
  t.equal(new AdminSessions('another-token', 60_000).verify(issued.cookie, now), undefined, 'another token, another key')
  t.not(sessions.issue(now).csrfToken, issued.csrfToken, 'each session its own CSRF token')
  t.throws(() => new AdminSessions('', 1000))

  t.equal(readCookie('a=1; junction_admin=x.y.z; b=2', 'junction_admin'), 'x.y.z')
  t.equal(readCookie('junction_adminx=1', 'junction_admin'), undefined)
  t.equal(readCookie(undefined, 'junction_admin'), undefined)
  t.equal(sessionCookie('v', 60, false), 'junction_admin=v; Path=/admin; Max-Age=60; HttpOnly; SameSite=Strict')
  t.match(sessionCookie('v', 60, true), /; Secure$/)
})

t.test('the snapshot: cache hit ratio per cached route, upstream rotation and breaker state', async t => {
  const origin = await startOrigin(t, (req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=60' }).end(JSON.stringify({ url: req.url }))
  })
  const closed = `http://127.0.0.1:${await freePort()}`
  const gw = await startGateway(t, `
server: { overload: { enabled: false } }
services:
  catalog: { urls: [${origin.url}, ${closed}], circuitBreaker: { consecutiveFailures: 1, coolDown: 60s }, retry: { attempts: 2 } }
  users: { urls: [${origin.url}] }
routes:
  - { proxy: /api/products, service: catalog, cache: { ttl: 60s } }
  - { proxy: /api/users, service: users, methods: [GET] }
  - get: /api/profile/:id
    compose: { user: { service: users, path: "/users/{params.id}" } }
    cache: { ttl: 30s }
`, { env: { JUNCTION_ADMIN_TOKEN: 'tok' } })
  const get = async (path: string, headers: Record<string, string> = {}): Promise<{ status: number, cache: unknown, body: string }> => {
    const res = await request(`${gw.url}${path}`, { headers })
    return { status: res.statusCode, cache: res.headers['x-cache'], body: await res.body.text() }
  }
  const seen: unknown[] = []
  for (const path of ['/api/products/1', '/api/products/1', '/api/products/1', '/api/products/2', '/api/users/1', '/api/profile/1', '/api/profile/1']) {
    const res = await get(path)
    t.equal(res.status, 200, path)
    seen.push(res.cache)
  }
  t.same(seen, ['MISS', 'HIT', 'HIT', 'MISS', undefined, 'MISS', 'HIT'])

  t.equal((await get('/admin/dashboard')).status, 401, 'guarded')
  const snapshot = JSON.parse((await get('/admin/dashboard', { authorization: 'Bearer tok' })).body)
  t.match(snapshot.routes, [
    { kind: 'proxy', match: 'ANY /api/products/*', services: ['catalog'], cache: { route: '/api/products', hits: 2, misses: 2, stale: 0, bypasses: 0, hitRatio: 0.5 } },
    { kind: 'proxy', match: 'GET /api/users/*', services: ['users'] },
    { kind: 'compose', match: 'GET /api/profile/:id', services: ['users'], cache: { route: '/api/profile/:id', hits: 1, misses: 1, hitRatio: 0.5 } }
  ])
  t.equal(snapshot.routes[1].cache, undefined, 'an uncached route has no ratio')
  const catalog = snapshot.services.find((s: { name: string }) => s.name === 'catalog')
  t.match(catalog.upstreams, [
    { origin: origin.url, breaker: 'closed', inRotation: true, health: 'unchecked' },
    { origin: closed, breaker: 'open', inRotation: false, health: 'unchecked', coolDownLeftMs: Number }
  ], 'the refused URL was ejected by its breaker')
  t.ok(catalog.upstreams[1].coolDownLeftMs > 0)
  t.match(snapshot.dependents.map((d: { dependent: string }) => d.dependent).sort(), ['catalog', 'users'])
})

t.test('the snapshot shows a URL failing its health checks as out of rotation', async t => {
  const origin = await startOrigin(t, (req, res) => {
    res.writeHead(req.url === '/health' ? 503 : 200).end('{}')
  })
  const gw = await startGateway(t, `
server: { overload: { enabled: false } }
services:
  catalog: { urls: [${origin.url}], health: { path: /health, interval: 100ms, timeout: 100ms, unhealthyThreshold: 1 } }
routes:
  - { proxy: /api/products, service: catalog }
`, { env: { JUNCTION_ADMIN_TOKEN: 'tok' } })
  let upstream: { health?: string, inRotation?: boolean } = {}
  await until('the check failed', async () => {
    const res = await request(`${gw.url}/admin/dashboard`, { headers: { authorization: 'Bearer tok' } })
    // A busy machine may get a 503 from load shedding; ask again.
    if (res.statusCode !== 200) {
      await res.body.dump()
      return false
    }
    upstream = (await res.body.json() as { services: Array<{ upstreams: Array<typeof upstream> }> }).services[0]?.upstreams[0] ?? {}
    return upstream.health === 'failing'
  })
  t.match(upstream, { health: 'failing', inRotation: false, breaker: 'closed' }, 'out of rotation by the check alone')
})

t.test('login over plain HTTP: a posted form, a 303 and the cookie; Secure behind a trusted TLS proxy', async t => {
  const origin = await startOrigin(t, (_req, res) => { res.end('{}') })
  const gw = await startGateway(t, `
server: { trustProxy: ["127.0.0.1"], overload: { enabled: false } }
services:
  s: { urls: [${origin.url}] }
routes:
  - { proxy: /api, service: s }
`, { env: { JUNCTION_ADMIN_TOKEN: 'tok' } })
  const login = async (body: string, headers: Record<string, string> = {}): Promise<{ status: number, cookie: unknown, location: unknown, text: string }> => {
    const res = await request(`${gw.url}/admin/login`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body })
    return { status: res.statusCode, cookie: res.headers['set-cookie'], location: res.headers.location, text: await res.body.text() }
  }
  const ok = await login('token=tok')
  t.equal(ok.status, 303)
  t.equal(ok.location, '/admin')
  t.match(ok.cookie, /^junction_admin=\d+\.[\w-]+\.[\w-]+; Path=\/admin; Max-Age=28800; HttpOnly; SameSite=Strict$/)
  const tls = await login('token=tok', { 'x-forwarded-proto': 'https' })
  t.match(tls.cookie, /; HttpOnly; SameSite=Strict; Secure$/, 'Secure when the trusted proxy says the client used TLS')

  for (const body of ['token=nope', 'token=', 'other=tok', '']) {
    const refused = await login(body)
    t.equal(refused.status, 401, `refused: ${JSON.stringify(body)}`)
    t.equal(refused.cookie, undefined)
    t.match(refused.text, /That is not the admin token\./)
  }
  const tooLong = await login(`token=${'x'.repeat(5000)}`)
  t.equal(tooLong.status, 413, 'a form body is at most 4 KB')

  // The cookie from the login opens the page; its CSRF token is in it.
  const cookie = String(ok.cookie).split(';')[0] as string
  const page = await request(`${gw.url}/admin`, { headers: { cookie } })
  const html = await page.body.text()
  t.equal(page.statusCode, 200)
  t.match(page.headers['content-security-policy'], /default-src 'none'; script-src 'self'/)
  t.equal(page.headers['cache-control'], 'no-store')
  t.match(html, /<meta name="csrf-token" content="[\w-]+">/)
  t.match(html, /<script src="\/admin\/dashboard\.js" defer><\/script>/)
  t.notMatch(html, /<script>|style=/, 'no inline script or style')
  for (const asset of ['/admin/dashboard.js', '/admin/dashboard.css']) {
    const res = await request(`${gw.url}${asset}`)
    t.equal(res.statusCode, 200, `${asset} is served by the gateway`)
    await res.body.dump()
  }
})
