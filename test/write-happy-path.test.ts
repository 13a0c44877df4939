/**
 * PUT, POST, PATCH and DELETE through write routes, with the demo services: the owner is
 * updated, the client gets the owner's answer, and both copies converge to the owner's
 * version (tombstone included).
 */
import t from 'tap'
import { startGateway } from './support/gateway.js'
import { call, eventually, startDemo, versionAt, writeConfig } from './support/writes.js'

t.test('PUT, PATCH, POST and DELETE reach the owner and converge at both copies', async t => {
  const demo = await startDemo(t)
  const gw = await startGateway(t, writeConfig(demo))
  const { users, orders, catalog } = demo.urls
  const converged = (id: string, version: number | undefined) => eventually(async () =>
    await versionAt(orders, `/customers/${id}`) === version && await versionAt(catalog, `/owners/${id}`) === version)

  const put = await call(`${gw.url}/api/users/1`, 'PUT', { name: 'Ada L.', email: 'ada@example.com' }, { 'if-match': '"1"' })
  t.equal(put.status, 200)
  t.equal(put.headers.etag, '"2"', 'the owner\'s ETag')
  t.match(put.body, { id: '1', version: 2, name: 'Ada L.' }, 'the owner\'s representation')
  t.equal(await versionAt(users, '/users/1'), 2)
  t.ok(await converged('1', 2), 'copies at version 2')
  t.match((await call(`${orders}/customers/1`, 'GET')).body, { name: 'Ada L.', email: 'ada@example.com', version: 2 })

  const patch = await call(`${gw.url}/api/users/1`, 'PATCH', { role: 'owner' })
  t.equal(patch.status, 200)
  t.equal(patch.body.version, 3)
  t.ok(await converged('1', 3), 'copies at version 3')
  t.match((await call(`${catalog}/owners/1`, 'GET')).body, { role: 'owner', name: 'Ada L.' })

  const post = await call(`${gw.url}/api/users`, 'POST', { name: 'Edsger', email: 'ed@example.com' })
  t.equal(post.status, 201)
  t.equal(post.headers.location, '/users/5', 'Location as the owner wrote it')
  t.ok(await converged('5', 1), 'the created entity reaches both copies')

  const del = await call(`${gw.url}/api/users/1`, 'DELETE', undefined, { 'if-match': '"3"' })
  t.equal(del.status, 204)
  t.equal(del.headers.etag, '"4"', 'the tombstone\'s version')
  t.ok(await converged('1', undefined), 'copies deleted')
  t.ok(await eventually(async () => {
    const res = await call(`${orders}/customers/1`, 'PUT', { name: 'late' }, { 'x-entity-version': '3' })
    return res.status === 409
  }), 'the copy holds a tombstone at version 4: an older delivery is refused')

  const ok = await call(`${gw.url}/api/users/2`, 'GET')
  t.equal(ok.status, 200, 'reads still go through the proxy route')
})
