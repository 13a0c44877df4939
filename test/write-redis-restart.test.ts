/**
 * redis-server SIGKILLed mid-burst and restarted from its AOF (appendfsync always): what
 * Redis acknowledged (intents, deliveries) survives, writes refused meanwhile propagate
 * nothing, and once Redis is back every copy converges to the owner's final versions.
 */
import t from 'tap'
import { startGateway } from './support/gateway.js'
import { startRedis } from './support/redis-server.js'
import { burst, divergent, eventually, FAST_OUTBOX, startDemo, writeConfig } from './support/writes.js'

t.test('Redis killed and restarted mid-burst: the copies converge', async t => {
  const redis = await startRedis(t, { appendonly: true })
  const demo = await startDemo(t)
  const gw = await startGateway(t, writeConfig(demo, { extra: FAST_OUTBOX, timeout: '1s' }), { env: { JUNCTION_STORE_URL: redis.url } })
  const entities = 50
  const killAt = 200 + Math.floor(Math.random() * 600)
  t.comment(`redis-server SIGKILL after ${killAt} completed writes`)
  let outage: Promise<void> | undefined
  const result = await burst(() => gw.url, {
    total: 2000,
    entities,
    clients: 8,
    onDone: completed => {
      if (completed === killAt) {
        outage = (async () => {
          await redis.kill('SIGKILL')
          await new Promise(resolve => setTimeout(resolve, 1000))
          await redis.restart()
        })()
      }
      return false
    }
  })
  await outage
  t.comment(`${result.ok} writes acknowledged, ${result.failed} refused or failed, in ${result.ms} ms`)
  // While Redis is down writes are refused (503, nothing acknowledged without a durable
  // outbox entry); once it is back they are acknowledged again. (Refusals are fast: the
  // burst above is usually over before Redis returns, so the writes after it come next.)
  t.ok(await eventually(async () => (await fetch(`${gw.url}/ready`)).status === 200, 10_000), 'ready again once Redis is back')
  const after = await burst(() => gw.url, { total: 300, entities, clients: 8 })
  t.comment(`after the restart: ${after.ok} writes acknowledged, ${after.failed} refused or failed`)
  t.equal(after.ok, 300, 'writes are acknowledged again after Redis came back')
  const done = Date.now()
  t.ok(await eventually(async () => divergent(demo, entities).length === 0, 40_000), `every copy converges (divergent: ${divergent(demo, entities).join(',')})`)
  t.comment(`converged ${Date.now() - done} ms after the burst`)
})
