/**
 * Out-of-order: many concurrent writes to one entity, with a slow dependent so
 * deliveries pile up; both copies end at the owner's final version, on both stores.
 */
import t from 'tap'
import { startGateway } from './support/gateway.js'
import { startRedis } from './support/redis-server.js'
import { call, control, divergent, eventually, FAST_OUTBOX, startDemo, writeConfig } from './support/writes.js'

for (const kind of ['embedded', 'redis'] as const) {
  t.test(`concurrent writes to one entity converge to the final version (${kind})`, async t => {
    const env = kind === 'redis' ? { JUNCTION_STORE_URL: (await startRedis(t)).url } : {}
    const demo = await startDemo(t)
    const gw = await startGateway(t, writeConfig(demo, { extra: FAST_OUTBOX }), { env })
    await control(demo.urls.catalog, { delayMs: 20 })
    const answers = await Promise.all(Array.from({ length: 40 }, (_, i) =>
      call(`${gw.url}/api/users/2`, i % 2 === 0 ? 'PUT' : 'PATCH', { name: `Grace ${i}`, email: 'grace@example.com' })))
    t.same(answers.map(a => a.status).filter(s => s !== 200), [], 'every write acknowledged')
    const versions = answers.map(a => a.body.version as number).sort((a, b) => a - b)
    t.same(versions, Array.from({ length: 40 }, (_, i) => i + 2), 'the owner numbered them 2..41')
    t.ok(await eventually(async () => divergent(demo, 4).length === 0, 20_000), 'both copies at the owner\'s final version')
    const final = await call(`${demo.urls.users}/users/2`, 'GET')
    const copy = await call(`${demo.urls.catalog}/owners/2`, 'GET')
    t.equal(copy.body.version, 41)
    t.equal(copy.body.name, final.body.name, 'with the final representation')
  })
}
