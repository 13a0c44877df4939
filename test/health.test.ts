import t from 'tap'
import { request } from 'undici'
import { startGateway } from './support/gateway.js'
import { startRedis } from './support/redis-server.js'

const ROUTES = `
services:
  users: { urls: [http://127.0.0.1:1] }
routes:
  - { proxy: /api/users, service: users }
`

t.test('health and readiness on the embedded store', async t => {
  const gw = await startGateway(t, ROUTES)
  const health = await request(`${gw.url}/health`)
  t.equal(health.statusCode, 200)
  t.same(await health.body.json(), { status: 'ok' })
  const ready = await request(`${gw.url}/ready`)
  t.equal(ready.statusCode, 200)
  t.same(await ready.body.json(), { status: 'ready', store: 'embedded' })
})

t.test('readiness follows the Redis store: 503 while it is down, 200 when it is back', async t => {
  const redis = await startRedis(t)
  const gw = await startGateway(t, ROUTES, { env: { JUNCTION_STORE_URL: redis.url } })
  t.equal(gw.app.store.kind, 'redis', 'JUNCTION_STORE_URL switches the store to Redis')

  const up = await request(`${gw.url}/ready`)
  t.equal(up.statusCode, 200)
  t.same(await up.body.json(), { status: 'ready', store: 'redis' })

  await redis.kill('SIGKILL')
  const down = await request(`${gw.url}/ready`)
  t.equal(down.statusCode, 503)
  t.match(down.headers['content-type'], /^application\/problem\+json/)
  t.match(await down.body.json(), { code: 'JUNCTION_NOT_READY', detail: 'The redis store is not reachable.' })
  const alive = await request(`${gw.url}/health`)
  t.equal(alive.statusCode, 200, 'liveness does not depend on the store')
  await alive.body.dump()

  await redis.restart()
  let status = 0
  for (let i = 0; i < 50 && status !== 200; i++) {
    const res = await request(`${gw.url}/ready`)
    status = res.statusCode
    await res.body.dump()
    if (status !== 200) await new Promise(resolve => setTimeout(resolve, 100))
  }
  t.equal(status, 200, 'ready again once Redis is back, without a restart')
})
