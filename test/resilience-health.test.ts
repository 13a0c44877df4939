/**
 * Active health checks, against real upstreams: a URL failing its checks leaves the
 * rotation and returns when it passes again; with every URL failing, calls get 503 at
 * once and never reach the service.
 */
import t from 'tap'
import { request } from 'undici'
import { startCountingOrigin } from './support/counting-origin.js'
import { startGateway } from './support/gateway.js'

/** Sends GETs (at most 80, 25 ms apart) until `done(servedBy)` says yes. */
async function until (url: string, done: (servedBy: unknown, status: number) => boolean): Promise<boolean> {
  for (let i = 0; i < 80; i++) {
    const res = await request(url)
    await res.body.dump()
    if (done(res.headers['x-served-by'], res.statusCode)) return true
    await new Promise(resolve => setTimeout(resolve, 25))
  }
  return false
}

t.test('a URL failing its health check leaves the rotation and comes back when it passes', async t => {
  let aHealthy = true
  const a = await startCountingOrigin(t, 'a', (req, res) => {
    if (req.url === '/healthz') res.writeHead(aHealthy ? 200 : 503).end()
    else res.end('ok')
  })
  const b = await startCountingOrigin(t, 'b', (_req, res) => { res.end('ok') })
  const gw = await startGateway(t, `
services:
  users:
    urls: [${a.url}, ${b.url}]
    health: { path: /healthz, interval: 50ms, timeout: 40ms, healthyThreshold: 2, unhealthyThreshold: 2 }
routes:
  - { proxy: /api, service: users }
`)
  t.ok(await until(`${gw.url}/api/1`, servedBy => servedBy === 'a'), 'a serves while healthy')

  aHealthy = false
  let inARow = 0
  t.ok(await until(`${gw.url}/api/1`, servedBy => { inARow = servedBy === 'b' ? inARow + 1 : 0; return inARow >= 6 }), 'b alone serves once a fails its checks')
  const hits = a.hits()
  for (let i = 0; i < 4; i++) {
    const res = await request(`${gw.url}/api/${i}`)
    t.equal(res.headers['x-served-by'], 'b')
    await res.body.dump()
  }
  t.equal(a.hits(), hits, 'no request reaches a while it is out')

  aHealthy = true
  t.ok(await until(`${gw.url}/api/1`, servedBy => servedBy === 'a'), 'a is back after passing checks')
  t.ok(a.checks() >= 6, 'a was checked all along')
})

t.test('with every URL failing its checks, calls get 503 at once', async t => {
  let healthy = false
  const origin = await startCountingOrigin(t, 'a', (req, res) => {
    if (req.url === '/healthz') {
      // A hanging health endpoint fails by timeout.
      if (!healthy) return
      res.writeHead(200).end()
    } else res.end('ok')
  })
  const gw = await startGateway(t, `
services:
  users:
    urls: [${origin.url}]
    health: { path: /healthz, interval: 1s, timeout: 100ms, healthyThreshold: 1, unhealthyThreshold: 1 }
routes:
  - { proxy: /api, service: users }
`)
  t.ok(await until(`${gw.url}/api/1`, (_servedBy, status) => status === 503), 'the failing check takes the only URL out')
  const hits = origin.hits()
  const res = await request(`${gw.url}/api/1`)
  t.equal(res.statusCode, 503)
  t.equal(res.headers['retry-after'], '1')
  t.match(await res.body.json(), { code: 'JUNCTION_UPSTREAM_UNHEALTHY', service: 'users', detail: 'Every instance of service "users" fails its health check; try again in 1 s.' })
  t.equal(origin.hits(), hits, 'the service was not called')

  healthy = true
  t.ok(await until(`${gw.url}/api/1`, (_servedBy, status) => status === 200), 'back when its check passes')
})
