/**
 * Fresh L1 hits answered before the router: each request is offered here first (by the
 * gateway host, src/gateway-host.ts, before it tracks the request for reloads; by the server's
 * handler, src/gateway.ts, when the gateway is built without a host), and a GET or HEAD
 * whose URL is known to route to a plain cached proxy
 * route, and whose answer is a fresh entry in this process's L1, is written at once.
 * Everything else goes to Fastify as before.
 *
 * Why: a cache hit costs little next to what any request costs in Fastify (request and
 * reply objects, the route lookup, hook runners, header handling in reply.send). Through
 * Fastify an L1 hit reached about 60% of a bare Fastify route's req/s; answering it before
 * the router is how nginx serves its cache, and what lets a hit cost less than the app.
 *
 * The answer is the one Fastify would give, byte for byte but for Date and Age
 * (test/cache-hit-shortcut.test.ts compares the two): the same refusals come first, the same
 * headers, 304 and HEAD handling, the same request id, metrics, dashboard counts and request
 * log line. It only takes what it can answer exactly so; anything else falls through:
 * - URLs are learned from the router: a URL is taken only after a request for it was routed
 *   through Fastify to a cached proxy route and answered from L1 there (the routing of a URL
 *   is fixed for a config; a reload builds a new gateway and a new shortcut);
 * - routes with authentication or rate limits, cache keys with request headers or an
 *   identity, and requests with a body, a Range, a traceparent (its ids are logged and
 *   traced) are never taken;
 * - head checks (src/server/request-head.ts) that refuse a request leave it to Fastify,
 *   which answers the refusal; so do load shedding and a closing gateway.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { headProblem } from '../server/request-head.js'
import { writesInfo } from '../server/log-level.js'
import { requestId } from '../server/request-id.js'
import { requestLine, type UpstreamNote } from '../server/request-line.js'
import { notModified, type ResponseCache } from './response-cache.js'
import { splitUrl, type RouteCache } from './route-cache.js'

/** What a route does with each answer the shortcut gives (metrics, dashboard counts). */
export type ShortcutListener = (method: string, status: number, xCache: string, seconds: number) => void

/** A Fastify route (one url pattern of a cached proxy route) the shortcut may answer for. */
export interface ShortcutRoute {
  /** The Fastify url pattern (`/api/*`): the request log's `route`. */
  readonly url: string
  /** What the request line names as the upstream of its hits. */
  readonly answeredBy: UpstreamNote
  readonly cache: RouteCache
  /** GET, HEAD or both: what the route registered for reads. */
  readonly methods: ReadonlySet<string>
  readonly listeners: ShortcutListener[]
}

export interface HitShortcutOptions {
  readonly cache: ResponseCache
  /** server.maxHeaders, for the head checks. */
  readonly maxHeaders: number
  /** Why the gateway sheds load now, or undefined (plugins/overload.ts). */
  readonly overloadReason: () => string | undefined
  /** The gateway's logger (pino): the request line is written through it at info. */
  readonly log: RequestLineLog
}

export interface RequestLineLog {
  readonly level: string
  info (fields: object, msg: string): void
}

/** Bound of remembered URLs; emptied when full, like RouteCache's key memo (a hit only reads it). */
const MAX_URLS = 10_000

const OCTET_STREAM = 'application/octet-stream'

export class HitShortcut {
  readonly routes: ShortcutRoute[] = []
  readonly #options: HitShortcutOptions
  readonly #byUrl = new Map<string, ShortcutRoute>()
  #closing = false
  #answered = 0

  constructor (options: HitShortcutOptions) {
    this.#options = options
  }

  /** Requests answered here since the gateway started. */
  get answered (): number {
    return this.#answered
  }

  /** A route (its read methods) the shortcut may answer for: undefined when it never may (see the file comment). */
  route (url: string, answeredBy: UpstreamNote, cache: RouteCache, reads: readonly string[], protectedRoute: boolean): ShortcutRoute | undefined {
    if (protectedRoute || cache.keyHeaders.length > 0 || cache.config.key.identity !== undefined) return undefined
    const route: ShortcutRoute = { url, answeredBy, cache, methods: new Set(reads), listeners: [] }
    this.routes.push(route)
    return route
  }

  /** `rawUrl` (as the client sent it) was routed to `route` and answered from L1. */
  learn (rawUrl: string, route: ShortcutRoute): void {
    if (this.#byUrl.get(rawUrl) === route) return
    if (this.#byUrl.size >= MAX_URLS) this.#byUrl.clear()
    this.#byUrl.set(rawUrl, route)
  }

  /** From the gateway's preClose: answers given while closing go through Fastify (Connection: close, 503s). */
  close (): void {
    this.#closing = true
    this.#byUrl.clear()
  }

  /** Answers the request if it is a fresh L1 hit it may take; false: nothing was written, Fastify answers. */
  serve (req: IncomingMessage, res: ServerResponse): boolean {
    const method = req.method as string
    if (method !== 'GET' && method !== 'HEAD') return false
    const url = req.url as string
    const route = this.#byUrl.get(url)
    if (route === undefined || !route.methods.has(method) || this.#closing) return false
    const headers = req.headers
    // (A Range is refused by hit() below, as by the router's path.)
    if (headers.traceparent !== undefined || headers['content-length'] !== undefined || headers['transfer-encoding'] !== undefined) return false
    const options = this.#options
    if (headProblem(req, options.maxHeaders) !== undefined || options.overloadReason() !== undefined) return false

    const started = performance.now()
    const { path, query } = splitUrl(url)
    const hit = options.cache.hit(route.cache.request({ keyMethod: 'GET', method, path, query, headers, params: {} }))
    if (hit === undefined) return false
    const answer = notModified(method, headers, hit) ?? hit

    // As plugins/request-log.ts (x-request-id first), proxy-routes' sendCached and Fastify's
    // reply.send of a Buffer (a content-type, a content-length matching the body) do. One
    // object handed to writeHead, as Fastify does: setHeader per header validates and stores
    // each one a second time.
    const id = requestId(req)
    const out: Record<string, string | string[]> = { 'x-request-id': id }
    let hasLength = false
    let hasType = false
    for (const name in answer.headers) {
      out[name] = answer.headers[name] as string | string[]
      if (name === 'content-length') hasLength = true
      else if (name === 'content-type') hasType = true
    }
    const body = answer.body
    if (!hasType) out['content-type'] = OCTET_STREAM
    if (!hasLength || (method !== 'HEAD' && Number(answer.headers['content-length']) !== body.length)) out['content-length'] = String(body.length)
    res.writeHead(answer.status, out)
    res.end(body)
    this.#answered++

    const seconds = (performance.now() - started) / 1000
    const xCache = answer.headers['x-cache'] as string
    for (const listener of route.listeners) listener(method, answer.status, xCache, seconds)
    const log = options.log
    if (writesInfo(log.level)) {
      // reqId first, where the router's request logger has it as its binding.
      log.info({ reqId: id, ...requestLine(method, path, route.url, route.answeredBy, answer.status, undefined, seconds * 1000) }, 'request')
    }
    return true
  }
}
