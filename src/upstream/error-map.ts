/**
 * Maps what undici and the socket layer throw to the error catalogue, keeping the
 * original as `cause`. Clients learn which service failed and how, never the internal URL.
 */
import { errors, JunctionError } from '../errors.js'
import type { ServiceConfig } from '../config/types.js'

function codeOf (err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string') return err.code
  return undefined
}

/**
 * Failures of the exchange with one upstream URL before its answer's headers arrived: it
 * could not be reached, dropped the connection, or did not answer in time. They say the
 * URL (not the request) is at fault, so the circuit breaker counts them, and a safe call
 * may be retried elsewhere. A client abort or a body over the limit is none of these.
 */
const TRANSPORT_FAILURES = new Set([
  'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT',
  'ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH',
  'ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED'
])

export function isTransportFailure (err: unknown): boolean {
  if (err instanceof JunctionError) return false
  const code = codeOf(err) ?? codeOf((err as { cause?: unknown } | null)?.cause)
  return code !== undefined && TRANSPORT_FAILURES.has(code)
}

export function upstreamError (service: ServiceConfig, err: unknown): JunctionError {
  if (err instanceof JunctionError) return err
  const code = codeOf(err) ?? codeOf((err as { cause?: unknown } | null)?.cause)
  switch (code) {
    case 'UND_ERR_CONNECT_TIMEOUT':
      return errors.upstreamConnectTimeout(service.name, service.connectTimeoutMs, err)
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
      return errors.upstreamTimeout(service.name, service.timeoutMs, err)
    case 'ECONNREFUSED':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return errors.upstreamUnavailable(service.name, err)
    case 'ECONNRESET':
    case 'EPIPE':
    case 'UND_ERR_SOCKET':
    case 'UND_ERR_CLOSED':
      return errors.upstreamReset(service.name, err)
    default:
      return errors.upstreamFailed(service.name, err)
  }
}
