/**
 * Header hygiene between client and upstream, in both directions (RFC 9110 §7.6.1).
 * Pure functions over plain header objects so the proxy, composition and delivery paths
 * share one definition of what crosses the gateway.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http'

/** Hop-by-hop headers: meaningful for one connection only, never forwarded. */
const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization',
  'te', 'trailer', 'transfer-encoding', 'upgrade',
  // `expect: 100-continue` is answered by the gateway's own server; undici refuses to send it.
  'expect'
])

/** Client-supplied forwarding headers are only believed when the peer is a trusted proxy. */
const FORWARDING = ['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'forwarded']

/** Names listed in `Connection: a, b` are hop-by-hop too. */
function connectionListed (headers: IncomingHttpHeaders): string[] {
  const value = headers.connection
  if (value === undefined) return []
  return value.split(',').map(v => v.trim().toLowerCase()).filter(v => v.length > 0)
}

export interface ForwardContext {
  /** Address of the peer that connected to the gateway. */
  readonly remoteAddress: string
  /** `http` or `https`, as the client reached the gateway. */
  readonly protocol: string
  readonly requestId: string
  /** Believe X-Forwarded-* sent by the peer (the gateway runs behind nginx). */
  readonly trustProxy: boolean
}

/**
 * The headers to send upstream for a client request: hop-by-hop and Host removed
 * (undici sets Host from the upstream origin), X-Forwarded-* set, request id attached.
 * Everything else, W3C traceparent/tracestate included, passes through untouched.
 */
export function upstreamRequestHeaders (incoming: IncomingHttpHeaders, ctx: ForwardContext): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {}
  const listed = connectionListed(incoming)
  for (const name in incoming) {
    const value = incoming[name]
    if (value === undefined || HOP_BY_HOP.has(name) || name === 'host') continue
    if (listed.length > 0 && listed.includes(name)) continue
    out[name] = value
  }

  const host = incoming.host
  if (ctx.trustProxy) {
    const prior = incoming['x-forwarded-for']
    out['x-forwarded-for'] = prior === undefined || prior === '' ? ctx.remoteAddress : `${prior}, ${ctx.remoteAddress}`
    if (incoming['x-forwarded-proto'] === undefined) out['x-forwarded-proto'] = ctx.protocol
    if (incoming['x-forwarded-host'] === undefined && host !== undefined) out['x-forwarded-host'] = host
  } else {
    for (const name of FORWARDING) delete out[name]
    out['x-forwarded-for'] = ctx.remoteAddress
    out['x-forwarded-proto'] = ctx.protocol
    if (host !== undefined) out['x-forwarded-host'] = host
  }
  out['x-request-id'] = ctx.requestId
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
