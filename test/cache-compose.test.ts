/**
 * Cached compose routes through a real gateway: hits and 304s without calling the parts,
 * tags from route params and from part fields, invalidation by a write route on the same
 * gateway (read-your-writes), and incomplete answers (cached only with incompleteTtl).
 */
import t from 'tap'
import { request } from 'undici'
import { startGateway } from './support/gateway.js'
import { startCacheOrigin, type Reply } from './support/cache-origin.js'
import { call, startDemo, writeConfig } from './support/writes.js'

const TOKEN = 'cache-admin-token'

const profileRoute = `  - get: /api/users/:id/profile
    compose:
      user:    { service: users,   path: "/users/{params.id}" }
      company: { service: catalog, path: "/companies/{user.companyId}" }
    shape: { rename: { user.name: displayName } }
    cache: { ttl: 1m, tags: ["user:{params.id}", "company:{company.id}"] }
`

t.test('a write through /api/users/:id makes the cached profile a MISS with the new name', async t => {
  const demo = await startDemo(t)
  const gw = await startGateway(t, writeConfig(demo) + profileRoute, { env: { JUNCTION_ADMIN_TOKEN: TOKEN } })
  const profile = `${gw.url}/api/users/1/profile`

  const miss = await call(profile, 'GET')
  t.equal(miss.status, 200)
  t.equal(miss.headers['x-cache'], 'MISS')
  const hit = await call(profile, 'GET')
  t.equal(hit.headers['x-cache'], 'HIT')
  t.same(hit.body, miss.body)
  t.equal(hit.headers.etag, miss.headers.etag, 'the composer\'s strong ETag is kept')
  const notModified = await call(profile, 'GET', undefined, { 'if-none-match': String(hit.headers.etag) })
  t.equal(notModified.status, 304, '304 from the cache')
  t.equal(notModified.headers['x-cache'], 'HIT', 'no part was called')

  const put = await call(`${gw.url}/api/users/1`, 'PUT', { name: 'Ada K.', email: 'ada@example.com', companyId: miss.body.company.id })
  t.equal(put.status, 200)
  const after = await call(profile, 'GET')
  t.equal(after.headers['x-cache'], 'MISS', 'the write invalidated user:1 before answering')
  t.equal(after.body.displayName, 'Ada K.')
  t.equal((await call(profile, 'GET')).headers['x-cache'], 'HIT')

  // A tag read from a part's field: the company of user 1.
  const companyId = String(after.body.company.id)
  const purge = await request(`${gw.url}/admin/cache/purge`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ tags: [`company:${companyId}`] })
  })
  t.equal(purge.statusCode, 200)
  t.same(await purge.body.json(), { tags: 1 })
  t.equal((await call(profile, 'GET')).headers['x-cache'], 'MISS', 'the part-field tag invalidated it')
  t.equal((await call(`${gw.url}/api/users/2/profile`, 'GET')).headers['x-cache'], 'MISS', 'another user, another entry')
})

t.test('incomplete answers: not cached, unless incompleteTtl; parts are not called on hits', async t => {
  let extraFails = true
  const origin = await startCacheOrigin(t, (req): Reply => {
    if (req.url?.startsWith('/extra/') === true) return extraFails ? { status: 500, body: 'down' } : { headers: { 'content-type': 'application/json' }, body: '{"more":true}' }
    return { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id: req.url?.split('/').pop(), tags: ['a', 'b'] }) }
  })
  const route = (path: string, extra: string): string => `  - get: ${path}
    compose:
      main:  { service: svc, path: "/items/{params.id}" }
      extra: { service: svc, path: "/extra/{params.id}", optional: true }
    cache: { ttl: 1m, tags: ["item:{main.id}", "label:{each main.tags}"]${extra} }
`
  const gw = await startGateway(t, `services:
  svc: { urls: ["${origin.url}"] }
routes:
${route('/plain/:id', '')}${route('/lenient/:id', ', incompleteTtl: 1m')}`, { env: { JUNCTION_ADMIN_TOKEN: TOKEN } })

  for (let i = 0; i < 2; i++) {
    const res = await call(`${gw.url}/plain/1`, 'GET')
    t.equal(res.headers['junction-partial'], 'extra')
    t.equal(res.headers['cache-control'], 'no-store')
    t.equal(res.headers['x-cache'], 'MISS', `partial answer ${i + 1}: not stored`)
  }
  await call(`${gw.url}/lenient/1`, 'GET')
  const before = origin.count()
  const kept = await call(`${gw.url}/lenient/1`, 'GET')
  t.equal(kept.headers['x-cache'], 'HIT', 'kept for incompleteTtl')
  t.equal(kept.headers['cache-control'], 'no-store', 'still no-store toward the client')
  t.equal(origin.count(), before, 'a hit calls no part')

  extraFails = false
  const whole = await call(`${gw.url}/plain/1`, 'GET')
  t.equal(whole.headers['x-cache'], 'MISS')
  t.equal((await call(`${gw.url}/plain/1`, 'GET')).headers['x-cache'], 'HIT', 'complete answers are kept')
  const purge = await request(`${gw.url}/admin/cache/purge`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ tags: ['label:b'] })
  })
  await purge.body.dump()
  t.equal((await call(`${gw.url}/plain/1`, 'GET')).headers['x-cache'], 'MISS', 'an {each ...} tag invalidates it')
})
