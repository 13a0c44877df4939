/**
 * POST /admin/cache/purge through a real gateway: by tags, by keys, by route; the admin
 * token guards it; malformed requests get 400 and an unknown route 404, as problem+json.
 */
import t from 'tap'
import { request } from 'undici'
import { RouteCache } from '../src/cache/route-cache.js'
import { startGateway } from './support/gateway.js'
import { startCacheOrigin } from './support/cache-origin.js'

const TOKEN = 'purge-token'

t.test('purge by tags, keys and route', async t => {
  const origin = await startCacheOrigin(t, { headers: { 'content-type': 'application/json' }, body: '{"id":"9"}' })
  const gw = await startGateway(t, `services:
  catalog: { urls: ["${origin.url}"] }
routes:
  - { proxy: /api/products, service: catalog, cache: { ttl: 1m, tags: ["product:{response.id}"] } }
`, { env: { JUNCTION_ADMIN_TOKEN: TOKEN } })
  const get = async (path: string): Promise<string> => {
    const res = await request(gw.url + path)
    await res.body.dump()
    return String(res.headers['x-cache'])
  }
  const purge = async (body: unknown, token = TOKEN): Promise<{ status: number, body: any }> => {
    const res = await request(`${gw.url}/admin/cache/purge`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) })
    return { status: res.statusCode, body: await res.body.json() }
  }
  const warm = async (...paths: string[]): Promise<void> => {
    for (const path of paths) await get(path)
    for (const path of paths) t.equal(await get(path), 'HIT', `${path} cached`)
  }

  await warm('/api/products/1', '/api/products/2')
  t.same(await purge({ tags: ['product:9'] }), { status: 200, body: { tags: 1 } }, 'a tag read from the response')
  t.equal(await get('/api/products/1'), 'MISS')
  t.equal(await get('/api/products/2'), 'MISS')

  await warm('/api/products/1', '/api/products/2')
  t.same(await purge({ tags: ['uri:/api/products/1'] }), { status: 200, body: { tags: 1 } }, 'the implicit URI tag')
  t.equal(await get('/api/products/1'), 'MISS')
  t.equal(await get('/api/products/2'), 'HIT')

  const route = gw.config.routes[0]
  if (route?.kind !== 'proxy' || route.cache === undefined) throw new Error('expected a cached proxy route')
  const key = new RouteCache(route.prefix, route.cache).request({ keyMethod: 'GET', method: 'GET', path: '/api/products/2', query: '', headers: {}, params: {} }).key
  t.same(await purge({ keys: [key] }), { status: 200, body: { keys: 1 } })
  t.equal(await get('/api/products/2'), 'MISS')
  t.equal(await get('/api/products/1'), 'HIT')

  await warm('/api/products/1', '/api/products/2')
  t.same(await purge({ route: '/api/products' }), { status: 200, body: { routes: 1 } })
  t.equal(await get('/api/products/1'), 'MISS')
  t.equal(await get('/api/products/2'), 'MISS')

  t.match(await purge({ route: '/api/nothing' }), { status: 404, body: { code: 'JUNCTION_UNKNOWN_CACHE_ROUTE', detail: 'No cached route has the path "/api/nothing"; cached routes: "/api/products".' } })
  for (const bad of [{}, { tags: [] }, { tags: 'x' }, { tags: ['a'], keys: ['b'] }, { everything: true }, [1]]) {
    t.match(await purge(bad), { status: 400, body: { code: 'JUNCTION_BAD_REQUEST' } }, `refused: ${JSON.stringify(bad)}`)
  }
  t.match(await purge({ tags: ['a'] }, 'wrong'), { status: 401, body: { code: 'JUNCTION_UNAUTHORIZED' } })
})
