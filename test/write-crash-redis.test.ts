/**
 * Guarantee 2 on Redis: SIGKILL of the gateway process at a random moment of a
 * 2,000-write burst; a new gateway process on the same Redis resolves the intents the
 * dead one left, and every dependent converges to the owner's final versions.
 */
import t from 'tap'
import { gatewayCrashScenario } from './support/crash-scenario.js'
import { startRedis } from './support/redis-server.js'

t.test('SIGKILL mid-burst, a new process on the same Redis: the copies converge', async t => {
  const redis = await startRedis(t, { appendonly: true })
  await gatewayCrashScenario(t, { env: { JUNCTION_STORE_URL: redis.url } })
})
