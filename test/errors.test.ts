import t from 'tap'
import { errors, JunctionError } from '../src/errors.js'

t.test('the error catalogue is pinned: codes and statuses change only on purpose', async t => {
  const catalogue = Object.fromEntries(Object.entries(errors).map(([name, f]) => [name, [f.code, f.statusCode]]))
  t.same(catalogue, {
    notFound: ['JUNCTION_NOT_FOUND', 404],
    methodNotAllowed: ['JUNCTION_METHOD_NOT_ALLOWED', 405],
    badRequest: ['JUNCTION_BAD_REQUEST', 400],
    bodyTooLarge: ['JUNCTION_BODY_TOO_LARGE', 413],
    badPath: ['JUNCTION_BAD_PATH', 400],
    malformedRequest: ['JUNCTION_MALFORMED_REQUEST', 400],
    headersTooLarge: ['JUNCTION_HEADERS_TOO_LARGE', 431],
    requestTimeout: ['JUNCTION_REQUEST_TIMEOUT', 408],
    upstreamUnavailable: ['JUNCTION_UPSTREAM_UNAVAILABLE', 502],
    upstreamReset: ['JUNCTION_UPSTREAM_RESET', 502],
    upstreamTimeout: ['JUNCTION_UPSTREAM_TIMEOUT', 504],
    upstreamConnectTimeout: ['JUNCTION_UPSTREAM_CONNECT_TIMEOUT', 504],
    upstreamFailed: ['JUNCTION_UPSTREAM_FAILED', 502],
    upstreamCircuitOpen: ['JUNCTION_UPSTREAM_CIRCUIT_OPEN', 503],
    upstreamUnhealthy: ['JUNCTION_UPSTREAM_UNHEALTHY', 503],
    overloaded: ['JUNCTION_OVERLOADED', 503],
    composePartFailed: ['JUNCTION_COMPOSE_PART_FAILED', 502],
    composePartTimeout: ['JUNCTION_COMPOSE_PART_TIMEOUT', 504],
    composeNotFound: ['JUNCTION_COMPOSE_NOT_FOUND', 404],
    composeMissingInput: ['JUNCTION_COMPOSE_MISSING_INPUT', 400],
    composeBadInput: ['JUNCTION_COMPOSE_BAD_INPUT', 400],
    unauthorized: ['JUNCTION_UNAUTHORIZED', 401],
    adminLockedOut: ['JUNCTION_ADMIN_LOCKED_OUT', 429],
    adminCsrf: ['JUNCTION_ADMIN_CSRF', 403],
    unknownDependent: ['JUNCTION_UNKNOWN_DEPENDENT', 404],
    deadLetterNotFound: ['JUNCTION_DEAD_LETTER_NOT_FOUND', 404],
    unknownCacheRoute: ['JUNCTION_UNKNOWN_CACHE_ROUTE', 404],
    configRefused: ['JUNCTION_CONFIG_REFUSED', 422],
    notReady: ['JUNCTION_NOT_READY', 503],
    storeUnavailable: ['JUNCTION_STORE_UNAVAILABLE', 503],
    preconditionRequired: ['JUNCTION_PRECONDITION_REQUIRED', 428],
    invalidIfMatch: ['JUNCTION_INVALID_IF_MATCH', 400],
    weakIfMatch: ['JUNCTION_PRECONDITION_FAILED', 412],
    invalidBody: ['JUNCTION_INVALID_BODY', 400],
    ownerAnswerUnusable: ['JUNCTION_OWNER_ANSWER_UNUSABLE', 502],
    writeNotRecorded: ['JUNCTION_WRITE_NOT_RECORDED', 503],
    authenticationRequired: ['JUNCTION_AUTHENTICATION_REQUIRED', 401],
    invalidToken: ['JUNCTION_INVALID_TOKEN', 401],
    tokenExpired: ['JUNCTION_TOKEN_EXPIRED', 401],
    invalidApiKey: ['JUNCTION_INVALID_API_KEY', 401],
    insufficientScope: ['JUNCTION_INSUFFICIENT_SCOPE', 403],
    rateLimited: ['JUNCTION_RATE_LIMITED', 429],
    clientClosed: ['JUNCTION_CLIENT_CLOSED', 499],
    internal: ['JUNCTION_INTERNAL', 500]
  })
})

t.test('an error renders as RFC 9457 problem details', async t => {
  const cause = new Error('ECONNREFUSED 10.0.0.7:3001')
  const err = errors.upstreamUnavailable('users', cause)
  t.type(err, JunctionError)
  t.equal(err.cause, cause)
  t.same(err.toProblem('/api/users/1'), {
    type: 'https://junction.dev/problems/junction-upstream-unavailable',
    title: 'Bad Gateway',
    status: 502,
    detail: 'Service "users" could not be reached.',
    code: 'JUNCTION_UPSTREAM_UNAVAILABLE',
    service: 'users',
    instance: '/api/users/1'
  })
})

t.test('fast 503s carry Retry-After seconds and name the service, never its URL', async t => {
  const open = errors.upstreamCircuitOpen('users', 5)
  t.equal(open.retryAfter, 5)
  t.same(open.toProblem(), {
    type: 'https://junction.dev/problems/junction-upstream-circuit-open',
    title: 'Service Unavailable',
    status: 503,
    detail: 'Service "users" is failing, so Junction does not call it for now (circuit open); try again in 5 s.',
    code: 'JUNCTION_UPSTREAM_CIRCUIT_OPEN',
    service: 'users'
  })
  t.match(errors.upstreamUnhealthy('users', 2), { retryAfter: 2, service: 'users', message: 'Every instance of service "users" fails its health check; try again in 2 s.' })
  t.match(errors.overloaded('event loop delay 1200 ms over the 1000 ms limit', 10), {
    retryAfter: 10,
    service: undefined,
    message: 'Junction is overloaded (event loop delay 1200 ms over the 1000 ms limit) and sheds load; try again in 10 s.'
  })
  t.equal(errors.upstreamFailed('users').retryAfter, undefined, 'other errors have none')
})

t.test('a write refused while the store is unreachable: 503 with Retry-After, no URL', async t => {
  const err = errors.storeUnavailable('redis', 1)
  t.equal(err.retryAfter, 1)
  t.same(err.toProblem('/api/users/7'), {
    type: 'https://junction.dev/problems/junction-store-unavailable',
    title: 'Service Unavailable',
    status: 503,
    detail: 'Junction cannot record writes while its redis store is unreachable; nothing was written. Retry in 1 s.',
    code: 'JUNCTION_STORE_UNAVAILABLE',
    instance: '/api/users/7'
  })
})
