/**
 * Schema validation as users meet it: every kind of ajv error comes out as one line naming
 * the key (`routes[0].sevice`) and the fix, with union noise collapsed.
 */
import t from 'tap'
import { parseConfig } from '../src/config/load.js'
import { validateConfig } from '../src/config/validate.js'
import { refusal as problems } from './support/config-problems.js'

const SERVICES = 'services:\n  users: { urls: [http://127.0.0.1:3001] }\n'
const ROUTES = 'routes:\n  - { proxy: /api/users, service: users }\n'

t.test('unknown keys suggest the key meant, and the misspelt required key is not reported twice', async t => {
  t.same(problems(SERVICES + 'routes:\n  - { proxy: /api/users, sevice: users }\n'), [
    'routes[0].sevice: unknown key (did you mean "service"?)'
  ])
  t.same(problems('sevrer: { port: 80 }\n' + SERVICES + ROUTES), [
    'sevrer: unknown key (did you mean "server"?)'
  ])
})

t.test('an unknown key with nothing close lists the allowed keys', async t => {
  t.same(problems('server: { colour: blue }\n' + SERVICES + ROUTES), [
    'server.colour: unknown key; allowed keys here: "host", "port", "bodyLimit", "shutdownTimeout", "trustProxy", "logLevel", "maxHeaderSize", "maxHeaders", "headersTimeout", "requestTimeout", "keepAliveTimeout", "overload", "workers"'
  ])
})

t.test('enums list the allowed values and suggest the closest', async t => {
  t.same(problems('server: { logLevel: inof }\n' + SERVICES + ROUTES), [
    'server.logLevel: must be one of "fatal", "error", "warn", "info", "debug", "trace", "silent" (found "inof"; did you mean "info"?)'
  ])
  t.same(problems(SERVICES + 'routes:\n  - { proxy: /api/users, service: users, methods: [get, BREW] }\n'), [
    'routes[0].methods[0]: must be one of "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS" (found "get"; did you mean "GET"?)',
    'routes[0].methods[1]: must be one of "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS" (found "BREW")'
  ])
})

t.test('type errors say what was expected and what was found', async t => {
  t.same(problems('server: { port: eighty, trustProxy: maybe }\n' + SERVICES + ROUTES), [
    'server.port: expected an integer, found a string ("eighty")',
    'server.trustProxy: expected a boolean (true or false) or a list, found a string ("maybe")'
  ])
  t.same(problems(SERVICES + 'routes:\n  - { proxy: /api/users, service: users, bodyLimit: [1mb] }\n'), [
    'routes[0].bodyLimit: expected a string or an integer (e.g. "512kb", "1mb"), found a list'
  ])
  t.same(problems(SERVICES + 'routes: /api/users\n'), [
    'routes: expected a list, found a string ("/api/users")'
  ])
  t.same(problems('[1, 2]\n'), ['(root): expected an object, found a list'])
})

t.test('strings that hold a number or boolean are coerced where the schema wants one', async t => {
  const config = parseConfig('server: { port: "8081", trustProxy: "true" }\nadmin: { token: 12345 }\n' + SERVICES + ROUTES, { env: {} })
  t.equal(config.server.port, 8081)
  t.equal(config.server.trustProxy, true)
  t.equal(config.admin.token, '12345', 'a numeric token stays a string')
})

t.test('a missing required key is named with what it is for', async t => {
  t.same(problems('services:\n  users: { timeout: 2s }\n' + ROUTES), [
    'services.users.urls: required key is missing. Base URLs of the service\'s instances (scheme, host and port, no path), e.g. [http://127.0.0.1:3001]. Requests are spread across them.'
  ])
  t.same(problems(SERVICES + 'routes:\n  - { proxy: /api/users }\n'), [
    'routes[0].service: required key is missing. Name of the service (a key under "services") the requests go to.'
  ])
})

t.test('route union noise collapses into one message per route', async t => {
  t.same(problems(SERVICES + 'routes:\n  - { prxy: /api/users, service: users }\n'), [
    'routes[0]: a route needs exactly one of "proxy" (forward a path prefix to a service), "put"/"post"/"patch"/"delete" (write to the owning service and propagate to its copies), "get" (compose one response from several services); found none (did you mean "proxy" instead of "prxy"?)'
  ])
  t.same(problems(SERVICES + 'routes:\n  - { service: users }\n'), [
    'routes[0]: a route needs exactly one of "proxy" (forward a path prefix to a service), "put"/"post"/"patch"/"delete" (write to the owning service and propagate to its copies), "get" (compose one response from several services); found none'
  ])
  t.same(problems(SERVICES + 'routes:\n  - /api/users\n'), [
    'routes[0]: expected an object, found a string ("/api/users")'
  ])
})

t.test('store union: the kind picks the branch; an unknown kind is one message', async t => {
  t.same(problems('store: { kind: mysql }\n' + SERVICES + ROUTES), [
    'store.kind: must be one of "embedded", "redis" (found "mysql")'
  ])
  t.same(problems('store: { kind: rediss, url: "redis://x" }\n' + SERVICES + ROUTES), [
    'store.kind: must be one of "embedded", "redis" (found "rediss"; did you mean "redis"?)'
  ])
  t.same(problems('store: { kind: redis }\n' + SERVICES + ROUTES), [
    'store.url: required key is missing. Redis connection URL, e.g. redis://127.0.0.1:6379 or rediss://user:pass@host:6380/0. Env override: JUNCTION_STORE_URL.'
  ])
  t.same(problems('store: { dir: ./x, fsync: sometimes }\n' + SERVICES + ROUTES), [
    'store.fsync: must be one of "always", "batch" (found "sometimes")'
  ], 'kind may be left out for the embedded store')
  t.same(problems('store: { kind: redis, url: "redis://x", dir: ./x }\n' + SERVICES + ROUTES), [
    'store.dir: unknown key; allowed keys here: "kind", "url", "prefix", "cluster", "timeout"'
  ])
  t.same(problems('store: embedded\n' + SERVICES + ROUTES), [
    'store: expected an object, found a string ("embedded")'
  ])
})

t.test('ranges, empty values, duplicates and service names', async t => {
  t.same(problems('server: { port: 70000, host: "" }\n' + SERVICES + ROUTES), [
    'server.port: must be at most 65535 (found 70000)',
    'server.host: must not be empty'
  ], 'in the order of the file')
  t.same(problems('services:\n  users: { urls: [], connections: 0 }\n' + ROUTES), [
    'services.users.urls: must not be an empty list',
    'services.users.connections: must be at least 1 (found 0)'
  ])
  t.same(problems(SERVICES + 'routes:\n  - { proxy: /api/users, service: users, methods: [GET, PUT, GET] }\n'), [
    'routes[0].methods: lists "GET" twice ([0] and [2]); list each value once'
  ])
  t.same(problems('services:\n  users: { urls: [http://127.0.0.1:3001] }\n  "my api": { urls: [http://127.0.0.1:3002] }\n' + ROUTES), [
    'services["my api"]: invalid service name; use letters, digits, "-" and "_", starting with a letter (^[A-Za-z][A-Za-z0-9_-]*$)'
  ])
})

t.test('validateConfig fills in the defaults the schema declares', async t => {
  const doc: Record<string, unknown> = { services: { users: { urls: ['http://127.0.0.1:3001'] } }, routes: [{ proxy: '/a', service: 'users' }] }
  const result = validateConfig(doc)
  t.ok(result.ok)
  t.same(doc.server, { host: '0.0.0.0', port: 8080, bodyLimit: '1mb', shutdownTimeout: '10s', trustProxy: false, logLevel: 'info', maxHeaderSize: '16kb', maxHeaders: 100, headersTimeout: '10s', requestTimeout: '60s', keepAliveTimeout: '72s', workers: 1 })
  t.same(doc.services, { users: { urls: ['http://127.0.0.1:3001'], timeout: '30s', connectTimeout: '5s', connections: 128, keepAliveTimeout: '4s' } })
  t.same(doc.admin, {})
})
