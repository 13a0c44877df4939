/**
 * Checks of a request's head that node's parser leaves to the application (docs/hygiene.md):
 * the HTTP version (node parses an HTTP/0.9 line, and headers after it), how many header fields, the Host header (RFC 9112 §3.2: exactly one, well-formed, on
 * HTTP/1.1), Transfer-Encoding on HTTP/1.0 (RFC 9112 §6.1: faulty framing), and the path
 * (./../upstream/request-target.ts). Runs on every request, so the common case is one pass
 * over the raw header names and one regular expression.
 */
import type { IncomingMessage } from 'node:http'
import { errors, type JunctionError } from '../errors.js'
import { pathProblem } from '../upstream/request-target.js'

/** reg-name, IPv4 or [IPv6] (RFC 3986 §3.2.2), then an optional port. */
const HOST = /^(?:[A-Za-z0-9\-._~!$&'()*+,;=%]+|\[[0-9A-Fa-f:.]+\])(?::\d{0,5})?$/

export function headProblem (req: IncomingMessage, maxHeaders: number): JunctionError | undefined {
  const fields = headFieldsProblem(req, maxHeaders)
  if (fields !== undefined) return fields
  const path = pathProblem(req.url ?? '/')
  return path === undefined ? undefined : errors.badPath(path)
}

/**
 * The last Host value found well-formed: clients send one host over and over, and the test
 * below is a regular expression per request otherwise.
 */
let wellFormedHost = ''

/** headProblem without the path: for a URL already known to pass (the cache-hit shortcut's). */
export function headFieldsProblem (req: IncomingMessage, maxHeaders: number): JunctionError | undefined {
  // node takes a request line without a version ("GET /x") for HTTP/0.9 and still parses headers after it.
  if (req.httpVersionMajor !== 1) return errors.malformedRequest('a request line without "HTTP/1.1" (HTTP/0.9 is not supported)')
  const raw = req.rawHeaders
  if (raw.length > maxHeaders * 2) return errors.headersTooLarge(`has more than ${maxHeaders} header fields (server.maxHeaders)`)
  let hosts = 0
  let transferEncoding = false
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string
    if (name.length === 4 && name.toLowerCase() === 'host') hosts++
    else if (name.length === 17 && name.toLowerCase() === 'transfer-encoding') transferEncoding = true
  }
  if (hosts > 1) return errors.malformedRequest('more than one Host header')
  if (hosts === 0 && req.httpVersion === '1.1') return errors.malformedRequest('an HTTP/1.1 request without a Host header')
  const host = req.headers.host
  if (host !== undefined && host !== wellFormedHost) {
    if (!HOST.test(host)) return errors.malformedRequest('a Host header that is not a host name or address with an optional port')
    wellFormedHost = host
  }
  if (transferEncoding && req.httpVersion === '1.0') return errors.malformedRequest('Transfer-Encoding in an HTTP/1.0 request, whose framing cannot be trusted')
  return undefined
}

/**
 * The router matches `/api/users/` to `/api/users/:id` with an empty `id`, which would put
 * the collection's path (`/users/`) where an entity's belongs. Wildcards (`*`) may be empty.
 */
export function emptyParamProblem (params: unknown): JunctionError | undefined {
  if (typeof params !== 'object' || params === null) return undefined
  const values = params as Record<string, unknown>
  for (const name in values) {
    if (values[name] === '' && name !== '*') return errors.badPath(`leaves the route parameter ":${name}" empty`)
  }
  return undefined
}
