/**
 * The multi-instance proof (test/support/scaleout.ts) on one real redis-server: nginx, three
 * `junction start` processes, the demo services.
 */
import t from 'tap'
import { Redis } from 'ioredis'
import { startRedis } from './support/redis-server.js'
import { scaleoutSuite } from './support/scaleout.js'

const redis = await startRedis(t)
await scaleoutSuite(t, {
  name: 'redis',
  storeConfig: { kind: 'redis', url: redis.url, prefix: 'junction:' },
  client: () => new Redis(redis.url),
  servers: () => [new Redis(redis.url)]
})
