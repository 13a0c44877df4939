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
 * log line. A plain GET hit is written from its entry's answer rendered once (Rendered
 * below); HEAD and conditional requests build theirs as the router's path does.
 * It only takes what it can answer exactly so; anything else falls through:
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
import { headFieldsProblem } from '../server/request-head.js'
import { writesInfo } from '../server/log-level.js'
import { requestId } from '../server/request-id.js'
import { requestLine, type UpstreamNote } from '../server/request-line.js'
import { entryAgeSeconds, type CacheEntry } from './entry.js'
import { entryAnswer, notModified, type CacheResult, type Rendering, type ResponseCache } from './response-cache.js'
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

/** A URL learned from the router: its route, and its path and cache key, computed once. */
interface KnownUrl {
  readonly route: ShortcutRoute
  readonly path: string
  readonly key: string
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
  readonly #byUrl = new Map<string, KnownUrl>()
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

  /**
   * `rawUrl` (as the client sent it) was routed to `route` and answered from L1 under `key`.
   * The route keys by method, path and query alone (route() refuses the rest), so every
   * request for the URL has that key.
   */
  learn (rawUrl: string, route: ShortcutRoute, key: string): void {
    if (this.#byUrl.get(rawUrl)?.route === route) return
    if (this.#byUrl.size >= MAX_URLS) this.#byUrl.clear()
    this.#byUrl.set(rawUrl, { route, path: splitUrl(rawUrl).path, key })
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
    const known = this.#byUrl.get(url)
    if (known === undefined || this.#closing) return false
    const route = known.route
    if (!route.methods.has(method)) return false
    const headers = req.headers
    // A Range wants part of the body: the router's path streams it, uncached.
    if (headers.range !== undefined || headers.traceparent !== undefined || headers['content-length'] !== undefined || headers['transfer-encoding'] !== undefined) return false
    const options = this.#options
    // The URL passed the path check when it was learned; the fields are this request's own.
    if (headFieldsProblem(req, options.maxHeaders) !== undefined || options.overloadReason() !== undefined) return false

    const started = performance.now()
    const cache = options.cache
    const entry = cache.freshLocal(known.key, headers.authorization !== undefined)
    if (entry === undefined) return false
    const id = requestId(req)
    let status: number
    const rendered = method === 'GET' && headers['if-none-match'] === undefined ? cache.rendering(known.key, entry, render) : undefined
    if (rendered !== undefined) {
      // The common hit: the entry's answer was rendered once (see Rendered); this request
      // fills in its id and the entry's age.
      cache.countHit()
      const head = rendered.head.slice()
      if (rendered.idAt >= 0) head[rendered.idAt] = id
      head[rendered.ageAt] = String(entryAgeSeconds(entry, Date.now()))
      res.writeHead(entry.status, head)
      res.end(rendered.body, 'latin1')
      status = entry.status
    } else {
      const hit = cache.hitAnswer(entry)
      const answer = notModified(method, headers, hit) ?? hit
      res.writeHead(answer.status, headersOf(answer, method, id))
      res.end(answer.body)
      status = answer.status
    }
    this.#answered++

    const seconds = (performance.now() - started) / 1000
    for (const listener of route.listeners) listener(method, status, 'HIT', seconds)
    const log = options.log
    if (writesInfo(log.level)) {
      // reqId first, where the router's request logger has it as its binding.
      log.info({ reqId: id, ...requestLine(method, known.path, route.url, route.answeredBy, status, undefined, seconds * 1000) }, 'request')
    }
    return true
  }
}

/**
 * A GET hit's answer for one entry, rendered once: the header lines as writeHead takes
 * them (a flat [name, value, …] list) with two places a request fills in, and the body.
 *
 * Why: a hit that built its header object each time (the entry's lines, then the id, ETag,
 * Age and X-Cache, then a copy with the id first) and wrote a Buffer body beside the head
 * cost ~44 CPU µs, against ~31 for a bare Fastify route sending the same body; rendered
 * once (with the URL's key learned and its path check skipped) ~32 (same-run A/B).
 * The body as a one-byte (latin1) string goes out with the head in one string write, as
 * Fastify's string bodies do, where a Buffer body is a second chunk in a writev (~2 points
 * of the ratio); latin1 maps each byte to one character and back, so any body's bytes are
 * written unchanged. The response cache keeps it beside the entry while the entry is in L1,
 * its bytes counted in L1's bound (ResponseCache.rendering).
 */
interface Rendered {
  readonly head: Array<string | string[]>
  /** Where the request id goes; -1 when the stored answer names its own (it wins, as before). */
  readonly idAt: number
  readonly ageAt: number
  /** The body's bytes, one character each. */
  readonly body: string
}

const ID_SLOT = '\u0000id'
const AGE_SLOT = '\u0000age'

function render (entry: CacheEntry): Rendering<Rendered> {
  // The same lines the other paths give, from the same code.
  const answer = entryAnswer(entry, 'HIT')
  const lines = headersOf({ ...answer, headers: { ...answer.headers, age: AGE_SLOT } }, 'GET', ID_SLOT)
  const head: Array<string | string[]> = []
  // What the lines and the body hold, as entrySize counts an entry's (a string's own
  // overhead taken as 16 bytes).
  let bytes = entry.body.length + 64
  for (const name in lines) {
    const value = lines[name] as string | string[]
    head.push(name, value)
    bytes += name.length + 16 + (typeof value === 'string' ? value.length + 16 : value.reduce((n, v) => n + v.length + 16, 16))
  }
  return {
    value: { head, idAt: head.indexOf(ID_SLOT), ageAt: head.indexOf(AGE_SLOT), body: entry.body.toString('latin1') },
    bytes
  }
}

/**
 * The header lines of a cached answer as the router's path writes them: plugins/request-log.ts
 * sets x-request-id first, proxy-routes' sendCached the answer's lines, and Fastify's
 * reply.send of a Buffer a content-type and a content-length matching the body. One object
 * handed to writeHead, as Fastify does: setHeader per header validates and stores each one
 * a second time.
 */
function headersOf (answer: CacheResult, method: string, id: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = { 'x-request-id': id }
  let hasLength = false
  let hasType = false
  for (const name in answer.headers) {
    out[name] = answer.headers[name] as string | string[]
    if (name === 'content-length') hasLength = true
    else if (name === 'content-type') hasType = true
  }
  if (!hasType) out['content-type'] = OCTET_STREAM
  if (!hasLength || (method !== 'HEAD' && Number(answer.headers['content-length']) !== answer.body.length)) out['content-length'] = String(answer.body.length)
  return out
}
