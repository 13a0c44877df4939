/**
 * Writes that must not propagate: 428 without a required If-Match, the owner's 412 and
 * other 4xx passed through, bodies refused by `validate.body` (never reaching the owner),
 * bad media types and malformed JSON, and an unreachable owner (502 naming it).
 */
import t from 'tap'
import { startGateway } from './support/gateway.js'
import { call, control, startDemo, stats, versionAt, writeConfig } from './support/writes.js'
import { freePort } from './support/origin.js'

t.test('refused writes reach no copy', async t => {
  const demo = await startDemo(t)
  const gw = await startGateway(t, writeConfig(demo, { requireIfMatch: true, validate: true }))
  const { users, orders, catalog } = demo.urls
  for (const base of [users, orders, catalog]) await control(base, { resetStats: true })
  const user = { name: 'Ada', email: 'ada@example.com' }

  const missing = await call(`${gw.url}/api/users/1`, 'PUT', user)
  t.equal(missing.status, 428)
  t.match(missing.headers['content-type'], /^application\/problem\+json/)
  t.match(missing.body, { code: 'JUNCTION_PRECONDITION_REQUIRED', detail: /If-Match/ })

  const stale = await call(`${gw.url}/api/users/1`, 'PUT', user, { 'if-match': '"7"' })
  t.equal(stale.status, 412, 'the owner\'s 412 reaches the client')
  t.match(stale.body, { code: 'PRECONDITION_FAILED', currentVersion: 1 }, 'with the owner\'s problem details')

  const invalid = await call(`${gw.url}/api/users/1`, 'PUT', { name: '', email: 'not-an-email', extra: 1 }, { 'if-match': '"1"' })
  t.equal(invalid.status, 400)
  t.match(invalid.body, { code: 'JUNCTION_INVALID_BODY', errors: [{ pointer: '/name', message: /fewer than 1/ }, { pointer: '/email', message: /format "email"/ }] })
  const missingField = await call(`${gw.url}/api/users`, 'POST', { name: 'x' })
  t.match(missingField.body, { code: 'JUNCTION_INVALID_BODY', errors: [{ pointer: '/email', message: /required/ }] })

  const notJson = await call(`${gw.url}/api/users/1`, 'PUT', '{"name": "Ada",', { 'if-match': '"1"' })
  t.equal(notJson.status, 400)
  t.match(notJson.body, { code: 'JUNCTION_INVALID_BODY', detail: /not valid JSON/ })
  const text = await call(`${gw.url}/api/users/1`, 'PUT', undefined, { 'if-match': '"1"', 'content-type': 'text/plain' })
  t.equal(text.status, 415)

  const absent = await call(`${gw.url}/api/users/99`, 'PATCH', { name: 'x' }, { 'if-match': '*' })
  t.equal(absent.status, 412, 'a conditional write on a missing entity: the owner\'s answer')
  const gone = await call(`${gw.url}/api/users/99`, 'DELETE', undefined, { 'if-match': '*' })
  t.equal(gone.status, 412)

  const owner = await stats(users)
  t.equal(owner.byMethodPath['PUT /users/1'], 1, 'only the stale PUT reached the owner: 428, 400 and 415 never did')
  t.equal(owner.byMethodPath['POST /users'], undefined)
  t.equal(await versionAt(users, '/users/1'), 1)
  // Give a wrongly enqueued delivery time to show up before checking that none did.
  await new Promise(resolve => setTimeout(resolve, 300))
  t.equal((await stats(orders)).requests, 0, 'orders got nothing')
  t.equal((await stats(catalog)).requests, 0, 'catalog got nothing')
})

t.test('an unreachable owner: 502 naming the service, nothing propagated', async t => {
  const demo = await startDemo(t)
  const port = await freePort()
  const yaml = writeConfig({ ...demo, urls: { ...demo.urls, users: `http://127.0.0.1:${port}` } })
  const gw = await startGateway(t, yaml)
  const res = await call(`${gw.url}/api/users/1`, 'PUT', { name: 'Ada', email: 'ada@example.com' })
  t.equal(res.status, 502)
  t.match(res.body, { code: 'JUNCTION_UPSTREAM_UNAVAILABLE', service: 'users' })
  t.notMatch(JSON.stringify(res.body), String(port), 'the internal URL is not disclosed')
  const intents = await gw.app.store.queue('write-intents').stats()
  t.equal(intents.length, 0, 'a call that never reached the owner leaves no intent behind')
})
