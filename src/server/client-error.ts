/**
 * What node's HTTP parser refuses before any route runs (smuggling attempts, malformed
 * framing or headers, oversized heads, slow clients) still gets an RFC 9457 answer:
 * `application/problem+json`, written straight to the socket, then the connection is
 * closed (after a framing error nothing more on it can be trusted). Replaces Fastify's
 * default handler, which answers with its own JSON shape. Plain node, no Fastify.
 *
 * Nothing is written when the socket is gone, when a response on it has already started,
 * or when the response in progress answers an earlier, complete request (the error is in a
 * pipelined request behind it): the connection is only closed then, since a problem written
 * there would be read as (part of) the earlier request's answer.
 */
import { STATUS_CODES } from 'node:http'
import type { Socket } from 'node:net'
import { errors, PROBLEM_CONTENT_TYPE, type JunctionError } from '../errors.js'

export interface ClientErrorLimits {
  readonly maxHeaderSize: number
  readonly headersTimeoutMs: number
  readonly requestTimeoutMs: number
}

/** llhttp's error codes, grouped by what the client did wrong. */
const FRAMING = 'conflicting or invalid message framing (Content-Length and Transfer-Encoding)'
const REASONS: Readonly<Record<string, string>> = {
  HPE_INVALID_TRANSFER_ENCODING: FRAMING,
  HPE_UNEXPECTED_CONTENT_LENGTH: FRAMING,
  HPE_INVALID_CONTENT_LENGTH: FRAMING,
  HPE_INVALID_CHUNK_SIZE: 'a malformed chunk in a chunked body',
  HPE_STRICT: 'a malformed chunked body or line ending',
  HPE_CR_EXPECTED: 'a line that does not end with CRLF',
  HPE_LF_EXPECTED: 'a line that does not end with CRLF',
  HPE_INVALID_HEADER_TOKEN: 'a malformed header field (its name, its value, or an obsolete line folding)',
  HPE_INVALID_METHOD: 'an unknown or malformed method',
  HPE_INVALID_URL: 'a malformed request target',
  HPE_INVALID_VERSION: 'an unsupported or malformed HTTP version',
  HPE_INVALID_CONSTANT: 'a malformed request line',
  HPE_PAUSED_H2_UPGRADE: 'HTTP/2 with prior knowledge is not supported; use HTTP/1.1',
  HPE_INVALID_EOF_STATE: 'the connection ended in the middle of the request'
}

export function problemForClientError (err: NodeJS.ErrnoException, limits: ClientErrorLimits): JunctionError {
  const code = err.code ?? 'UNKNOWN'
  if (code === 'HPE_HEADER_OVERFLOW') return errors.headersTooLarge(`line and headers exceed ${limits.maxHeaderSize} bytes (server.maxHeaderSize)`)
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return errors.requestTimeout(limits.headersTimeoutMs, limits.requestTimeoutMs)
  return errors.malformedRequest(REASONS[code] ?? 'a malformed message', code)
}

/** The full HTTP/1.1 response text for a problem, connection closing. */
export function rawProblemResponse (problem: JunctionError): string {
  const body = JSON.stringify(problem.toProblem())
  const status = problem.statusCode
  return `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Bad Request'}\r\n` +
    `Content-Type: ${PROBLEM_CONTENT_TYPE}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`
}

/** node keeps the response in progress on the socket; its `req` says which request it answers. */
type HttpSocket = Socket & { _httpMessage?: { headersSent?: boolean, req?: { complete?: boolean } } | null }

/** Fastify calls the handler with its instance as `this`: the logger is there. */
interface WithLog { readonly log?: { debug: (obj: object, msg: string) => void } }

/** A `clientError` listener for the gateway's server (Fastify's `clientErrorHandler` option). */
export function clientErrorHandler (limits: ClientErrorLimits): (this: WithLog | undefined, err: NodeJS.ErrnoException, socket: Socket) => void {
  return function onClientError (this: WithLog | undefined, err, socket) {
    // A reset connection is already gone: nothing to answer, nothing worth a log line.
    if (err.code === 'ECONNRESET' || socket.destroyed) return
    // Debug only: a client can cause any number of these.
    this?.log?.debug({ code: err.code }, 'refused a malformed request')
    const inFlight = (socket as HttpSocket)._httpMessage
    // An answer in progress for a request received whole: the error is in a pipelined next
    // request, and a problem written now would be read as the answer to the earlier one.
    const answersThis = inFlight === undefined || inFlight === null || (inFlight.headersSent !== true && inFlight.req?.complete !== true)
    if (socket.writable && answersThis) {
      socket.end(rawProblemResponse(problemForClientError(err, limits)))
      // end() flushes then closes; destroy soon after in case the peer never reads.
      socket.setTimeout(1000, () => socket.destroy())
      return
    }
    socket.destroy()
  }
}
