/**
 * Issue 3 on POSTs whose id the owner assigns, both stores: SIGKILL of the gateway at a
 * random moment of a burst of creations; after the restart every created entity is on
 * every copy at the owner's version, and the owner holds no duplicate (recovery re-sends
 * the interrupted POSTs with their Idempotency-Key: write.owner.idempotencyKey).
 */
import t from 'tap'
import { postCrashScenario } from './support/crash-scenario.js'
import { startRedis } from './support/redis-server.js'

t.test('embedded: SIGKILL mid-burst of POSTs, restart on the same journal', async t => {
  await postCrashScenario(t)
})

t.test('redis: SIGKILL mid-burst of POSTs, a new process on the same Redis', async t => {
  const redis = await startRedis(t, { appendonly: true })
  await postCrashScenario(t, { env: { JUNCTION_STORE_URL: redis.url } })
})
