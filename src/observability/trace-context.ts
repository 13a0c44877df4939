/**
 * W3C Trace Context (https://www.w3.org/TR/trace-context/): reading a client's
 * `traceparent`, and the ids Junction gives its own spans. Junction takes part in the
 * trace: its upstream calls carry a traceparent whose parent id is Junction's span, not
 * the client's; a request without a valid traceparent starts a new trace.
 *
 * Hand-written rather than through @opentelemetry/core's propagator: without an
 * OpenTelemetry exporter configured no SDK is loaded, and the hot path only needs one
 * regular expression and a few random bytes.
 */
import { randomFillSync } from 'node:crypto'

export interface TraceParent {
  readonly traceId: string
  /** The parent span's id (the caller's span). */
  readonly spanId: string
  /** `01` when the caller sampled the trace, else `00` (only the sampled bit is kept). */
  readonly flags: string
}

/**
 * Version 00 is exactly this; a later version may append fields after a dash, which a
 * version-00 reader ignores (§4.3). Lower-case hex only; version ff is invalid.
 */
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/
const ZERO_TRACE = '0'.repeat(32)
const ZERO_SPAN = '0'.repeat(16)

/** The caller's trace context, or undefined when the header is absent or invalid (then ignored, §4.3). */
export function parseTraceParent (header: string | string[] | undefined): TraceParent | undefined {
  // Several traceparent headers: which one is meant is unknown, so none is (§3.2).
  if (typeof header !== 'string') return undefined
  const m = TRACEPARENT.exec(header.trim())
  if (m === null) return undefined
  const [, version, traceId, spanId, flags, rest] = m as unknown as [string, string, string, string, string, string | undefined]
  if (version === 'ff' || (version === '00' && rest !== undefined)) return undefined
  if (traceId === ZERO_TRACE || spanId === ZERO_SPAN) return undefined
  return { traceId, spanId, flags: (Number.parseInt(flags, 16) & 1) === 1 ? '01' : '00' }
}

export function formatTraceParent (traceId: string, spanId: string, flags: string): string {
  return `00-${traceId}-${spanId}-${flags}`
}

/**
 * Random ids from a pool refilled 4 KiB at a time: one getrandom call per ~170 requests
 * instead of one per id. Ids need to be unique, not secret.
 */
const pool = Buffer.allocUnsafe(4096)
let offset = pool.length

function randomHex (bytes: number, zero: string): string {
  for (;;) {
    if (offset + bytes > pool.length) {
      randomFillSync(pool)
      offset = 0
    }
    const hex = pool.toString('hex', offset, offset + bytes)
    offset += bytes
    if (hex !== zero) return hex // all zeros is the one invalid value
  }
}

export function newTraceId (): string {
  return randomHex(16, ZERO_TRACE)
}

export function newSpanId (): string {
  return randomHex(8, ZERO_SPAN)
}
