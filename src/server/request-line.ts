/**
 * The fields of the one log line per request (plugins/request-log.ts through Fastify, the
 * cache-hit shortcut before it: src/cache/hit-shortcut.ts), built in one place so both
 * write the same line.
 */
/** The service that answered, and how (an upstream address, or "cache"). */
export interface UpstreamNote {
  readonly service: string
  readonly origin: string
}

export function requestLine (method: string, path: string, route: string | undefined, upstream: UpstreamNote | null | undefined,
  status: number, traceId: string | undefined, elapsedMs: number): Record<string, unknown> {
  return {
    method,
    path,
    route,
    service: upstream?.service,
    upstream: upstream?.origin,
    status,
    traceId,
    ms: Math.round(elapsedMs * 100) / 100
  }
}
