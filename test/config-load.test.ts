/**
 * The whole pipeline: a file in, a normalised, deeply frozen GatewayConfig out; or one
 * ConfigError with every problem.
 */
import { join } from 'node:path'
import t from 'tap'
import { loadConfig, parseConfig } from '../src/config/load.js'
import { ConfigError } from '../src/config/config-error.js'
import { formatRouteTable } from '../src/config/route-table.js'
import type { GatewayConfig } from '../src/config/types.js'
import { OUTBOX_DEFAULTS } from '../src/outbox/outbox-options.js'
import { CIRCUIT_BREAKER_DEFAULTS, OVERLOAD_DEFAULTS, RETRY_DEFAULTS } from '../src/config/resilience-block.js'

/** The listener's limits (docs/hygiene.md), filled in when the file does not set them. */
const LISTENER_DEFAULTS = { maxHeaderSize: 16384, maxHeaders: 100, headersTimeoutMs: 10000, requestTimeoutMs: 60000, keepAliveTimeoutMs: 72000, workers: 1 }

const FULL = `# yaml-language-server: $schema=../schema/junction.schema.json
server: { host: 0.0.0.0, port: 8080, bodyLimit: 1mb, shutdownTimeout: 10s, trustProxy: false, logLevel: info }
store: { kind: embedded, dir: ./data, fsync: batch }
admin: { token: "\${ADMIN_TOKEN}" }
services:
  users:  { urls: [http://127.0.0.1:3001, http://127.0.0.1:3011], timeout: 2s, connectTimeout: 500ms, connections: 64, keepAliveTimeout: 4s }
  orders: { urls: [http://127.0.0.1:3002] }
routes:
  - { proxy: /api/users, service: users, rewrite: /users, methods: [GET, PUT], bodyLimit: 100mb }
  - { proxy: /api/orders, service: orders }
`

const ALL_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']
/** A service's resilience settings when it has no retry/circuitBreaker/health blocks. */
const RESILIENCE = { retry: RETRY_DEFAULTS, circuitBreaker: CIRCUIT_BREAKER_DEFAULTS, health: undefined }

async function rejection (promise: Promise<unknown>): Promise<ConfigError> {
  try {
    await promise
  } catch (err) {
    if (err instanceof ConfigError) return err
    throw err
  }
  throw new Error('expected a ConfigError')
}

function parseError (text: string, opts: Parameters<typeof parseConfig>[1] = {}): ConfigError {
  try {
    parseConfig(text, { env: {}, ...opts })
  } catch (err) {
    if (err instanceof ConfigError) return err
    throw err
  }
  throw new Error('expected a ConfigError')
}

t.test('a valid file round-trips to the normalised config', async t => {
  const dir = t.testdir({ 'junction.yaml': FULL })
  const config = await loadConfig(join(dir, 'junction.yaml'), { env: { ADMIN_TOKEN: 's3cret' } })
  t.same(config, {
    source: join(dir, 'junction.yaml'),
    server: { host: '0.0.0.0', port: 8080, bodyLimit: 1048576, shutdownTimeoutMs: 10000, trustProxy: false, logLevel: 'info', ...LISTENER_DEFAULTS, overload: OVERLOAD_DEFAULTS },
    store: { kind: 'embedded', dir: join(dir, 'data'), fsync: 'batch' },
    admin: { token: 's3cret' },
    services: {
      users: { name: 'users', urls: ['http://127.0.0.1:3001', 'http://127.0.0.1:3011'], timeoutMs: 2000, connectTimeoutMs: 500, connections: 64, keepAliveTimeoutMs: 4000, ...RESILIENCE },
      orders: { name: 'orders', urls: ['http://127.0.0.1:3002'], timeoutMs: 30000, connectTimeoutMs: 5000, connections: 128, keepAliveTimeoutMs: 4000, ...RESILIENCE }
    },
    routes: [
      { kind: 'proxy', index: 0, prefix: '/api/users', service: 'users', rewrite: '/users', methods: ['GET', 'PUT'], bodyLimit: 104857600, retryMethods: ['GET'] },
      { kind: 'proxy', index: 1, prefix: '/api/orders', service: 'orders', rewrite: '/api/orders', methods: ALL_METHODS, bodyLimit: 1048576, retryMethods: ['GET', 'HEAD', 'OPTIONS'] }
    ],
    outbox: OUTBOX_DEFAULTS,
    cache: { l1MaxBytes: 67108864, maxEntryBytes: 1048576 },
    // No authenticators: every route public, no limits.
    protection: {
      authenticators: {},
      routes: [{ authenticators: [], scopes: [], rateLimit: undefined }, { authenticators: [], scopes: [], rateLimit: undefined }],
      claimHeaders: []
    },
    // Metrics at /metrics without a token; no span export (docs/observability.md).
    observability: { metrics: { path: '/metrics', token: undefined }, tracing: { otlp: undefined } }
  })
})

t.test('defaults of a minimal config', async t => {
  const config = parseConfig('services:\n  users: { urls: ["http://127.0.0.1:3001/"] }\nroutes:\n  - { proxy: /, service: users }\n', { env: {} })
  t.same(config.server, { host: '0.0.0.0', port: 8080, bodyLimit: 1048576, shutdownTimeoutMs: 10000, trustProxy: false, logLevel: 'info', ...LISTENER_DEFAULTS, overload: OVERLOAD_DEFAULTS })
  t.same(config.store, { kind: 'embedded', dir: join(process.cwd(), 'data'), fsync: 'batch' }, 'relative to the cwd without a source')
  t.same(config.admin, { token: undefined })
  t.same(config.services.users?.urls, ['http://127.0.0.1:3001'], 'URLs normalised to their origin')
  t.equal(config.source, undefined)
  t.same(parseConfig('store: { kind: redis, url: "redis://r" }\nservices:\n  u: { urls: [http://h] }\nroutes:\n  - { proxy: /, service: u }\n', { env: {} }).store,
    { kind: 'redis', url: 'redis://r', prefix: 'junction:' })
})

t.test('store.dir is relative to the config file', async t => {
  const config = parseConfig('store: { dir: ../state }\nservices:\n  u: { urls: [http://h] }\nroutes:\n  - { proxy: /, service: u }\n',
    { source: '/etc/junction/junction.yaml', env: {} })
  t.equal(config.store.kind === 'embedded' && config.store.dir, '/etc/state')
  t.equal(config.source, '/etc/junction/junction.yaml')
})

t.test('the config is deeply frozen', async t => {
  const config: GatewayConfig = parseConfig(FULL, { env: { ADMIN_TOKEN: 'x' } })
  const frozen = (value: unknown, path: string): void => {
    if (typeof value !== 'object' || value === null) return
    t.ok(Object.isFrozen(value), `${path} is frozen`)
    for (const [key, child] of Object.entries(value)) frozen(child, `${path}.${key}`)
  }
  frozen(config, 'config')
  t.throws(() => { (config.server as { port: number }).port = 1 }, TypeError)
  t.throws(() => { ((config.routes[0] as { methods: string[] } | undefined)?.methods as string[]).push('GET') }, TypeError)
  t.equal(Object.getPrototypeOf(config.services), null, 'services has no prototype: service names cannot hit Object.prototype')
})

t.test('every problem of every stage comes in one ConfigError', async t => {
  const err = parseError(`
server: { port: 99999, logLevel: loud }
services:
  users: { urls: ["\${USERS_URL}"], timeout: forever }
routes:
  - { proxy: api/users, service: user, sevice: users }
  - { proxy: /api/users, service: users }
`, { source: 'junction.yaml' })
  t.same(err.issues.map(i => `${i.path}: ${i.message}`), [
    'server.port: must be at most 65535 (found 99999)',
    'server.logLevel: must be one of "fatal", "error", "warn", "info", "debug", "trace", "silent" (found "loud")',
    // eslint-disable-next-line no-template-curly-in-string -- the message shows the ${VAR:-default} syntax
    'services.users.urls[0]: environment variable USERS_URL is not set; set it, or give a default with ${USERS_URL:-default}',
    'services.users.timeout: "forever" is not a duration; write a number with a unit, e.g. "500ms", "2s" or "5m", or an integer of milliseconds',
    'routes[0].proxy: must start with "/" (found "api/users"); write "/api/users"',
    'routes[0].service: unknown service "user" (did you mean "users"?)',
    'routes[0].sevice: unknown key; allowed keys here: "proxy", "service", "rewrite", "methods", "bodyLimit", "cache", "invalidate", "retry", "auth", "public", "scopes", "rateLimit"'
  ])
  t.equal(err.message, `The config ${join(process.cwd(), 'junction.yaml')} has 7 problems:\n` + err.issues.map(i => `${i.path}: ${i.message}`).join('\n'))
  t.equal(err.name, 'ConfigError')
  t.ok(Object.isFrozen(err.issues))
})

t.test('YAML syntax errors carry line:column', async t => {
  const err = parseError('services:\n  users: { urls: [http://h }\nroutes: []\n', { source: 'bad.yaml' })
  t.equal(err.issues.length, 1, 'only the first syntax error: the rest follow from it')
  t.match(err.issues[0], { path: /^bad\.yaml:2:\d+$/, message: /^YAML syntax error: / })
  const dup = parseError('services: {}\nservices: {}\n')
  t.same(dup.issues, [{ path: 'config:2:1', message: 'YAML syntax error: Map keys must be unique' }])
})

t.test('JSON is parsed as JSON, with line:column', async t => {
  const dir = t.testdir({
    'ok.json': JSON.stringify({ $schema: '../schema/junction.schema.json', services: { u: { urls: ['http://h'] } }, routes: [{ proxy: '/', service: 'u' }] }),
    'bad.json': '{\n  "services": {},\n}\n'
  })
  const config = await loadConfig(join(dir, 'ok.json'), { env: {} })
  t.equal((config.routes[0] as { service?: string } | undefined)?.service, 'u')
  const err = await rejection(loadConfig(join(dir, 'bad.json'), { env: {} }))
  t.same(err.issues, [{ path: `${join(dir, 'bad.json')}:3:1`, message: 'JSON syntax error: Expected double-quoted property name' }])
  t.same(parseError('{"a": ', { format: 'json' }).issues, [{ path: 'config:1:7', message: 'JSON syntax error: unexpected end of input' }])
})

t.test('an empty file says so', async t => {
  t.same(parseError('# nothing yet\n').issues, [{ path: '(root)', message: 'the config is empty; it needs at least "services" and "routes" (see docs/config.md)' }])
})

t.test('a missing or unreadable file is a ConfigError naming the file', async t => {
  const dir = t.testdir({ sub: {} })
  const missing = await rejection(loadConfig(join(dir, 'nope.yaml')))
  t.same(missing.issues, [{ path: join(dir, 'nope.yaml'), message: 'cannot read the config file: it does not exist; check the path' }])
  t.match(missing.message, join(dir, 'nope.yaml'))
  const directory = await rejection(loadConfig(join(dir, 'sub')))
  t.same(directory.issues, [{ path: join(dir, 'sub'), message: 'is a directory; give the path of a YAML or JSON config file' }])
})

t.test('anchors and merge keys work', async t => {
  const config = parseConfig(`
services:
  users: { <<: &defaults { timeout: 2s, connections: 8 }, urls: [http://a] }
  orders: { <<: *defaults, urls: [http://b] }
routes:
  - { proxy: /u, service: users }
`, { env: {} })
  t.equal(config.services.orders?.timeoutMs, 2000)
  t.equal(config.services.orders?.connections, 8)
})

t.test('formatRouteTable aligns the routes', async t => {
  const config = parseConfig(FULL, { env: { ADMIN_TOKEN: 'x' } })
  t.equal(formatRouteTable(config), [
    'METHODS  GATEWAY PATH  →  SERVICE  UPSTREAM PATH  UPSTREAM URLS',
    'GET,PUT  /api/users    →  users    /users         http://127.0.0.1:3001, http://127.0.0.1:3011',
    'any      /api/orders   →  orders   /api/orders    http://127.0.0.1:3002'
  ].join('\n'))
})
