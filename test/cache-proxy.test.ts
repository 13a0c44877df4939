/**
 * Cached proxy routes end to end through a real gateway and a counting origin: MISS, HIT,
 * STALE (with one background refresh), BYPASS (too large, Range), Age/ETag/304, the URI
 * invalidated by a write through the route, coalescing, and the never-cache rules.
 */
import t from 'tap'
import { request } from 'undici'
import { startGateway } from './support/gateway.js'
import { sleep, startCacheOrigin, type CacheOrigin, type Reply } from './support/cache-origin.js'

interface Got { status: number, headers: Record<string, string | string[] | undefined>, body: string }

async function get (url: string, headers: Record<string, string> = {}, method: 'GET' | 'HEAD' | 'PUT' | 'POST' = 'GET'): Promise<Got> {
  const res = await request(url, { method, headers })
  return { status: res.statusCode, headers: res.headers, body: await res.body.text() }
}

const config = (origin: CacheOrigin, cache = 'ttl: 300ms, staleWhileRevalidate: 5s', extra = ''): string => `${extra}
services:
  catalog: { urls: ["${origin.url}"], timeout: 2s }
routes:
  - proxy: /api/products
    service: catalog
    rewrite: /products
    cache: { ${cache} }
  - { proxy: /api/plain, service: catalog, rewrite: /products }
`

t.test('MISS, HIT with Age and ETag, 304, STALE then refreshed', async t => {
  let version = 1
  const origin = await startCacheOrigin(t, () => ({ headers: { 'content-type': 'text/plain' }, body: `v${version}` }))
  const gw = await startGateway(t, config(origin))
  const url = `${gw.url}/api/products/1`

  const miss = await get(url)
  t.equal(miss.headers['x-cache'], 'MISS')
  t.equal(miss.body, 'v1')
  t.match(miss.headers.etag, /^"[\w-]{32}"$/, 'an ETag made from the body')
  const hit = await get(url)
  t.equal(hit.headers['x-cache'], 'HIT')
  t.equal(hit.body, 'v1')
  t.equal(hit.headers.age, '0')
  t.equal(hit.headers.etag, miss.headers.etag, 'the same ETag')
  t.equal(origin.count(), 1, 'one call to the service')

  const conditional = await get(url, { 'if-none-match': String(hit.headers.etag) })
  t.equal(conditional.status, 304)
  t.equal(conditional.body, '')
  t.equal(conditional.headers['x-cache'], 'HIT')
  t.equal(origin.count(), 1, 'the 304 came from the cache')

  t.equal((await get(`${url}?b=2&a=1`)).headers['x-cache'], 'MISS', 'another query is another key')
  t.equal((await get(`${url}?a=1&b=2`)).headers['x-cache'], 'HIT', 'query order does not matter')

  version = 2
  await sleep(400)
  const stale = await get(url)
  t.equal(stale.headers['x-cache'], 'STALE', 'past ttl, within staleWhileRevalidate')
  t.equal(stale.body, 'v1')
  let fresh: Got | undefined
  for (let i = 0; i < 100; i++) {
    fresh = await get(url)
    if (fresh.body === 'v2') break
    await sleep(10)
  }
  t.equal(fresh?.body, 'v2', 'the background refresh stored the new answer')
  t.equal(fresh?.headers['x-cache'], 'HIT')

  const plain = await get(`${gw.url}/api/plain/1`)
  t.equal(plain.headers['x-cache'], undefined, 'a route without cache is untouched')
})

t.test('a 2xx write through the route invalidates the URI before its answer; a 4xx does not', async t => {
  let version = 1
  let writeStatus = 204
  const origin = await startCacheOrigin(t, req => req.method === 'GET' ? { body: `v${version}` } : { status: writeStatus, body: '' })
  const gw = await startGateway(t, config(origin, 'ttl: 1m'))
  const url = `${gw.url}/api/products/7`
  await get(url)
  t.equal((await get(url)).headers['x-cache'], 'HIT')
  writeStatus = 409
  t.equal((await get(url, {}, 'PUT')).status, 409)
  t.equal((await get(url)).headers['x-cache'], 'HIT', 'a refused write changes nothing')
  writeStatus = 204
  version = 2
  t.equal((await get(url, {}, 'PUT')).status, 204)
  const after = await get(url)
  t.equal(after.headers['x-cache'], 'MISS', 'read-your-writes')
  t.equal(after.body, 'v2')
})

t.test('HEAD is answered from the GET entry; a HEAD miss fetches and stores the GET answer', async t => {
  const methods: string[] = []
  const origin = await startCacheOrigin(t, req => { methods.push(req.method ?? ''); return { body: 'hello', headers: { 'content-type': 'text/plain' } } })
  const gw = await startGateway(t, config(origin, 'ttl: 1m'))
  const headFirst = `${gw.url}/api/products/h1`
  const head = await get(headFirst, {}, 'HEAD')
  t.equal(head.status, 200)
  t.equal(head.body, '')
  t.equal(head.headers['x-cache'], 'MISS')
  t.equal(head.headers['content-length'], '5', 'the length of the GET answer')
  const got = await get(headFirst)
  t.equal(got.headers['x-cache'], 'HIT', 'the GET entry the HEAD stored')
  t.equal(got.body, 'hello')
  const getFirst = `${gw.url}/api/products/h2`
  t.equal((await get(getFirst)).headers['x-cache'], 'MISS')
  const head2 = await get(getFirst, {}, 'HEAD')
  t.equal(head2.headers['x-cache'], 'HIT', 'HEAD after GET: one entry')
  t.equal(head2.headers['content-type'], 'text/plain')
  t.same(methods, ['GET', 'GET'], 'two keys, two calls, both GET')
})

t.test('a 2xx write invalidates the Location and Content-Location it names, on the same origin only', async t => {
  let version = 1
  const origin = await startCacheOrigin(t, req => req.method === 'GET'
    ? { body: `v${version}` }
    : { status: 201, body: '', headers: { location: '/products/9', 'content-location': 'http://elsewhere.example/products/8' } })
  const gw = await startGateway(t, config(origin, 'ttl: 1m'))
  for (const id of [8, 9]) await get(`${gw.url}/api/products/${id}`)
  version = 2
  const created = await get(`${gw.url}/api/products`, {}, 'POST')
  t.equal(created.status, 201)
  const nine = await get(`${gw.url}/api/products/9`)
  t.equal(nine.headers['x-cache'], 'MISS', 'Location /products/9 is /api/products/9 through the rewrite')
  t.equal(nine.body, 'v2')
  t.equal((await get(`${gw.url}/api/products/8`)).headers['x-cache'], 'HIT', 'another host\'s URL is not ours to invalidate')
})

t.test('larger than maxEntryBytes: streamed through, BYPASS; Range: BYPASS', async t => {
  const big = Buffer.alloc(300 * 1024, 'x')
  const origin = await startCacheOrigin(t, req => req.url?.endsWith('/big') === true ? { body: big } : { body: 'small' })
  const gw = await startGateway(t, config(origin, 'ttl: 1m', 'cache: { maxEntryBytes: 64kb }'))
  for (let i = 0; i < 2; i++) {
    const res = await get(`${gw.url}/api/products/big`)
    t.equal(res.headers['x-cache'], 'BYPASS')
    t.equal(res.body.length, big.length, 'the whole body')
  }
  t.equal(origin.count(), 2)
  const range = await get(`${gw.url}/api/products/small`, { range: 'bytes=0-1' })
  t.equal(range.headers['x-cache'], 'BYPASS')
  t.equal((await get(`${gw.url}/api/products/small`)).headers['x-cache'], 'MISS', 'the Range answer was not stored')
})

t.test('50 concurrent requests for a cold key: the service sees one', async t => {
  const origin = await startCacheOrigin(t, { body: 'once', delayMs: 100 })
  const gw = await startGateway(t, config(origin, 'ttl: 1m'))
  const answers = await Promise.all(Array.from({ length: 50 }, async () => await get(`${gw.url}/api/products/cold`)))
  t.equal(origin.count(), 1)
  t.ok(answers.every(a => a.status === 200 && a.body === 'once'))
  // Waiters get the fill (MISS); on a loaded machine a request may reach the gateway only
  // after the fill was stored (HIT). Either way the service saw one call.
  t.ok(answers.every(a => a.headers['x-cache'] === 'MISS' || a.headers['x-cache'] === 'HIT'), 'every answer is the fill or the entry it stored')
  t.ok(answers.filter(a => a.headers['x-cache'] === 'MISS').length >= 1)
  t.comment(`coalescing: 50 concurrent cold requests → ${origin.count()} upstream call`)
})

t.test('never cached: Set-Cookie, no-store, private, Authorization', async t => {
  const origin = await startCacheOrigin(t, (req): Reply => {
    const url = req.url ?? ''
    if (url.endsWith('/cookie')) return { headers: { 'set-cookie': 'sid=1' }, body: 'c' }
    if (url.endsWith('/no-store')) return { headers: { 'cache-control': 'no-store' }, body: 'n' }
    if (url.endsWith('/private')) return { headers: { 'cache-control': 'private, max-age=60' }, body: 'p' }
    if (url.endsWith('/public')) return { headers: { 'cache-control': 'public' }, body: 'pub' }
    return { body: 'a' }
  })
  const gw = await startGateway(t, config(origin, 'ttl: 1m'))
  for (const path of ['cookie', 'no-store', 'private']) {
    const before = origin.count()
    const first = await get(`${gw.url}/api/products/${path}`)
    const second = await get(`${gw.url}/api/products/${path}`)
    t.equal(origin.count() - before, 2, `${path}: both requests reach the service`)
    t.equal(first.headers['x-cache'], 'MISS', `${path}: MISS`)
    t.equal(second.headers['x-cache'], 'MISS', `${path}: not stored`)
  }
  t.equal((await get(`${gw.url}/api/products/cookie`)).headers['set-cookie'], 'sid=1', 'the cookie still reaches its client')

  const before = origin.count()
  const auth = { authorization: 'Bearer alice' }
  t.equal((await get(`${gw.url}/api/products/auth`, auth)).headers['x-cache'], 'BYPASS')
  t.equal((await get(`${gw.url}/api/products/auth`, auth)).headers['x-cache'], 'BYPASS')
  t.equal((await get(`${gw.url}/api/products/auth`)).headers['x-cache'], 'MISS', 'the authorized answer was not stored for others')
  t.equal(origin.count() - before, 3)
  await get(`${gw.url}/api/products/public`, auth)
  t.equal((await get(`${gw.url}/api/products/public`, auth)).headers['x-cache'], 'HIT', 'public answers may be cached with Authorization')
})

t.test('key.identity caches per caller', async t => {
  const origin = await startCacheOrigin(t, req => ({ body: `for ${String(req.headers.authorization)}` }))
  const gw = await startGateway(t, config(origin, 'ttl: 1m, key: { identity: authorization }'))
  const url = `${gw.url}/api/products/me`
  t.equal((await get(url, { authorization: 'Bearer alice' })).headers['x-cache'], 'MISS')
  const alice = await get(url, { authorization: 'Bearer alice' })
  t.equal(alice.headers['x-cache'], 'HIT')
  t.equal(alice.body, 'for Bearer alice')
  const bob = await get(url, { authorization: 'Bearer bob' })
  t.equal(bob.headers['x-cache'], 'MISS', 'another caller, another entry')
  t.equal(bob.body, 'for Bearer bob')
})
