/**
 * The id of a request: the client's X-Request-Id when it is short and printable (so it
 * cannot forge log lines), else a new UUID. Fastify's genReqId (src/gateway.ts) and the
 * cache-hit shortcut (src/cache/hit-shortcut.ts) use this one function.
 */
import { randomUUID } from 'node:crypto'
import type { IncomingMessage } from 'node:http'

const REQUEST_ID = /^[\w\-.:@/+=]{1,128}$/

export function requestId (req: IncomingMessage): string {
  const given = req.headers['x-request-id']
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID()
}
