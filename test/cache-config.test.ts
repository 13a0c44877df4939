/**
 * The cache configuration: `cache:` blocks on proxy and compose routes, a proxy route's
 * `invalidate`, the top-level settings; the normalised form and every error message.
 */
import t from 'tap'
import { parseConfig } from '../src/config/load.js'
import { problemsOf } from './support/config-problems.js'

const SERVICES = `services:
  users: { urls: [http://127.0.0.1:3001] }
  catalog: { urls: [http://127.0.0.1:3003] }
`

const problems = (yaml: string): string[] => problemsOf(SERVICES + yaml)

t.test('normalised blocks and settings', async t => {
  const config = parseConfig(SERVICES + `cache: { l1MaxBytes: 8mb, maxEntryBytes: 256kb }
routes:
  - proxy: /api/products
    service: catalog
    cache: { ttl: 30s, staleWhileRevalidate: 1m, staleIfError: 10m, statuses: [404], key: { query: [page], headers: [Accept-Language], identity: X-User }, tags: ["product:{response.id}"], lock: { ttl: 10s, wait: 500ms } }
    invalidate: [products]
  - proxy: /api/other
    service: catalog
    cache: { mode: http }
  - get: /api/users/:id/profile
    compose:
      user: { service: users, path: "/users/{params.id}" }
    cache: { ttl: 5s, incompleteTtl: 1s, tags: ["user:{params.id}", "company:{user.companyId}"] }
`, { env: {} })
  t.same(config.cache, { l1MaxBytes: 8 * 1024 * 1024, maxEntryBytes: 256 * 1024 })
  t.match(config.routes[0], {
    cache: { mode: 'ttl', ttlMs: 30000, staleWhileRevalidateMs: 60000, staleIfErrorMs: 600000, statuses: [404], incompleteTtlMs: 0 },
    invalidate: ['products']
  })
  t.match(config.routes[0], {
    cache: { key: { query: ['page'], headers: ['accept-language'], identity: 'x-user' }, tags: ['product:{response.id}'], lock: { ttlMs: 10_000, waitMs: 500 } },
    invalidate: ['products']
  })
  t.match(config.routes[1], { cache: { mode: 'http', ttlMs: 0, key: { query: undefined, headers: [], identity: undefined }, lock: { ttlMs: 5000, waitMs: 3000 } }, invalidate: [] })
  t.match(config.routes[2], { cache: { ttlMs: 5000, incompleteTtlMs: 1000, tags: ['user:{params.id}', 'company:{user.companyId}'] } })
  t.same(parseConfig(SERVICES + 'routes:\n  - { proxy: /a, service: users }\n', { env: {} }).cache, { l1MaxBytes: 64 * 1024 * 1024, maxEntryBytes: 1024 * 1024 }, 'defaults')
})

t.test('error messages', async t => {
  t.same(problems(`cache: { maxEntryBytes: 0, l1MaxBytes: "lots" }
routes:
  - proxy: /api/products
    service: catalog
    methods: [POST]
    cache: { ttl: "2 sex", staleIfError: 0, incompleteTtl: 1s, statuses: [206, 503], key: { headers: ["accept language"] }, tags: ["p:{params.id}", "p:{user.id}", "p:{response.id"] }
    invalidate: ["product:{params.id}"]
  - proxy: /api/other
    service: catalog
    cache: { mode: http, ttl: 1s, colour: red }
  - proxy: /api/third
    service: catalog
    cache: { staleWhileRevalidate: 1s, lock: { ttl: 0, wait: soon } }
  - get: /api/users/:id/profile
    compose:
      user: { service: users, path: "/users/{params.id}" }
      items: { service: catalog, path: "/items/{each user.itemIds}" }
    cache: { ttl: 1s, tags: ["u:{params.uid}", "c:{usr.companyId}", "i:{items.id}", "q:{query.page}", "x:{}"] }
`), [
    'cache.maxEntryBytes: must be greater than 0 (found 0); e.g. "512kb", "1mb" or "100mb"',
    'cache.l1MaxBytes: "lots" is not a size; write a number with a unit, e.g. "512kb", "1mb" or "100mb", or an integer of bytes',
    'routes[0].cache: this route accepts neither GET nor HEAD, so it has nothing to cache; remove the block or add GET to methods',
    'routes[0].cache.ttl: "2 sex" is not a duration; write a number with a unit, e.g. "500ms", "2s" or "5m", or an integer of milliseconds',
    'routes[0].cache.staleIfError: must be greater than 0 (found 0); e.g. "500ms", "2s" or "5m"',
    'routes[0].cache.incompleteTtl: only compose routes have incomplete answers (an optional part missing); remove it',
    'routes[0].cache.statuses[0]: 206 cannot be cached: a partial (Range) answer is not the whole representation; list 3xx or 4xx statuses',
    'routes[0].cache.statuses[1]: 503 cannot be cached: a server error is never kept (staleIfError serves the last good answer instead); list 3xx or 4xx statuses',
    'routes[0].cache.key.headers[0]: "accept language" is not a header name; write the name only, e.g. "accept-language"',
    'routes[0].cache.tags[0]: "{params.id}": a proxy route\'s tags read its response only; write {response.<field>} or {each response.<field>} (the request\'s URI is tagged automatically)',
    'routes[0].cache.tags[1]: "{user.id}": a proxy route\'s tags read its response only; write {response.<field>} or {each response.<field>} (the request\'s URI is tagged automatically)',
    'routes[0].cache.tags[2]: unclosed "{" in "p:{response.id"; write {params.<name>}, {query.<name>}, {headers.<name>}, {<part>.<field>} or {each <part>.<field>}',
    'routes[0].invalidate[0]: "product:{params.id}" has a placeholder; a proxy route\'s invalidate tags are literal (its request body is streamed, never read), and the request\'s URI is invalidated automatically',
    'routes[1].cache.ttl: has no effect with mode: http (the service\'s Cache-Control or Expires decides freshness); remove it, or use mode: ttl',
    'routes[1].cache.colour: unknown key; allowed keys here: "ttl", "staleWhileRevalidate", "staleIfError", "mode", "statuses", "incompleteTtl", "key", "lock", "tags"',
    'routes[2].cache.ttl: required with mode: ttl (the default); e.g. ttl: 30s, or mode: http to follow the service\'s Cache-Control',
    'routes[2].cache.lock.ttl: must be greater than 0 (found 0); e.g. "500ms", "2s" or "5m"',
    'routes[2].cache.lock.wait: "soon" is not a duration; write a number with a unit, e.g. "500ms", "2s" or "5m", or an integer of milliseconds',
    'routes[3].cache.tags[0]: {params.uid} is not a parameter of the route path (did you mean {params.id}?)',
    'routes[3].cache.tags[1]: {usr.companyId}: no part is named "usr" (did you mean "user"?)',
    'routes[3].cache.tags[2]: {items.id}: part "items" is a collection; read its results through the part it iterates over',
    'routes[3].cache.tags[3]: "{query.page}": tags are made from route parameters ({params.<name>}) and part fields ({<part>.<field>}) only',
    'routes[3].cache.tags[4]: empty placeholder "{}"; write {params.<name>}, {query.<name>}, {headers.<name>}, {<part>.<field>} or {each <part>.<field>}'
  ])
})
