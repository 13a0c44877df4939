/**
 * A dependent answering 503 for a while: writes are acknowledged regardless (the outbox
 * holds the deliveries) and the copy converges once the dependent recovers.
 */
import t from 'tap'
import { startGateway } from './support/gateway.js'
import { call, control, eventually, FAST_OUTBOX, startDemo, versionAt, writeConfig } from './support/writes.js'

t.test('a dependent down for a while catches up', async t => {
  const demo = await startDemo(t)
  const gw = await startGateway(t, writeConfig(demo, { extra: FAST_OUTBOX }))
  await control(demo.urls.orders, { failNext: { count: 15, status: 503 } })
  for (let i = 0; i < 5; i++) {
    const res = await call(`${gw.url}/api/users/4`, 'PUT', { name: `Katherine ${i}`, email: 'k@example.com' })
    t.equal(res.status, 200, `write ${i} acknowledged while orders fails`)
  }
  t.ok(await eventually(async () => await versionAt(demo.urls.catalog, '/owners/4') === 6, 10_000), 'catalog is not held up by orders')
  t.ok(await eventually(async () => await versionAt(demo.urls.orders, '/customers/4') === 6, 20_000), 'orders converges once it answers again')
  const state = await call(`${demo.urls.orders}/_control`, 'GET')
  t.equal(state.body.failNext.count, 0, 'every injected failure was consumed by a delivery attempt')
})
