/**
 * A declared projection: orders keeps only `pick: [id, name, email]` of a user, catalog
 * the whole representation.
 */
import t from 'tap'
import { startGateway } from './support/gateway.js'
import { call, eventually, startDemo, versionAt, writeConfig } from './support/writes.js'

t.test('the dependent receives the projection; the other the whole representation', async t => {
  const demo = await startDemo(t)
  const gw = await startGateway(t, writeConfig(demo, { pick: true }))
  const res = await call(`${gw.url}/api/users/3`, 'PUT', { name: 'Alan M. Turing', email: 'alan@example.com', companyId: '2', role: 'member', secret: 's3' })
  t.equal(res.status, 200)
  t.ok(await eventually(async () => await versionAt(demo.urls.orders, '/customers/3') === 2 && await versionAt(demo.urls.catalog, '/owners/3') === 2))
  const customer = (await call(`${demo.urls.orders}/customers/3`, 'GET')).body
  t.same(customer, { id: '3', version: 2, name: 'Alan M. Turing', email: 'alan@example.com' }, 'only the picked fields (and the copy\'s own id and version)')
  const owner = (await call(`${demo.urls.catalog}/owners/3`, 'GET')).body
  t.match(owner, { name: 'Alan M. Turing', companyId: '2', role: 'member', secret: 's3' })
})
