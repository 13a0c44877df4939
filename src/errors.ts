/**
 * The error catalogue: every error Junction answers a client with is built here,
 * with a stable `code`, an HTTP status and a human title. Other files import these
 * constructors and throw them; `problem()` turns any of them into an RFC 9457
 * `application/problem+json` body. test/errors.test.ts pins the list of codes.
 */

export const PROBLEM_CONTENT_TYPE = 'application/problem+json'

export interface ProblemDetails {
  type: string
  title: string
  status: number
  detail: string
  code: string
  instance?: string
  service?: string
  [extension: string]: unknown
}

export class JunctionError extends Error {
  readonly code: string
  readonly statusCode: number
  readonly title: string
  readonly service: string | undefined
  readonly extensions: Record<string, unknown>
  /** Seconds after which trying again makes sense: sent as Retry-After (RFC 9110 §10.2.3). */
  readonly retryAfter: number | undefined

  constructor (code: string, statusCode: number, title: string, detail: string,
    opts: { service?: string, cause?: unknown, extensions?: Record<string, unknown>, retryAfter?: number } = {}) {
    super(detail, opts.cause === undefined ? undefined : { cause: opts.cause })
    this.name = 'JunctionError'
    this.code = code
    this.statusCode = statusCode
    this.title = title
    this.service = opts.service
    this.extensions = opts.extensions ?? {}
    this.retryAfter = opts.retryAfter
  }

  toProblem (instance?: string): ProblemDetails {
    const body: ProblemDetails = {
      type: `https://junction.dev/problems/${this.code.toLowerCase().replaceAll('_', '-')}`,
      title: this.title,
      status: this.statusCode,
      detail: this.message,
      code: this.code,
      ...this.extensions
    }
    if (this.service !== undefined) body.service = this.service
    if (instance !== undefined) body.instance = instance
    return body
  }
}

type Factory<A extends unknown[]> = ((...args: A) => JunctionError) & { code: string, statusCode: number }

function define<A extends unknown[]> (code: string, statusCode: number, title: string,
  build: (...args: A) => { detail: string, service?: string, cause?: unknown, extensions?: Record<string, unknown>, retryAfter?: number }): Factory<A> {
  const factory = (...args: A): JunctionError => {
    const { detail, ...opts } = build(...args)
    return new JunctionError(code, statusCode, title, detail, opts)
  }
  return Object.assign(factory, { code, statusCode })
}

export const errors = {
  notFound: define('JUNCTION_NOT_FOUND', 404, 'Not Found',
    (method: string, path: string) => ({ detail: `No route matches ${method} ${path}.` })),
  methodNotAllowed: define('JUNCTION_METHOD_NOT_ALLOWED', 405, 'Method Not Allowed',
    (method: string, path: string) => ({ detail: `${method} is not allowed on ${path}.` })),
  badRequest: define('JUNCTION_BAD_REQUEST', 400, 'Bad Request',
    (detail: string, cause?: unknown) => ({ detail, cause })),
  bodyTooLarge: define('JUNCTION_BODY_TOO_LARGE', 413, 'Content Too Large',
    (limit: number) => ({ detail: `The request body exceeds this route's limit of ${limit} bytes.`, extensions: { limit } })),
  // Request hygiene (docs/hygiene.md): what the gateway refuses before any service sees it.
  badPath: define('JUNCTION_BAD_PATH', 400, 'Bad Request',
    (reason: string) => ({ detail: `The request path ${reason}. Junction refuses paths that a service could read differently from its router (docs/hygiene.md).` })),
  malformedRequest: define('JUNCTION_MALFORMED_REQUEST', 400, 'Bad Request',
    (reason: string, parser?: string) => ({ detail: `The request is not valid HTTP/1.1: ${reason}.`, extensions: parser === undefined ? {} : { parser } })),
  headersTooLarge: define('JUNCTION_HEADERS_TOO_LARGE', 431, 'Request Header Fields Too Large',
    (what: string) => ({ detail: `The request ${what}.` })),
  requestTimeout: define('JUNCTION_REQUEST_TIMEOUT', 408, 'Request Timeout',
    (headersTimeoutMs: number, requestTimeoutMs: number) => ({ detail: `The request did not arrive in time: its headers must arrive within ${headersTimeoutMs} ms and all of it within ${requestTimeoutMs} ms.` })),
  upstreamUnavailable: define('JUNCTION_UPSTREAM_UNAVAILABLE', 502, 'Bad Gateway',
    (service: string, cause?: unknown) => ({ detail: `Service "${service}" could not be reached.`, service, cause })),
  upstreamReset: define('JUNCTION_UPSTREAM_RESET', 502, 'Bad Gateway',
    (service: string, cause?: unknown) => ({ detail: `Service "${service}" closed the connection before answering completely.`, service, cause })),
  upstreamTimeout: define('JUNCTION_UPSTREAM_TIMEOUT', 504, 'Gateway Timeout',
    (service: string, timeoutMs: number, cause?: unknown) => ({ detail: `Service "${service}" did not answer within ${timeoutMs} ms.`, service, cause })),
  upstreamConnectTimeout: define('JUNCTION_UPSTREAM_CONNECT_TIMEOUT', 504, 'Gateway Timeout',
    (service: string, timeoutMs: number, cause?: unknown) => ({ detail: `Service "${service}" did not accept a connection within ${timeoutMs} ms.`, service, cause })),
  upstreamFailed: define('JUNCTION_UPSTREAM_FAILED', 502, 'Bad Gateway',
    (service: string, cause?: unknown) => ({ detail: `The call to service "${service}" failed.`, service, cause })),
  // Resilience (docs/resilience.md): every URL of the service is out of rotation, so no call is made.
  upstreamCircuitOpen: define('JUNCTION_UPSTREAM_CIRCUIT_OPEN', 503, 'Service Unavailable',
    (service: string, retryAfter: number) => ({ detail: `Service "${service}" is failing, so Junction does not call it for now (circuit open); try again in ${retryAfter} s.`, service, retryAfter })),
  upstreamUnhealthy: define('JUNCTION_UPSTREAM_UNHEALTHY', 503, 'Service Unavailable',
    (service: string, retryAfter: number) => ({ detail: `Every instance of service "${service}" fails its health check; try again in ${retryAfter} s.`, service, retryAfter })),
  // Load shedding (@fastify/under-pressure): the gateway itself is saturated.
  overloaded: define('JUNCTION_OVERLOADED', 503, 'Service Unavailable',
    (reason: string, retryAfter: number) => ({ detail: `Junction is overloaded (${reason}) and sheds load; try again in ${retryAfter} s.`, retryAfter })),
  // Composed responses (docs/compose.md): a required part failed; the problem names the part and its service.
  composePartFailed: define('JUNCTION_COMPOSE_PART_FAILED', 502, 'Bad Gateway',
    (part: string, service: string, reason: string, cause?: unknown) => ({ detail: `Part "${part}" (service "${service}") failed: ${reason}.`, service, cause, extensions: { part, reason } })),
  composePartTimeout: define('JUNCTION_COMPOSE_PART_TIMEOUT', 504, 'Gateway Timeout',
    (part: string, service: string, timeoutMs: number, cause?: unknown) => ({ detail: `Part "${part}" (service "${service}") did not answer within ${timeoutMs} ms.`, service, cause, extensions: { part } })),
  composeNotFound: define('JUNCTION_COMPOSE_NOT_FOUND', 404, 'Not Found',
    (part: string, service: string) => ({ detail: `Part "${part}" (service "${service}") found nothing for this request.`, service, extensions: { part } })),
  composeMissingInput: define('JUNCTION_COMPOSE_MISSING_INPUT', 400, 'Bad Request',
    (part: string, what: string) => ({ detail: `Part "${part}" needs ${what}, which this request does not have.`, extensions: { part } })),
  composeBadInput: define('JUNCTION_COMPOSE_BAD_INPUT', 400, 'Bad Request',
    (part: string, why: string) => ({ detail: `Part "${part}" cannot be called: ${why}.`, extensions: { part } })),
  // Outbox admin API (docs/outbox.md).
  unauthorized: define('JUNCTION_UNAUTHORIZED', 401, 'Unauthorized',
    () => ({ detail: 'The admin API needs "Authorization: Bearer <admin token>" (or, in a browser, the session of a login at /admin).' })),
  adminLockedOut: define('JUNCTION_ADMIN_LOCKED_OUT', 429, 'Too Many Requests',
    (retryAfter: number) => ({ detail: `Too many wrong admin credentials from this address; try again in ${retryAfter} s.`, retryAfter })),
  adminCsrf: define('JUNCTION_ADMIN_CSRF', 403, 'Forbidden',
    () => ({ detail: 'A change made with the admin session cookie needs the dashboard page\'s X-CSRF-Token header (or use "Authorization: Bearer <admin token>").' })),
  unknownDependent: define('JUNCTION_UNKNOWN_DEPENDENT', 404, 'Not Found',
    (dependent: string) => ({ detail: `"${dependent}" is not a dependent service of the outbox.`, extensions: { dependent } })),
  deadLetterNotFound: define('JUNCTION_DEAD_LETTER_NOT_FOUND', 404, 'Not Found',
    (dependent: string, id: string) => ({ detail: `Dependent "${dependent}" has no dead letter "${id}".`, extensions: { dependent, id } })),
  // Cache admin API (docs/cache.md).
  unknownCacheRoute: define('JUNCTION_UNKNOWN_CACHE_ROUTE', 404, 'Not Found',
    (route: string, cached: readonly string[]) => ({ detail: `No cached route has the path ${JSON.stringify(route)}; cached routes: ${cached.length === 0 ? 'none' : cached.map(r => JSON.stringify(r)).join(', ')}.`, extensions: { route } })),
  // POST /admin/reload (docs/config.md#reloading): the file is refused, the running config kept.
  configRefused: define('JUNCTION_CONFIG_REFUSED', 422, 'Unprocessable Content',
    (file: string, issues: ReadonlyArray<{ path: string, message: string }>) => ({
      detail: `${file} was not loaded (${issues.length} ${issues.length === 1 ? 'error' : 'errors'}); the running config is kept.`,
      extensions: { errors: issues.map(issue => ({ key: issue.path, message: issue.message })) }
    })),
  notReady: define('JUNCTION_NOT_READY', 503, 'Service Unavailable',
    (reason: string, cause?: unknown) => ({ detail: reason, cause })),
  // The store (Redis) is unreachable: a write is refused before anything reaches the owner,
  // because it could not be acknowledged with its durable intent and outbox entries (docs/deployment.md).
  storeUnavailable: define('JUNCTION_STORE_UNAVAILABLE', 503, 'Service Unavailable',
    (kind: string, retryAfter: number, cause?: unknown) => ({ detail: `Junction cannot record writes while its ${kind} store is unreachable; nothing was written. Retry in ${retryAfter} s.`, retryAfter, cause })),
  // Write routes (docs/versioning.md).
  preconditionRequired: define('JUNCTION_PRECONDITION_REQUIRED', 428, 'Precondition Required',
    (method: string, path: string) => ({ detail: `${method} ${path} requires If-Match with the ETag of the version you are changing (read it first, then send it back).` })),
  invalidIfMatch: define('JUNCTION_INVALID_IF_MATCH', 400, 'Bad Request',
    (value: string) => ({ detail: `If-Match must be "*" or a list of entity tags such as "7" (found ${JSON.stringify(value.length > 60 ? value.slice(0, 57) + '...' : value)}).` })),
  weakIfMatch: define('JUNCTION_PRECONDITION_FAILED', 412, 'Precondition Failed',
    () => ({ detail: 'If-Match lists only weak entity tags (W/"..."); If-Match compares strongly (RFC 9110 §13.1.1), so a weak tag never matches. Send the ETag without W/.' })),
  invalidBody: define('JUNCTION_INVALID_BODY', 400, 'Bad Request',
    (detail: string, problems: ReadonlyArray<{ pointer: string, message: string }> = []) => ({ detail, extensions: problems.length === 0 ? {} : { errors: problems } })),
  ownerAnswerUnusable: define('JUNCTION_OWNER_ANSWER_UNUSABLE', 502, 'Bad Gateway',
    (service: string, lacking: string) => ({ detail: `Service "${service}" accepted the write, but its answer lacks ${lacking}, so the copies cannot be updated.`, service })),
  writeNotRecorded: define('JUNCTION_WRITE_NOT_RECORDED', 503, 'Service Unavailable',
    (service: string, cause?: unknown) => ({ detail: `The write may have reached service "${service}", but its propagation could not be recorded; Junction retries it from the write intent. Read the entity before writing again.`, service, cause })),
  // Authentication and rate limiting (docs/security.md). 401s carry WWW-Authenticate.
  authenticationRequired: define('JUNCTION_AUTHENTICATION_REQUIRED', 401, 'Unauthorized',
    (accepted: string) => ({ detail: `This route needs ${accepted}.` })),
  invalidToken: define('JUNCTION_INVALID_TOKEN', 401, 'Unauthorized',
    (reason: string, cause?: unknown) => ({ detail: `The bearer token was refused: ${reason}.`, cause })),
  tokenExpired: define('JUNCTION_TOKEN_EXPIRED', 401, 'Unauthorized',
    () => ({ detail: 'The bearer token has expired; get a new one.' })),
  invalidApiKey: define('JUNCTION_INVALID_API_KEY', 401, 'Unauthorized',
    (header: string) => ({ detail: `The API key in the ${header} header is not valid.` })),
  insufficientScope: define('JUNCTION_INSUFFICIENT_SCOPE', 403, 'Forbidden',
    (missing: readonly string[]) => ({ detail: `This route needs the scope${missing.length === 1 ? '' : 's'} ${missing.map(s => JSON.stringify(s)).join(', ')}, which the caller does not have.`, extensions: { missingScopes: [...missing] } })),
  rateLimited: define('JUNCTION_RATE_LIMITED', 429, 'Too Many Requests',
    (limit: number, window: string, retryAfterSec: number) => ({ detail: `More than ${limit} requests in ${window} on this route; retry in ${retryAfterSec} s.`, extensions: { limit, retryAfter: retryAfterSec } })),
  // nginx's 499: never seen by the client (it left); it keeps logs and metrics honest.
  clientClosed: define('JUNCTION_CLIENT_CLOSED', 499, 'Client Closed Request',
    () => ({ detail: 'The client closed the connection before the answer was ready.' })),
  internal: define('JUNCTION_INTERNAL', 500, 'Internal Server Error',
    (cause?: unknown) => ({ detail: 'Junction failed to handle this request; the error is in its log under this request id.', cause }))
} as const

export type ErrorCatalogue = typeof errors
