/**
 * Load shedding (server.overload, @fastify/under-pressure): over a threshold, requests get
 * 503 problem+json with Retry-After before reaching a service, /ready says why, and
 * /health still answers.
 */
import t from 'tap'
import { request } from 'undici'
import { startCountingOrigin } from './support/counting-origin.js'
import { startGateway } from './support/gateway.js'

t.test('over a threshold: 503 with Retry-After, /ready not ready, /health alive', async t => {
  const origin = await startCountingOrigin(t, 'a', (_req, res) => { res.end('ok') })
  // Any heap is over 1kb: the gateway is "overloaded" from the first sample on.
  const gw = await startGateway(t, `
server: { overload: { maxHeapUsed: 1kb, sampleInterval: 100ms, retryAfter: 3s } }
services:
  users: { urls: [${origin.url}] }
routes:
  - { proxy: /api, service: users }
`)
  // The first sample may say the loop was blocked (the gateway was booting): wait for the heap to be the reason.
  let detail = ''
  for (let i = 0; i < 100 && !detail.includes('heap'); i++) {
    const res = await request(`${gw.url}/ready`)
    if (res.statusCode === 503) {
      const problem = await res.body.json() as { code: string, detail: string }
      t.equal(problem.code, 'JUNCTION_NOT_READY')
      detail = problem.detail
    } else {
      await res.body.dump()
    }
    if (!detail.includes('heap')) await new Promise(resolve => setTimeout(resolve, 20))
  }
  t.match(detail, /^Junction is overloaded: heap in use \d+(\.\d+)?[KMG]B over the 1KB limit\.$/, '/ready reflects the overload and says why')

  const shed = await request(`${gw.url}/api/1`)
  t.equal(shed.statusCode, 503)
  t.equal(shed.headers['retry-after'], '3')
  t.match(shed.headers['content-type'], /^application\/problem\+json/)
  // The reason is the heap's, unless a sample just caught the loop stalled (a busy test machine).
  t.match(await shed.body.json(), { status: 503, code: 'JUNCTION_OVERLOADED', detail: /^Junction is overloaded \((heap in use .* over the 1KB limit|event loop .*)\) and sheds load; try again in 3 s\.$/ })
  t.equal(origin.hits(), 0, 'a shed request never reaches a service')

  const health = await request(`${gw.url}/health`)
  t.equal(health.statusCode, 200, 'liveness is exempt: a saturated process is alive')
  t.same(await health.body.json(), { status: 'ok' })
})

t.test('under the thresholds, or with shedding disabled, requests pass', async t => {
  const origin = await startCountingOrigin(t, 'a', (_req, res) => { res.end('ok') })
  const routes = `
services:
  users: { urls: [${origin.url}] }
routes:
  - { proxy: /api, service: users }
`
  const normal = await startGateway(t, routes)
  const off = await startGateway(t, 'server: { overload: { enabled: false, maxHeapUsed: 1kb } }\n' + routes)
  for (const gw of [normal, off]) {
    const ready = await request(`${gw.url}/ready`)
    t.equal(ready.statusCode, 200)
    await ready.body.dump()
    const res = await request(`${gw.url}/api/1`)
    t.equal(res.statusCode, 200)
    await res.body.dump()
  }
  t.equal(off.app.overloadReason(), undefined)
  t.equal(origin.hits(), 2)
})
