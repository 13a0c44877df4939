/**
 * The demo backing services against real sockets: the versioning contract (ETag,
 * If-Match, If-None-Match, tombstones), the copy API's newer-only rule and idempotency
 * replays, and the utility endpoints later gateway tests depend on (echo, bytes, slow,
 * json, control).
 */

import { createHash } from 'node:crypto'
import { Readable } from 'node:stream'
import t from 'tap'
import { request } from 'undici'
import { startDemoServices } from '../examples/services/run.js'
import type { DemoServices } from '../examples/services/run.js'
import { createUsersService } from '../examples/services/users.js'
import { jsonOfSize, patternByteAt, storeOf } from '../examples/services/service.js'
import { EntityStore, mergePatch } from '../examples/services/entity-store.js'

type ResponseData = Awaited<ReturnType<typeof request>>
type Json = Record<string, unknown>

let services: DemoServices
t.before(async () => {
  services = await startDemoServices({ control: true })
})
t.teardown(async () => {
  await services.close()
})

async function call (url: string, opts: Parameters<typeof request>[1] = {}): Promise<{ res: ResponseData, body: unknown, text: string }> {
  const res = await request(url, opts)
  const text = await res.body.text()
  const type = String(res.headers['content-type'] ?? '')
  const body: unknown = type.includes('json') && text.length > 0 ? JSON.parse(text) : undefined
  return { res, body, text }
}

function jsonBody (body: unknown): Json {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new Error('expected a JSON object')
  return body as Json
}

const JSON_HEADERS = { 'content-type': 'application/json' }

async function control (base: string, body: Json): Promise<void> {
  const { res } = await call(`${base}/_control`, { method: 'POST', headers: JSON_HEADERS, body: JSON.stringify(body) })
  if (res.statusCode !== 200) throw new Error(`control failed: ${res.statusCode}`)
}

t.test('health answers on every service', async t => {
  for (const [name, url] of Object.entries(services.urls)) {
    const { res, body } = await call(`${url}/_junction/health`)
    t.equal(res.statusCode, 200)
    t.equal(jsonBody(body).service, name)
  }
})

t.test('GET carries the version in ETag and body; If-None-Match answers 304', async t => {
  const base = services.urls.users
  const { res, body } = await call(`${base}/users/1`)
  t.equal(res.statusCode, 200)
  t.equal(res.headers.etag, '"1"')
  t.match(body, { id: '1', name: 'Ada Lovelace', companyId: '1', version: 1 })

  const notModified = await call(`${base}/users/1`, { headers: { 'if-none-match': '"1"' } })
  t.equal(notModified.res.statusCode, 304)
  t.equal(notModified.res.headers.etag, '"1"')
  t.equal(notModified.text, '')
  const weak = await call(`${base}/users/1`, { headers: { 'if-none-match': '"7", W/"1"' } })
  t.equal(weak.res.statusCode, 304, 'If-None-Match uses the weak comparison')
  const other = await call(`${base}/users/1`, { headers: { 'if-none-match': '"2"' } })
  t.equal(other.res.statusCode, 200)

  const missing = await call(`${base}/users/999`)
  t.equal(missing.res.statusCode, 404)
  t.match(missing.res.headers['content-type'], /^application\/problem\+json/)
  t.match(missing.body, { status: 404, code: 'NOT_FOUND' })
})

t.test('list with ?field=value filtering', async t => {
  const { body } = await call(`${services.urls.orders}/orders?userId=1`)
  t.ok(Array.isArray(body))
  const orders = body as Json[]
  t.same(orders.map(o => o.id), ['1', '2'])
  t.ok(orders.every(o => o.userId === '1' && Array.isArray(o.items) && typeof o.version === 'number'))
  const none = await call(`${services.urls.orders}/orders?userId=1&status=delivered`)
  t.same(none.body, [])
  const products = await call(`${services.urls.catalog}/products?companyId=1`)
  t.equal((products.body as Json[]).length, 3)
  const companies = await call(`${services.urls.catalog}/companies`)
  t.equal((companies.body as Json[]).length, 3)
})

t.test('POST assigns an id, answers 201 with Location and ETag', async t => {
  const base = services.urls.users
  const { res, body } = await call(`${base}/users`, {
    method: 'POST', headers: JSON_HEADERS, body: JSON.stringify({ name: 'New', version: 42 })
  })
  t.equal(res.statusCode, 201)
  const created = jsonBody(body)
  t.equal(created.version, 1, 'a client-sent version is ignored')
  t.equal(res.headers.location, `/users/${String(created.id)}`)
  t.equal(res.headers.etag, '"1"')
  const fetched = await call(`${base}${String(res.headers.location)}`)
  t.match(fetched.body, { name: 'New', version: 1 })

  const dup = await call(`${base}/users`, { method: 'POST', headers: JSON_HEADERS, body: JSON.stringify({ id: '1', name: 'x' }) })
  t.equal(dup.res.statusCode, 409)
  const notObject = await call(`${base}/users`, { method: 'POST', headers: JSON_HEADERS, body: '[1,2]' })
  t.equal(notObject.res.statusCode, 400)
})

t.test('PUT / PATCH / DELETE with If-Match, versions and tombstones', async t => {
  const base = services.urls.catalog
  const put = await call(`${base}/companies/1`, {
    method: 'PUT', headers: { ...JSON_HEADERS, 'if-match': '"1"' }, body: JSON.stringify({ name: 'AE', country: 'GB' })
  })
  t.equal(put.res.statusCode, 200)
  t.equal(put.res.headers.etag, '"2"')
  t.same(put.body, { id: '1', name: 'AE', country: 'GB', version: 2 })

  const stale = await call(`${base}/companies/1`, {
    method: 'PUT', headers: { ...JSON_HEADERS, 'if-match': '"1"' }, body: JSON.stringify({ name: 'lost update' })
  })
  t.equal(stale.res.statusCode, 412)
  t.match(stale.res.headers['content-type'], /^application\/problem\+json/)
  t.match(stale.body, { status: 412, code: 'PRECONDITION_FAILED', currentVersion: 2 })
  const weakIfMatch = await call(`${base}/companies/1`, {
    method: 'PUT', headers: { ...JSON_HEADERS, 'if-match': 'W/"2"' }, body: '{}'
  })
  t.equal(weakIfMatch.res.statusCode, 412, 'If-Match uses the strong comparison')

  const patch = await call(`${base}/companies/1`, {
    method: 'PATCH',
    headers: { 'content-type': 'application/merge-patch+json', 'if-match': '"2"' },
    body: JSON.stringify({ country: null, address: { city: 'London' }, id: 'ignored' })
  })
  t.equal(patch.res.statusCode, 200)
  t.equal(patch.res.headers.etag, '"3"')
  t.same(patch.body, { id: '1', name: 'AE', address: { city: 'London' }, version: 3 })

  const createByPut = await call(`${base}/companies/c9`, { method: 'PUT', headers: JSON_HEADERS, body: JSON.stringify({ name: 'C9' }) })
  t.equal(createByPut.res.statusCode, 201)
  t.equal(createByPut.res.headers.etag, '"1"')
  t.equal(createByPut.res.headers.location, '/companies/c9')

  const ifMatchStarMissing = await call(`${base}/companies/nope`, {
    method: 'PUT', headers: { ...JSON_HEADERS, 'if-match': '*' }, body: '{}'
  })
  t.equal(ifMatchStarMissing.res.statusCode, 412, 'If-Match: * requires existence')
  const ifNoneMatchStar = await call(`${base}/companies/c9`, {
    method: 'PUT', headers: { ...JSON_HEADERS, 'if-none-match': '*' }, body: '{}'
  })
  t.equal(ifNoneMatchStar.res.statusCode, 412, 'If-None-Match: * is create-only')
  const patchMissing = await call(`${base}/companies/nope`, { method: 'PATCH', headers: JSON_HEADERS, body: '{}' })
  t.equal(patchMissing.res.statusCode, 404)

  const delStale = await call(`${base}/companies/1`, { method: 'DELETE', headers: { 'if-match': '"2"' } })
  t.equal(delStale.res.statusCode, 412)
  const del = await call(`${base}/companies/1`, { method: 'DELETE', headers: { 'if-match': '"3"' } })
  t.equal(del.res.statusCode, 204)
  t.equal(del.res.headers.etag, '"4"', 'the tombstone takes the next version')
  const gone = await call(`${base}/companies/1`)
  t.equal(gone.res.statusCode, 410, 'a deleted entity is gone')
  t.equal(gone.res.headers.etag, '"4"', 'with its tombstone version')
  t.equal((await call(`${base}/companies/1`, { method: 'DELETE' })).res.statusCode, 404)
  t.notOk((await call(`${base}/companies`)).text.includes('"AE"'), 'tombstones are not listed')

  const recreate = await call(`${base}/companies/1`, { method: 'PUT', headers: JSON_HEADERS, body: JSON.stringify({ name: 'Back' }) })
  t.equal(recreate.res.statusCode, 201)
  t.equal(recreate.res.headers.etag, '"5"', 're-creation continues the version sequence')
  t.equal(storeOf(services.apps.catalog).versionOf('companies', '1'), 5)

  // POST never hands out a tombstoned id: the new entity would inherit its versions.
  await call(`${base}/companies/4`, { method: 'PUT', headers: JSON_HEADERS, body: '{}' })
  await call(`${base}/companies/4`, { method: 'DELETE' })
  const posted = await call(`${base}/companies`, { method: 'POST', headers: JSON_HEADERS, body: '{"name":"fresh"}' })
  t.not(jsonBody(posted.body).id, '4')
  t.equal(jsonBody(posted.body).version, 1)
})

t.test('copy API: newer-only writes, 409, tombstones, 400 on bad versions', async t => {
  const base = services.urls.orders
  const put = (version: string | undefined, body: Json = { name: `v${version ?? '-'}` }, id = '1'): Promise<{ res: ResponseData, body: unknown }> => {
    const headers: Record<string, string> = { ...JSON_HEADERS }
    if (version !== undefined) headers['x-entity-version'] = version
    return call(`${base}/customers/${id}`, { method: 'PUT', headers, body: JSON.stringify(body) })
  }

  t.match((await call(`${base}/customers/1`)).body, { id: '1', name: 'Ada Lovelace', version: 1 }, 'seeded in sync')
  const v2 = await put('2', { name: 'Ada v2', version: 99 })
  t.equal(v2.res.statusCode, 200)
  t.equal(v2.res.headers.etag, '"2"')
  t.same(v2.body, { id: '1', name: 'Ada v2', version: 2 }, 'the header version wins over the body')

  const same = await put('2')
  t.equal(same.res.statusCode, 409)
  t.match(same.res.headers['content-type'], /^application\/problem\+json/)
  t.match(same.body, { status: 409, code: 'VERSION_CONFLICT', currentVersion: 2, attemptedVersion: 2 })
  t.equal((await put('1')).res.statusCode, 409, 'older is refused')
  t.equal((await put('5')).res.statusCode, 200, 'gaps are fine: only newer matters')
  t.match((await call(`${base}/customers/1`)).body, { name: 'v5', version: 5 })

  for (const bad of [undefined, 'abc', '0', '-1', '1.5', '99999999999999999999']) {
    t.equal((await put(bad)).res.statusCode, 400, `X-Entity-Version ${String(bad)}`)
  }

  const del = await call(`${base}/customers/1`, { method: 'DELETE', headers: { 'x-entity-version': '6' } })
  t.equal(del.res.statusCode, 204)
  const goneCopy = await call(`${base}/customers/1`)
  t.equal(goneCopy.res.statusCode, 410)
  t.equal(goneCopy.res.headers.etag, '"6"')
  t.equal((await put('6')).res.statusCode, 409, 'a tombstone blocks a same-version write')
  const oldDelete = await call(`${base}/customers/1`, { method: 'DELETE', headers: { 'x-entity-version': '6' } })
  t.equal(oldDelete.res.statusCode, 409)
  t.equal((await put('7')).res.statusCode, 200, 'a newer write resurrects')
  t.equal((await call(`${base}/customers/1`, { method: 'DELETE' })).res.statusCode, 400)

  // A delete that overtakes the create still wins: the late create is older.
  const early = await call(`${base}/customers/77`, { method: 'DELETE', headers: { 'x-entity-version': '3' } })
  t.equal(early.res.statusCode, 204)
  t.equal((await put('2', { name: 'late' }, '77')).res.statusCode, 409)

  t.equal((await call(`${services.urls.catalog}/owners/4`)).res.statusCode, 200, 'catalog keeps owners')
  t.equal((await call(`${services.urls.users}/customers/1`)).res.statusCode, 404, 'users keeps no copies')
})

t.test('idempotency keys replay the first answer', async t => {
  const base = services.urls.catalog
  const send = (key: string | undefined, version: string): Promise<{ res: ResponseData, body: unknown }> => {
    const headers: Record<string, string> = { ...JSON_HEADERS, 'x-entity-version': version }
    if (key !== undefined) headers['idempotency-key'] = key
    return call(`${base}/owners/2`, { method: 'PUT', headers, body: JSON.stringify({ name: `Grace ${version}` }) })
  }
  const first = await send('k-1', '3')
  t.equal(first.res.statusCode, 200)
  t.notOk(first.res.headers['idempotent-replayed'])
  const repeat = await send('k-1', '3')
  t.equal(repeat.res.statusCode, 200, 'the repeat is not a 409')
  t.equal(repeat.res.headers['idempotent-replayed'], 'true')
  t.equal(repeat.res.headers.etag, '"3"')
  t.same(repeat.body, first.body)
  t.equal((await send(undefined, '3')).res.statusCode, 409, 'without the key the version check answers')
  const reused = await send('k-1', '4')
  t.equal(reused.res.statusCode, 422, 'the same key on another request is refused')

  const delHeaders = { 'x-entity-version': '9', 'idempotency-key': 'k-del' }
  t.equal((await call(`${base}/owners/2`, { method: 'DELETE', headers: delHeaders })).res.statusCode, 204)
  t.equal((await call(`${base}/owners/2`, { method: 'DELETE', headers: delHeaders })).res.statusCode, 204)

  // Owner writes honour the key too: a retried POST does not create twice.
  const postOpts = { method: 'POST' as const, headers: { ...JSON_HEADERS, 'idempotency-key': 'k-post' }, body: '{"name":"once"}' }
  const a = await call(`${base}/products`, postOpts)
  const b = await call(`${base}/products`, postOpts)
  t.equal(a.res.statusCode, 201)
  t.equal(b.res.statusCode, 201)
  t.equal(a.res.headers.location, b.res.headers.location)
})

t.test('idempotency memory is bounded', async t => {
  const store = new EntityStore({ collections: [], copies: ['c'], idempotencyLimit: 2 })
  for (const key of ['a', 'b', 'c']) store.idempotency.set(key, { fingerprint: key, status: 200, headers: {}, body: undefined })
  t.equal(store.idempotency.size, 2)
  t.notOk(store.idempotency.get('a'), 'the oldest key is forgotten first')
  t.ok(store.idempotency.get('c'))
  t.same(mergePatch({ a: 1, b: { c: 2, d: 3 } }, { b: { c: null }, e: [1] }), { a: 1, b: { d: 3 }, e: [1] })
  t.throws(() => new EntityStore({ collections: ['x'], copies: ['x'] }), /collides/)
})

t.test('echo hashes a streamed body without buffering it', async t => {
  const size = 48 * 1024 * 1024 + 123
  const chunk = Buffer.alloc(1024 * 1024, 7)
  const expected = createHash('sha256')
  let left = size
  const source = new Readable({
    read () {
      if (left === 0) {
        this.push(null)
        return
      }
      const piece = chunk.subarray(0, Math.min(left, chunk.length))
      left -= piece.length
      expected.update(piece)
      this.push(piece)
    }
  })
  const { res, body } = await call(`${services.urls.users}/_echo/some/path?q=1`, {
    method: 'PUT', headers: { 'content-type': 'application/json', 'x-test': 'yes' }, body: source
  })
  t.equal(res.statusCode, 200)
  const echo = jsonBody(body)
  t.equal(echo.method, 'PUT')
  t.equal(echo.url, '/_echo/some/path?q=1')
  t.equal(echo.bodyBytes, size)
  t.equal(echo.bodySha256, expected.digest('hex'))
  t.match(echo.headers, { 'x-test': 'yes', 'transfer-encoding': 'chunked' }, 'not valid JSON, but never parsed')

  const get = await call(`${services.urls.orders}/_echo/x`)
  t.match(get.body, { method: 'GET', bodyBytes: 0, bodySha256: createHash('sha256').digest('hex') })
  const noType = await call(`${services.urls.orders}/_echo/x`, { method: 'POST', body: 'abc' })
  t.match(noType.body, { bodyBytes: 3, bodySha256: createHash('sha256').update('abc').digest('hex') })
})

t.test('_bytes streams the pattern with Content-Length; _json and _slow', async t => {
  const n = 1_000_003
  const res = await request(`${services.urls.catalog}/_bytes/${n}`)
  t.equal(res.statusCode, 200)
  t.equal(res.headers['content-length'], String(n))
  const data = Buffer.from(await res.body.arrayBuffer())
  t.equal(data.length, n)
  let ok = true
  for (let i = 0; i < data.length; i++) if (data[i] !== patternByteAt(i)) { ok = false; break }
  t.ok(ok, 'byte i is i % 256')
  const empty = await call(`${services.urls.catalog}/_bytes/0`)
  t.equal(empty.res.headers['content-length'], '0')
  t.equal((await call(`${services.urls.catalog}/_bytes/x`)).res.statusCode, 400)

  for (const size of [200, 4096, 100_000]) {
    const json = await call(`${services.urls.users}/_json/${size}`)
    t.equal(Buffer.byteLength(json.text), size, `_json/${size} is exactly ${size} bytes`)
    t.equal(jsonBody(json.body).size, size)
  }
  t.equal(jsonOfSize(150).length, 150)

  const started = performance.now()
  const slow = await call(`${services.urls.users}/_slow/150`)
  t.equal(slow.res.statusCode, 200)
  t.ok(performance.now() - started >= 140, 'answered after the delay')
})

t.test('control: delay, failNext, reset and stats', async t => {
  const base = services.urls.users
  await control(base, { resetStats: true })

  await control(base, { delayMs: 120 })
  const started = performance.now()
  t.equal((await call(`${base}/users/2`)).res.statusCode, 200)
  t.ok(performance.now() - started >= 110, 'the delay applies')
  await control(base, { delayMs: 0 })

  await control(base, { failNext: { count: 2, status: 503 } })
  const first = await call(`${base}/users/2`)
  t.equal(first.res.statusCode, 503)
  t.match(first.body, { status: 503, code: 'INJECTED_FAILURE' })
  t.equal((await call(`${base}/_junction/health`)).res.statusCode, 503)
  t.equal((await call(`${base}/users/2`)).res.statusCode, 200, 'only the next N fail')

  await control(base, { failNext: { count: 1, reset: true } })
  await t.rejects(request(`${base}/users/2`), 'the connection is dropped without an answer')
  t.equal((await call(`${base}/users/2`)).res.statusCode, 200)

  await Promise.all(Array.from({ length: 5 }, async () => await call(`${base}/_slow/100`)))
  const { body } = await call(`${base}/_control/stats`)
  const stats = jsonBody(body)
  t.equal(stats.requests, 11)
  t.equal(stats.inFlight, 0)
  t.ok(Number(stats.maxInFlight) >= 5, 'concurrency is seen')
  t.same(stats.byPath, { '/users/2': 5, '/_junction/health': 1, '/_slow/100': 5 })
  t.match(stats.byMethodPath, { 'GET /users/2': 5 })

  const state = await call(`${base}/_control`)
  t.match(state.body, { delayMs: 0, failNext: { count: 0 } })
  const invalid = await call(`${base}/_control`, { method: 'POST', headers: JSON_HEADERS, body: '{"failNext":{"count":-1}}' })
  t.equal(invalid.res.statusCode, 400)
  t.match(invalid.res.headers['content-type'], /^application\/problem\+json/)
})

t.test('control is off unless asked for', async t => {
  const app = createUsersService()
  t.teardown(() => app.close())
  const res = await app.inject({ method: 'GET', url: '/_control/stats' })
  t.equal(res.statusCode, 404)
  const post = await app.inject({ method: 'POST', url: '/_control', payload: { delayMs: 5 } })
  t.equal(post.statusCode, 404)
})
