/**
 * The resilience configuration: a service's `retry`, `circuitBreaker` and `health`
 * blocks, a proxy route's `retry` opt-in and `server.overload`; their normalised form,
 * defaults, and every error message.
 */
import t from 'tap'
import { parseConfig } from '../src/config/load.js'
import { CIRCUIT_BREAKER_DEFAULTS, OVERLOAD_DEFAULTS, RETRY_DEFAULTS } from '../src/config/resilience-block.js'
import { problemsOf as problems } from './support/config-problems.js'

const ROUTES = `routes:
  - { proxy: /api/users, service: users }
`

t.test('defaults: retries, breaker and load shedding on; no active health checks', async t => {
  const config = parseConfig('services:\n  users: { urls: [http://127.0.0.1:3001] }\n' + ROUTES, { env: {} })
  t.same(config.services.users?.retry, { attempts: 2, backoffMs: 25, maxBackoffMs: 250, tryTimeoutMs: undefined, deadlineMs: undefined, budget: { ratio: 0.2, minRetries: 10, windowMs: 10_000 } })
  t.same(config.services.users?.circuitBreaker, { consecutiveFailures: 5, failureRate: 0.5, windowMs: 10_000, minimumRps: 5, coolDownMs: 5000 })
  t.equal(config.services.users?.health, undefined)
  t.same(config.server.overload, { maxEventLoopDelayMs: 1000, maxEventLoopUtilization: 0, maxHeapUsedBytes: 0, maxRssBytes: 0, sampleIntervalMs: 1000, retryAfterSec: 10 })
  t.match(config.routes[0], { retryMethods: ['GET', 'HEAD', 'OPTIONS'] }, 'safe methods are retried by default')
})

t.test('every key, normalised', async t => {
  const config = parseConfig(`server:
  overload: { maxEventLoopDelay: 500ms, maxEventLoopUtilization: 0.95, maxHeapUsed: 512mb, maxRss: 1gb, sampleInterval: 250ms, retryAfter: 1500ms }
services:
  users:
    urls: [http://127.0.0.1:3001, http://127.0.0.1:3011]
    timeout: 5s
    retry: { attempts: 3, backoff: 10ms, maxBackoff: 1s, tryTimeout: 1s, deadline: 3s, budget: { ratio: 0.1, minRetries: 3, window: 30s } }
    circuitBreaker: { consecutiveFailures: 3, failureRate: 0.25, window: 20s, minimumRps: 2, coolDown: 30s }
    health: { path: /healthz, interval: 2s, timeout: 500ms, healthyThreshold: 1, unhealthyThreshold: 2 }
  orders:
    urls: [http://127.0.0.1:3002]
    circuitBreaker: { enabled: false }
    health: { path: "/status?deep=1" }
routes:
  - { proxy: /api/users, service: users, methods: [GET, PUT, DELETE, POST], retry: { methods: [PUT, DELETE] } }
  - { proxy: /api/orders, service: orders, methods: [GET, PUT], retry: { methods: [PUT] } }
`, { env: {} })
  t.same(config.server.overload, { maxEventLoopDelayMs: 500, maxEventLoopUtilization: 0.95, maxHeapUsedBytes: 512 * 1024 * 1024, maxRssBytes: 1024 * 1024 * 1024, sampleIntervalMs: 250, retryAfterSec: 2 })
  t.same(config.services.users?.retry, { attempts: 3, backoffMs: 10, maxBackoffMs: 1000, tryTimeoutMs: 1000, deadlineMs: 3000, budget: { ratio: 0.1, minRetries: 3, windowMs: 30_000 } })
  t.same(config.services.users?.circuitBreaker, { consecutiveFailures: 3, failureRate: 0.25, windowMs: 20_000, minimumRps: 2, coolDownMs: 30_000 })
  t.same(config.services.users?.health, { path: '/healthz', intervalMs: 2000, timeoutMs: 500, healthyThreshold: 1, unhealthyThreshold: 2 })
  t.equal(config.services.orders?.circuitBreaker, undefined, 'enabled: false turns the breaker off')
  t.same(config.services.orders?.health, { path: '/status?deep=1', intervalMs: 5000, timeoutMs: 1000, healthyThreshold: 2, unhealthyThreshold: 3 })
  t.same(config.services.orders?.retry, RETRY_DEFAULTS)
  t.match(config.routes[0], { retryMethods: ['GET', 'PUT', 'DELETE'] }, 'opted-in methods, never POST')
  t.match(config.routes[1], { retryMethods: ['GET', 'PUT'] })
  t.same(parseConfig('server: { overload: { enabled: false } }\nservices:\n  users: { urls: [http://h] }\n' + ROUTES, { env: {} }).server.overload, undefined, 'overload.enabled: false turns shedding off')
  t.same(parseConfig('services:\n  users: { urls: [http://h], circuitBreaker: { coolDown: 1s } }\n' + ROUTES, { env: {} }).services.users?.circuitBreaker,
    { ...CIRCUIT_BREAKER_DEFAULTS, coolDownMs: 1000 }, 'unset keys keep their defaults')
  t.same(OVERLOAD_DEFAULTS.maxEventLoopDelayMs, 1000)
})

t.test('schema errors', async t => {
  t.same(problems(`server:
  overload: { maxEventLoopUtilization: 0, maxHeapUsed: [1], enabled: "maybe", colour: red }
services:
  users:
    urls: [http://127.0.0.1:3001]
    retry: { attempts: 0, budget: { ratio: 1.5, minRetries: -1, windw: 1s } }
    circuitBreaker: { consecutiveFailures: 0, failureRate: 1, minimumRps: 0, cooldown: 1s }
    health: { interval: 1s, healthyThreshold: 0 }
  orders:
    urls: [http://127.0.0.1:3002]
    retry: { attempts: 11 }
    health: { path: "" }
routes:
  - { proxy: /api/users, service: users, retry: { methods: [put] } }
  - { proxy: /api/orders, service: orders, retry: { methods: [] } }
  - { proxy: /api/other, service: orders, retry: { attempts: 3 } }
`), [
    'server.overload.maxEventLoopUtilization: must be greater than 0 (found 0)',
    'server.overload.maxHeapUsed: expected a string or an integer (e.g. "512mb", "1gb"), found a list',
    'server.overload.enabled: expected a boolean (true or false), found a string ("maybe")',
    'server.overload.colour: unknown key; allowed keys here: "enabled", "maxEventLoopDelay", "maxEventLoopUtilization", "maxHeapUsed", "maxRss", "sampleInterval", "retryAfter"',
    'services.users.retry.attempts: must be at least 1 (found 0)',
    'services.users.retry.budget.ratio: must be at most 1 (found 1.5)',
    'services.users.retry.budget.minRetries: must be at least 0 (found -1)',
    'services.users.retry.budget.windw: unknown key (did you mean "window"?)',
    'services.users.circuitBreaker.consecutiveFailures: must be at least 1 (found 0)',
    'services.users.circuitBreaker.failureRate: must be less than 1 (found 1)',
    'services.users.circuitBreaker.minimumRps: must be greater than 0 (found 0)',
    'services.users.circuitBreaker.cooldown: unknown key (did you mean "coolDown"?)',
    'services.users.health.path: required key is missing. Path (and query) of the health endpoint of each URL, e.g. /health. A 2xx answer passes.',
    'services.users.health.healthyThreshold: must be at least 1 (found 0)',
    'services.orders.retry.attempts: must be at most 10 (found 11)',
    'services.orders.health.path: must not be empty',
    'routes[0].retry.methods[0]: must be one of "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS" (found "put"; did you mean "PUT"?)',
    'routes[1].retry.methods: must not be an empty list',
    'routes[2].retry.methods: required key is missing. PUT and/or DELETE: the service applies them idempotently, so the gateway may retry them like GET (when the request body was not sent yet).',
    'routes[2].retry.attempts: unknown key; allowed keys here: "methods"'
  ])
})

t.test('cross-check errors', async t => {
  t.same(problems(`server:
  overload: { maxEventLoopDelay: 0, sampleInterval: 5, retryAfter: soon, maxRss: "lots" }
services:
  users:
    urls: [http://127.0.0.1:3001]
    timeout: 2s
    retry: { backoff: 1s, tryTimeout: 5s, budget: { window: 0 } }
    circuitBreaker: { window: "ten seconds", coolDown: 0 }
    health: { path: healthz, interval: 1s, timeout: 2s }
  orders:
    urls: [http://127.0.0.1:3002]
    retry: { attempts: 1, backoff: 100ms, maxBackoff: 50ms, tryTimeout: 2s, deadline: 1s }
    health: { path: "/health#top", timeout: 10s }
routes:
  - { proxy: /api/users, service: users, methods: [GET, PUT, POST], retry: { methods: [GET, POST, PATCH, PUT, DELETE] } }
  - { proxy: /api/orders, service: orders, retry: { methods: [DELETE] } }
`), [
    'server.overload.maxEventLoopDelay: must be greater than 0 (found 0); e.g. "500ms", "2s" or "5m"',
    'server.overload.sampleInterval: must be at least 100ms (found 5): the event loop delay is measured every 10 ms, and a sample needs several measurements',
    'server.overload.retryAfter: "soon" is not a duration; write a number with a unit, e.g. "500ms", "2s" or "5m", or an integer of milliseconds',
    'server.overload.maxRss: "lots" is not a size; write a number with a unit, e.g. "512kb", "1mb" or "100mb", or an integer of bytes',
    'services.users.retry.backoff: maxBackoff (250 ms, the default) must be at least backoff (1000 ms)',
    'services.users.retry.tryTimeout: must not exceed the service timeout (2000 ms), which bounds every try already; lower it, or raise timeout',
    'services.users.retry.budget.window: must be greater than 0 (found 0); e.g. "500ms", "2s" or "5m"',
    'services.users.circuitBreaker.window: "ten seconds" is not a duration; write a number with a unit, e.g. "500ms", "2s" or "5m", or an integer of milliseconds',
    'services.users.circuitBreaker.coolDown: must be greater than 0 (found 0); e.g. "500ms", "2s" or "5m"',
    'services.users.health.path: must start with "/" (found "healthz"); write "/healthz"',
    'services.users.health.timeout: timeout (2000 ms) must not exceed interval (1000 ms): a check would still run when the next one starts',
    'services.orders.retry.maxBackoff: maxBackoff (50 ms) must be at least backoff (100 ms)',
    'services.orders.retry.tryTimeout: must not exceed retry.deadline (1000 ms); one try cannot outlast all of them',
    'services.orders.health.path: must not contain "#" (found "/health#top"); a fragment is never sent to a server',
    'services.orders.health.timeout: timeout (10000 ms) must not exceed interval (5000 ms, the default): a check would still run when the next one starts',
    'routes[0].retry.methods[0]: GET is always retried (when the service\'s retry.attempts is above 1); list only PUT or DELETE here',
    'routes[0].retry.methods[1]: POST is never retried by the proxy: the service may have applied the first try; a write route\'s outbox retries writes with idempotency keys',
    'routes[0].retry.methods[2]: PATCH is never retried by the proxy: the service may have applied the first try; a write route\'s outbox retries writes with idempotency keys',
    'routes[0].retry.methods[4]: DELETE is not among this route\'s methods (GET, PUT, POST); add it to methods or remove it here',
    'routes[1].retry: service "orders" has retry.attempts: 1, so nothing is retried; raise it or remove this block'
  ])
})
