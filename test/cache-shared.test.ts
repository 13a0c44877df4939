/**
 * Two gateways sharing one real redis-server: a write through A invalidates the answer B
 * holds in its in-process tier, within a bounded time (measured and printed), and a cold
 * key requested through both at once reaches the service once.
 */
import { performance } from 'node:perf_hooks'
import t from 'tap'
import { startGateway } from './support/gateway.js'
import { startRedis } from './support/redis-server.js'
import { sleep, startCacheOrigin } from './support/cache-origin.js'
import { call, startDemo, writeConfig } from './support/writes.js'

const profileRoute = `  - get: /api/users/:id/profile
    compose:
      user:    { service: users,   path: "/users/{params.id}" }
    cache: { ttl: 10m, tags: ["user:{params.id}"] }
`

t.test('a write through A invalidates B\'s cached profile', async t => {
  const redis = await startRedis(t)
  const demo = await startDemo(t)
  const env = { JUNCTION_STORE_URL: redis.url }
  const a = await startGateway(t, writeConfig(demo) + profileRoute, { env })
  const b = await startGateway(t, writeConfig(demo) + profileRoute, { env })
  const delays: number[] = []
  const afterAnswer: number[] = []
  for (let round = 0; round < 10; round++) {
    const profile = `${b.url}/api/users/2/profile`
    await call(profile, 'GET')
    t.equal((await call(profile, 'GET')).headers['x-cache'], 'HIT', `round ${round}: B holds it`)
    const name = `Grace ${round}`
    const start = performance.now()
    const put = await call(`${a.url}/api/users/2`, 'PUT', { name, email: 'grace@example.com' })
    t.equal(put.status, 200)
    const answered = performance.now()
    let seen: string | undefined
    for (let i = 0; i < 1500; i++) {
      const res = await call(profile, 'GET')
      if (res.body.user.name === name) {
        seen = res.headers['x-cache'] as string
        break
      }
      await sleep(2)
    }
    t.equal(seen, 'MISS', `round ${round}: B refilled with the new name`)
    delays.push(performance.now() - start)
    afterAnswer.push(performance.now() - answered)
  }
  afterAnswer.sort((x, y) => x - y)
  delays.sort((x, y) => x - y)
  const p50 = delays[5]!
  const max = delays[9]!
  t.comment(`write through A → B serves the new version: p50 ${p50.toFixed(1)} ms, max ${max.toFixed(1)} ms (10 rounds, write included); after A's answer: p50 ${afterAnswer[5]!.toFixed(1)} ms, max ${afterAnswer[9]!.toFixed(1)} ms`)
  t.ok(max < 3000, 'bounded')
})

t.test('coalescing across two gateways on one redis-server', async t => {
  const redis = await startRedis(t)
  const origin = await startCacheOrigin(t, { body: 'shared', delayMs: 150 })
  const yaml = `services:
  catalog: { urls: ["${origin.url}"] }
routes:
  - { proxy: /api/products, service: catalog, cache: { ttl: 1m } }
`
  const env = { JUNCTION_STORE_URL: redis.url }
  const a = await startGateway(t, yaml, { env })
  const b = await startGateway(t, yaml, { env })
  const answers = await Promise.all(Array.from({ length: 50 }, async (_, i) => await call(`${i % 2 === 0 ? a.url : b.url}/api/products/1`, 'GET')))
  t.ok(answers.every(x => x.status === 200 && x.body === 'shared'))
  t.equal(origin.count(), 1, '2 gateways × 25 concurrent cold requests → 1 upstream call')
})
