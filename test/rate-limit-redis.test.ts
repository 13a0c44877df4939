/**
 * Rate limiting with the Redis store: two gateway instances on one real redis-server count
 * in the same window, per subject; the counters live under the store prefix with a hash tag
 * around the whole identity; and when Redis goes away requests go through unlimited (never
 * a 500, never held), the limit coming back with Redis.
 */
import t, { type Test } from 'tap'
import { request } from 'undici'
import { Redis } from 'ioredis'
import { startOrigin } from './support/origin.js'
import { startGateway, type TestGateway } from './support/gateway.js'
import { startRedis, type RedisServer } from './support/redis-server.js'
import { now, signJwt } from './support/jwt.js'

const SECRET = 'a-test-secret-that-is-long-enough-for-hs256'

async function setup (t: Test): Promise<{ a: TestGateway, b: TestGateway, redis: RedisServer, served: () => number }> {
  let served = 0
  const origin = await startOrigin(t, (_req, res) => {
    served++
    res.end('ok')
  })
  const redis = await startRedis(t)
  const yaml = `
auth:
  jwt:
    staff: { secret: "${SECRET}" }
services:
  s: { urls: [${origin.url}] }
routes:
  - { proxy: /by-ip, service: s, public: true, rateLimit: { max: 3, window: 1m } }
  - { proxy: /by-sub, service: s, auth: staff, rateLimit: { max: 2, window: 1m, key: sub } }
`
  const env = { JUNCTION_STORE_URL: redis.url }
  const a = await startGateway(t, yaml, { env })
  const b = await startGateway(t, yaml, { env })
  return { a, b, redis, served: () => served }
}

async function status (url: string, headers: Record<string, string> = {}): Promise<number> {
  const res = await request(url, { headers })
  await res.body.dump()
  return res.statusCode
}

const bearer = (sub: string): Record<string, string> => ({ authorization: `Bearer ${signJwt({ sub, exp: now() + 60 }, { alg: 'HS256', key: SECRET })}` })

t.test('two instances share one limit', async t => {
  const { a, b, served } = await setup(t)
  const seen = [
    await status(`${a.url}/by-ip`), await status(`${b.url}/by-ip`), await status(`${a.url}/by-ip/x`),
    await status(`${b.url}/by-ip`), await status(`${a.url}/by-ip`)
  ]
  t.same(seen, [200, 200, 200, 429, 429], '3 per minute across both instances')
  t.equal(served(), 3)
})

t.test('per subject, across instances', async t => {
  const { a, b } = await setup(t)
  t.equal(await status(`${a.url}/by-sub`, bearer('ada')), 200)
  t.equal(await status(`${b.url}/by-sub`, bearer('grace')), 200)
  t.equal(await status(`${b.url}/by-sub`, bearer('ada')), 200)
  t.equal(await status(`${a.url}/by-sub`, bearer('ada')), 429, 'ada used her two on A and B')
  t.equal(await status(`${a.url}/by-sub`, bearer('grace')), 200, 'grace has one left')
  t.equal(await status(`${b.url}/by-sub`, bearer('grace')), 429)
})

t.test('counters sit under the store prefix, hash-tagged, and expire with the window', async t => {
  const { a, redis } = await setup(t)
  await status(`${a.url}/by-ip`)
  await status(`${a.url}/by-sub`, bearer('{odd}'))
  const client = new Redis(redis.url)
  t.teardown(() => client.disconnect())
  const keys = (await client.keys('*ratelimit*')).sort()
  t.same(keys, [
    'junction:ratelimit:{* /by-ip|127.0.0.1}',
    'junction:ratelimit:{* /by-sub|sub:staff:%7Bodd%7D}'
  ], 'braces in a subject cannot move the hash tag')
  for (const key of keys) {
    const ttl = await client.pttl(key)
    t.ok(ttl > 0 && ttl <= 60_000, `${key} expires within the window (${ttl} ms)`)
  }
})

t.test('Redis away: requests go through unlimited, and the limit returns with Redis', async t => {
  const { a, redis } = await setup(t)
  for (let i = 0; i < 3; i++) t.equal(await status(`${a.url}/by-ip`), 200)
  t.equal(await status(`${a.url}/by-ip`), 429)
  await redis.kill()
  for (let i = 0; i < 5; i++) t.equal(await status(`${a.url}/by-ip`), 200, 'fails open')
  await redis.restart()
  // The data is gone with the killed server (no AOF): a fresh window, counted again once reconnected.
  let limited = false
  for (let i = 0; i < 200 && !limited; i++) {
    limited = await status(`${a.url}/by-ip`) === 429
    if (!limited) await new Promise(resolve => setTimeout(resolve, 25))
  }
  t.ok(limited, 'limited again after Redis came back')
})
