/**
 * Header hygiene between client and upstream, in both directions (RFC 9110 §7.6.1,
 * docs/hygiene.md). Pure functions over plain header objects so the proxy, composition and
 * write paths share one definition of what crosses the gateway.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http'
import { DEFAULT_VERSION_HEADER } from '../outbox/delivery.js'

/** Hop-by-hop headers: meaningful for one connection only, never forwarded. */
const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization',
  'te', 'trailer', 'transfer-encoding', 'upgrade', 'http2-settings',
  // `expect: 100-continue` is answered by the gateway's own server; undici refuses to send it.
  'expect'
])

/**
 * Headers only the gateway may send to a service, never a client:
 * - the outbox's version header: a client setting it on a copy's path could pin the copy at
 *   a version no real write ever exceeds;
 * - method and URL overrides: a framework honouring them would run another method or path
 *   than the one the route allowed.
 * Plus every `Junction-*` and `X-Junction-*` header: reserved for what the gateway states.
 */
const INTERNAL = new Set([
  DEFAULT_VERSION_HEADER.toLowerCase(),
  'x-http-method-override', 'x-http-method', 'x-method-override', 'x-original-url', 'x-rewrite-url'
])

/**
 * Claims about the client's address, protocol or host, set by proxies: believed only when
 * the peer is a trusted proxy, else dropped (and X-Forwarded-For/-Proto/-Host set afresh).
 * Every `X-Forwarded-*` header counts (FORWARDED_PREFIX), -Port and -Prefix included.
 */
const FORWARDING = new Set(['forwarded', 'x-real-ip', 'true-client-ip', 'x-client-ip', 'x-cluster-client-ip', 'cf-connecting-ip', 'fastly-client-ip'])
const FORWARDED_PREFIX = 'x-forwarded-'

/** Whether a client may never set this header toward a service (lower-case name). */
export function isInternalHeader (name: string): boolean {
  return INTERNAL.has(name) || name.startsWith('junction-') || name.startsWith('x-junction-')
}

/** Whether this header is a proxy's claim about the client (lower-case name). */
export function isForwardingHeader (name: string): boolean {
  return FORWARDING.has(name) || name.startsWith(FORWARDED_PREFIX)
}

/** Whether this header is hop-by-hop by definition (lower-case name). */
export function isHopByHopHeader (name: string): boolean {
  return HOP_BY_HOP.has(name)
}

const NONE: readonly string[] = []

/** Names listed in `Connection: a, b` are hop-by-hop too. */
function connectionListed (headers: IncomingHttpHeaders): readonly string[] {
  const value = headers.connection
  if (value === undefined) return NONE
  // Nearly every message says `keep-alive` or `close`: names already hop-by-hop, nothing to split.
  const common = value.toLowerCase()
  if (common === 'keep-alive' || common === 'close') return NONE
  return value.split(',').map(v => v.trim().toLowerCase()).filter(v => v.length > 0)
}

export interface ForwardContext {
  /** Address of the peer that connected to the gateway. */
  readonly remoteAddress: string
  /** `http` or `https`, as the client reached the gateway. */
  readonly protocol: string
  readonly requestId: string
  /** The peer is a trusted proxy (server.trustProxy): believe its X-Forwarded-* and extend the chain. */
  readonly trustProxy: boolean
  /**
   * Junction's span for the request (src/observability/tracing.ts): its traceparent replaces
   * the client's, and tracestate passes only with a valid client traceparent (W3C §3.3).
   */
  readonly trace?: { readonly traceparent: string, readonly tracestate: string | undefined }
}

/**
 * The headers to send upstream for a client request: hop-by-hop headers (and those the
 * client's Connection lists), Host (undici sets it from the upstream origin) and internal
 * headers removed; forwarding claims kept only from a trusted proxy; X-Forwarded-For/-Proto/
 * -Host set; the request id and Junction's traceparent attached. Everything else,
 * Idempotency-Key included (the client's own, for the service it addresses), passes through.
 */
export function upstreamRequestHeaders (incoming: IncomingHttpHeaders, ctx: ForwardContext): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {}
  const listed = connectionListed(incoming)
  for (const name in incoming) {
    const value = incoming[name]
    if (value === undefined || HOP_BY_HOP.has(name) || name === 'host') continue
    if (listed.length > 0 && listed.includes(name)) continue
    if (isInternalHeader(name)) continue
    if (!ctx.trustProxy && isForwardingHeader(name)) continue
    out[name] = value
  }

  // Read from `incoming`: a client's Connection header cannot remove what a trusted proxy stated.
  const host = incoming.host
  const prior = ctx.trustProxy ? incoming['x-forwarded-for'] : undefined
  out['x-forwarded-for'] = prior === undefined || prior === '' ? ctx.remoteAddress : `${String(prior)}, ${ctx.remoteAddress}`
  const proto = ctx.trustProxy ? incoming['x-forwarded-proto'] : undefined
  out['x-forwarded-proto'] = proto ?? ctx.protocol
  const forwardedHost = ctx.trustProxy ? incoming['x-forwarded-host'] : undefined
  if (forwardedHost !== undefined) out['x-forwarded-host'] = forwardedHost
  else if (host !== undefined) out['x-forwarded-host'] = host
  else delete out['x-forwarded-host']
  out['x-request-id'] = ctx.requestId
  const trace = ctx.trace
  if (trace !== undefined) {
    out.traceparent = trace.traceparent
    if (trace.tracestate !== undefined) out.tracestate = trace.tracestate
    else delete out.tracestate
  }
  return out
}

/** The upstream's response headers as the client should see them: hop-by-hop removed. */
export function clientResponseHeaders (incoming: IncomingHttpHeaders | Record<string, string | string[] | undefined>): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {}
  const listed = connectionListed(incoming)
  for (const name in incoming) {
    const value = incoming[name]
    if (value === undefined || HOP_BY_HOP.has(name)) continue
    if (listed.length > 0 && listed.includes(name)) continue
    out[name] = value
  }
  return out
}
