/**
 * Checks of the listener's limits and trust (`server.maxHeaderSize`, `maxHeaders`,
 * `headersTimeout`, `requestTimeout`, `keepAliveTimeout`, `trustProxy`) that the schema
 * cannot express: units, ranges, one against another, addresses. See docs/hygiene.md for
 * what each limit defends against.
 */
import { type ConfigIssue, formatPath } from './config-error.js'
import { checkDuration, checkSize, parseDuration, parseSize } from './cross-check.js'
import { trustEntryProblem } from '../upstream/trusted-proxies.js'

const MIN_HEADER_SIZE = 1024
const MAX_HEADER_SIZE = 1024 * 1024

export function checkServerLimits (server: Record<string, unknown>, issues: ConfigIssue[]): void {
  checkSize(server.maxHeaderSize, ['server', 'maxHeaderSize'], issues)
  const headerSize = parseSize(server.maxHeaderSize)
  if (headerSize !== undefined && headerSize > 0 && (headerSize < MIN_HEADER_SIZE || headerSize > MAX_HEADER_SIZE)) {
    issues.push({ path: 'server.maxHeaderSize', message: `must be from 1kb to 1mb (found ${JSON.stringify(server.maxHeaderSize)}); the default, 16kb, fits any real request` })
  }

  for (const key of ['headersTimeout', 'requestTimeout', 'keepAliveTimeout']) checkDuration(server[key], ['server', key], issues)
  // node refuses a headers timeout longer than the request timeout: the headers are part of the request.
  const headers = parseDuration(server.headersTimeout ?? '10s')
  const request = parseDuration(server.requestTimeout ?? '60s')
  if (headers !== undefined && request !== undefined && headers > 0 && request > 0 && headers > request) {
    issues.push({
      path: 'server.headersTimeout',
      message: `must not be longer than server.requestTimeout (${JSON.stringify(server.requestTimeout ?? '60s')}), which covers the headers too (found ${JSON.stringify(server.headersTimeout ?? '10s')})`
    })
  }

  if (Array.isArray(server.trustProxy)) {
    server.trustProxy.forEach((entry: unknown, i) => {
      if (typeof entry !== 'string' || entry === '') return
      const problem = trustEntryProblem(entry)
      if (problem !== undefined) {
        issues.push({
          path: formatPath(['server', 'trustProxy', i]),
          message: `${JSON.stringify(entry)} ${problem}; write an address such as "10.0.0.1" or "::1", or a range such as "10.0.0.0/8" (host names are not resolved)`
        })
      }
    })
  }
}
