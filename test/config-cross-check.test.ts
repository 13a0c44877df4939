/**
 * The checks the schema cannot express: references, overlaps, URLs, prefixes, units.
 */
import t from 'tap'
import { parseConfig } from '../src/config/load.js'
import { crossCheck, parseDuration, parseSize } from '../src/config/cross-check.js'
import { refusal as problems } from './support/config-problems.js'

const SERVICES = 'services:\n  users: { urls: [http://127.0.0.1:3001] }\n  orders: { urls: [http://127.0.0.1:3002] }\n'

const route = (...lines: string[]): string => SERVICES + 'routes:\n' + lines.map(l => `  - ${l}\n`).join('')

t.test('unknown service: did you mean, or the list of services', async t => {
  t.same(problems(route('{ proxy: /a, service: user }')), ['routes[0].service: unknown service "user" (did you mean "users"?)'])
  t.same(problems(route('{ proxy: /a, service: billing }')), [
    'routes[0].service: unknown service "billing"; define it under "services" or use one of: "users", "orders"'
  ])
  t.same(problems(route('{ proxy: /a, service: constructor }')), [
    'routes[0].service: unknown service "constructor"; define it under "services" or use one of: "users", "orders"'
  ], 'names of Object.prototype are not services')
})

t.test('duplicate and overlapping prefixes', async t => {
  t.same(problems(route('{ proxy: /api/users, service: users }', '{ proxy: /api/orders, service: orders }', '{ proxy: /api/users, service: orders }')), [
    'routes[2].proxy: "/api/users" is already routed by routes[0]; merge the two routes, or give one a different prefix'
  ])
  t.same(problems(route('{ proxy: /api/users, service: users }', '{ proxy: /api/users/, service: users }')), [
    'routes[1].proxy: "/api/users/" overlaps routes[0] ("/api/users"): they differ only by a trailing slash, so both match the same requests; keep one'
  ])
  t.doesNotThrow(() => parseConfig(route('{ proxy: /, service: users }', '{ proxy: /api, service: users }', '{ proxy: /api/users, service: users }'), { env: {} }),
    'nested prefixes are fine: the longest match wins')
})

t.test('proxy prefixes: leading slash, no query, fragment, params or wildcards', async t => {
  t.same(problems(route('{ proxy: api/users, service: users }')), ['routes[0].proxy: must start with "/" (found "api/users"); write "/api/users"'])
  t.same(problems(route('{ proxy: "/api?v=1", service: users }', '{ proxy: "/b#top", service: users }')), [
    'routes[0].proxy: must be a path without "?" or "#" (found "/api?v=1"); routes match the path only, and the query string is forwarded as is',
    'routes[1].proxy: must be a path without "?" or "#" (found "/b#top"); routes match the path only, and the query string is forwarded as is'
  ])
  t.same(problems(route('{ proxy: "/api/users/:id", service: users }', '{ proxy: "/files/*", service: users }', '{ proxy: "/:tenant", service: users }')), [
    'routes[0].proxy: path parameters (":id") and wildcards ("*") are not supported in a proxy prefix (found "/api/users/:id"); use the fixed part "/api/users", which forwards everything under it',
    'routes[1].proxy: path parameters (":id") and wildcards ("*") are not supported in a proxy prefix (found "/files/*"); use the fixed part "/files", which forwards everything under it',
    'routes[2].proxy: path parameters (":id") and wildcards ("*") are not supported in a proxy prefix (found "/:tenant"); use the fixed part "/", which forwards everything under it'
  ])
})

t.test('rewrites', async t => {
  t.same(problems(route('{ proxy: /a, service: users, rewrite: users }', '{ proxy: /b, service: users, rewrite: "/b?x=1" }')), [
    'routes[0].rewrite: must start with "/" (found "users"); write "/users"',
    'routes[1].rewrite: must be a path without "?" or "#" (found "/b?x=1"); the query string of each request is forwarded as is'
  ])
})

t.test('durations and sizes name the key and give an example', async t => {
  t.same(problems(`
server: { bodyLimit: 1 megabyte, shutdownTimeout: soon }
services:
  users: { urls: [http://127.0.0.1:3001], timeout: 2 sex, connectTimeout: 0, keepAliveTimeout: -1s }
routes:
  - { proxy: /a, service: users, bodyLimit: 0kb }
`), [
    'server.bodyLimit: "1 megabyte" is not a size; write a number with a unit, e.g. "512kb", "1mb" or "100mb", or an integer of bytes',
    'server.shutdownTimeout: "soon" is not a duration; write a number with a unit, e.g. "500ms", "2s" or "5m", or an integer of milliseconds',
    'services.users.timeout: "2 sex" is not a duration; write a number with a unit, e.g. "500ms", "2s" or "5m", or an integer of milliseconds',
    'services.users.connectTimeout: must be greater than 0 (found 0); e.g. "500ms", "2s" or "5m"',
    'services.users.keepAliveTimeout: must be greater than 0 (found "-1s"); e.g. "500ms", "2s" or "5m"',
    'routes[0].bodyLimit: must be greater than 0 (found "0kb"); e.g. "512kb", "1mb" or "100mb"'
  ])
})

t.test('parseDuration and parseSize', async t => {
  t.equal(parseDuration('500ms'), 500)
  t.equal(parseDuration('2s'), 2000)
  t.equal(parseDuration('5m'), 300000)
  t.equal(parseDuration(1500), 1500)
  t.equal(parseDuration('1.5s'), 1500)
  t.equal(parseDuration('soon'), undefined)
  t.equal(parseDuration(1.5), undefined)
  t.equal(parseSize('1mb'), 1048576)
  t.equal(parseSize('512kb'), 524288)
  t.equal(parseSize('1MB'), 1048576)
  t.equal(parseSize(2048), 2048)
  t.equal(parseSize('100'), 100)
  t.equal(parseSize('1 megabyte'), undefined, 'bytes.parse would say 1')
  t.equal(parseSize(true), undefined)
})

t.test('service URLs: absolute http(s), scheme host and port only, no duplicates', async t => {
  t.same(problems(`
services:
  users: { urls: ["http://127.0.0.1:3001/api", "http://127.0.0.1:3002?x=1", "http://127.0.0.1:3003#f", "127.0.0.1:3004", "localhost:3005", "ftp://h:21"] }
  orders: { urls: ["http://127.0.0.1:3002", "http://127.0.0.1:3002/", "http://h:80", "http://h"] }
routes:
  - { proxy: /a, service: users }
  - { proxy: /b, service: orders }
`), [
    'services.users.urls[0]: "http://127.0.0.1:3001/api" has a path ("/api"); write only scheme, host and port ("http://127.0.0.1:3001"): the route\'s rewrite decides the upstream path',
    'services.users.urls[1]: "http://127.0.0.1:3002?x=1" has a query string; write only scheme, host and port ("http://127.0.0.1:3002"): the route\'s rewrite decides the upstream path',
    'services.users.urls[2]: "http://127.0.0.1:3003#f" has a fragment; write only scheme, host and port ("http://127.0.0.1:3003"): the route\'s rewrite decides the upstream path',
    'services.users.urls[3]: "127.0.0.1:3004" is not an absolute URL; write scheme, host and port, e.g. "http://127.0.0.1:3001"',
    'services.users.urls[4]: must be an http:// or https:// URL (found "localhost:3005"); e.g. "http://localhost:3005"',
    'services.users.urls[5]: must be an http:// or https:// URL (found "ftp://h:21"); e.g. "http://h:21"',
    'services.orders.urls[1]: duplicate of urls[0] ("http://127.0.0.1:3002"); list each instance once',
    'services.orders.urls[3]: duplicate of urls[2] ("http://h"); list each instance once'
  ])
})

t.test('redis store URL', async t => {
  t.same(problems('store: { kind: redis, url: "http://r:6379" }\n' + route('{ proxy: /a, service: users }')), [
    'store.url: must be a redis:// or rediss:// URL, e.g. "redis://127.0.0.1:6379" (found "http://r:6379")'
  ])
})

t.test('no services, no routes: nothing to serve', async t => {
  t.same(problems('services: {}\nroutes:\n  - { proxy: /a, service: users }\n'), [
    'services: no services are defined; add one, e.g. users: { urls: [http://127.0.0.1:3001] }'
  ], 'and no "unknown service" on top')
  t.same(problems(SERVICES), ['routes: no routes are defined, so there is nothing to serve; add one, e.g. - { proxy: /api/users, service: users }'])
  t.same(problems(SERVICES + 'routes: []\n'), ['routes: no routes are defined, so there is nothing to serve; add one, e.g. - { proxy: /api/users, service: users }'])
})

t.test('a service no route uses is fine', async t => {
  const config = parseConfig(route('{ proxy: /a, service: users }'), { env: {} })
  t.ok(config.services.orders)
})

t.test('crossCheck tolerates malformed documents (the validator reports their shape)', async t => {
  t.same(crossCheck(null), [])
  t.same(crossCheck({ services: 'x', routes: 'y', server: 3, store: [] }), [])
  t.same(crossCheck({ services: { users: { urls: [1, null] } }, routes: [null, { proxy: 3, service: [] }] }), [])
})

t.test('the gateway\'s own endpoints cannot be shadowed by a route', async t => {
  t.same(problems(route('{ proxy: /health, service: users }')), [
    'routes[0].proxy: "/health" is reserved for the gateway\'s own endpoints (/health, /ready, /metrics, /admin); choose another prefix, e.g. "/api/health"'
  ])
  t.same(problems(route('{ proxy: /admin/users, service: users }')), [
    'routes[0].proxy: "/admin" is reserved for the gateway\'s own endpoints (/health, /ready, /metrics, /admin); choose another prefix, e.g. "/api/admin/users"'
  ])
  t.doesNotThrow(() => parseConfig(route('{ proxy: /healthcheck, service: users }'), { env: {} }), 'a longer name is not reserved')
})

t.test('a Redis key prefix cannot carry its own hash tag', async t => {
  t.same(problems('store: { kind: redis, url: "redis://127.0.0.1:6379", prefix: "app{1}:" }\n' + route('{ proxy: /a, service: users }')), [
    'store.prefix: must not contain "{" or "}" (found "app{1}:"); Junction adds its own hash tags for Redis Cluster'
  ])
})

t.test('a trailing slash on a prefix is normalised away', async t => {
  const config = parseConfig(route('{ proxy: /api/users/, service: users }', '{ proxy: /, service: orders }'), { env: {} })
  const prefix = (i: number): string | undefined => { const r = config.routes[i]; return r?.kind === 'proxy' ? r.prefix : undefined }
  t.equal(prefix(0), '/api/users')
  t.equal(prefix(1), '/')
})
