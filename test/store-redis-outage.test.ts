/**
 * Redis unreachable under a running gateway (docs/deployment.md, "When Redis is down"),
 * killed (SIGKILL: the connection drops) or frozen (SIGSTOP: the connection stays open
 * and nothing answers):
 *
 * - cached reads go to the service (X-Cache: BYPASS), writes are refused with 503
 *   JUNCTION_STORE_UNAVAILABLE before reaching the owner, /ready is 503, /health 200;
 *   every answer comes within the store timeout (each request below is bounded);
 * - once Redis is back (restarted from its AOF, or continued) everything resumes without
 *   a restart of the gateway: ready, cache hits, writes accepted, and deliveries
 *   acknowledged before the outage (held back by a failing dependent) arrive.
 */
import t from 'tap'
import { request } from 'undici'
import { startGateway, type TestGateway } from './support/gateway.js'
import { startRedis, type RedisServer } from './support/redis-server.js'
import { call, control, divergent, eventually, FAST_OUTBOX, startDemo, writeConfig } from './support/writes.js'

/** Generous bound on one answer: a hang fails the test instead of stalling it. */
const ANSWER_BOUND_MS = 10_000

interface Got { status: number, headers: Record<string, string | string[] | undefined>, body: any }

async function get (url: string): Promise<Got> {
  const res = await request(url, { headersTimeout: ANSWER_BOUND_MS, bodyTimeout: ANSWER_BOUND_MS })
  const text = await res.body.text()
  let body: unknown = text
  try { body = JSON.parse(text) } catch {}
  return { status: res.statusCode, headers: res.headers, body }
}

async function put (gw: TestGateway, id: string, name: string): Promise<Got> {
  const res = await request(`${gw.url}/api/users/${id}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name, email: `u${id}@example.com` }),
    headersTimeout: ANSWER_BOUND_MS,
    bodyTimeout: ANSWER_BOUND_MS
  })
  const text = await res.body.text()
  let body: unknown = text
  try { body = JSON.parse(text) } catch {}
  return { status: res.statusCode, headers: res.headers, body }
}

const CACHED = `
  - { proxy: /cached/users, service: users, rewrite: /users, cache: { ttl: 60s } }
`

for (const how of ['SIGKILL', 'SIGSTOP'] as const) {
  t.test(`Redis ${how === 'SIGKILL' ? 'killed and restarted from its AOF' : 'frozen and continued'}: bypass, 503s, then everything resumes`, async t => {
    const redis: RedisServer = await startRedis(t, { appendonly: true })
    const demo = await startDemo(t)
    const gw = await startGateway(t, writeConfig(demo, { extra: FAST_OUTBOX, timeout: '1s' }) + CACHED, { env: { JUNCTION_STORE_URL: redis.url } })

    // Before: a cached read is a HIT the second time; writes are acknowledged while one
    // dependent fails, so their deliveries to it wait in the outbox (in Redis) through the outage.
    t.equal((await get(`${gw.url}/cached/users/2`)).headers['x-cache'], 'MISS')
    t.equal((await get(`${gw.url}/cached/users/2`)).headers['x-cache'], 'HIT')
    await control(demo.urls.orders, { failNext: { count: 100_000, status: 503 } })
    for (const id of ['1', '3']) t.equal((await put(gw, id, `before ${id}`)).status, 200, `write to ${id} acknowledged before the outage`)
    t.same(divergent(demo, 3), ['1', '3'], 'their copies at orders are still pending')

    if (how === 'SIGKILL') await redis.kill('SIGKILL')
    else redis.signal('SIGSTOP')
    // Known down within a heartbeat and a command timeout.
    t.ok(await eventually(async () => (await get(`${gw.url}/ready`)).status === 503, 10_000), '/ready is 503')
    const ready = await get(`${gw.url}/ready`)
    t.match(ready.body, { code: 'JUNCTION_NOT_READY', detail: 'The redis store is not reachable.' })
    t.equal((await get(`${gw.url}/health`)).status, 200, 'alive all the same')

    const read = await get(`${gw.url}/cached/users/2`)
    t.equal(read.status, 200, 'a cached read is answered by the service')
    t.equal(read.headers['x-cache'], 'BYPASS')
    t.match(read.body, { id: '2' })

    const usersBefore = (await call(`${demo.urls.users}/users/4`, 'GET')).body.version
    const refused = await put(gw, '4', 'during the outage')
    t.equal(refused.status, 503, 'a write is refused')
    t.match(refused.headers['content-type'], /^application\/problem\+json/)
    t.equal(refused.headers['retry-after'], '1')
    t.match(refused.body, { code: 'JUNCTION_STORE_UNAVAILABLE', detail: /nothing was written/ })
    t.equal((await call(`${demo.urls.users}/users/4`, 'GET')).body.version, usersBefore, 'the owner never saw it')

    if (how === 'SIGKILL') await redis.restart()
    else redis.signal('SIGCONT')
    await control(demo.urls.orders, { failNext: { count: 0 } })

    t.ok(await eventually(async () => (await get(`${gw.url}/ready`)).status === 200, 15_000), 'ready again, without restarting the gateway')
    t.ok(await eventually(async () => (await get(`${gw.url}/cached/users/1`)).headers['x-cache'] === 'MISS', 10_000), 'the cache is used again')
    t.equal((await get(`${gw.url}/cached/users/1`)).headers['x-cache'], 'HIT')
    t.equal((await put(gw, '4', 'after the outage')).status, 200, 'writes are accepted again')
    t.ok(await eventually(async () => divergent(demo, 4).length === 0, 20_000),
      `every copy converges, the deliveries acknowledged before the outage included (divergent: ${divergent(demo, 4).join(',')})`)
  })
}
