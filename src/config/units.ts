/**
 * Durations and sizes in the config: parsing (for the normalisers) and the checks that
 * report a value that is not one. A module of its own, importing nothing from the rest of
 * the config pipeline, so that any block may use it without an import cycle.
 */
import ms from 'ms'
import bytes from 'bytes'
import { type ConfigIssue, type PathSegment, formatPath } from './config-error.js'

/** Milliseconds of a duration (`"500ms"`, `"2s"`, `"5m"`, or an integer of ms); undefined when it is not one. */
export function parseDuration (value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isInteger(value) ? value : undefined
  if (typeof value !== 'string') return undefined
  const parsed: number | undefined = ms(value.trim() as ms.StringValue)
  return typeof parsed === 'number' && Number.isFinite(parsed) ? Math.round(parsed) : undefined
}

const SIZE = /^\s*-?\d*\.?\d+\s*(b|kb|mb|gb|tb|pb)?\s*$/i

/** Bytes of a size (`"512kb"`, `"1mb"`, or an integer of bytes); undefined when it is not one. */
export function parseSize (value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isInteger(value) ? value : undefined
  // bytes.parse falls back to parseInt ("1 megabyte" → 1): accept only what it parses exactly.
  if (typeof value !== 'string' || !SIZE.test(value)) return undefined
  const parsed = bytes.parse(value.trim())
  return typeof parsed === 'number' && Number.isFinite(parsed) ? parsed : undefined
}

export function checkDuration (value: unknown, path: PathSegment[], issues: ConfigIssue[]): void {
  if (typeof value !== 'string' && typeof value !== 'number') return
  const parsed = parseDuration(value)
  if (parsed === undefined) {
    issues.push({ path: formatPath(path), message: `${JSON.stringify(value)} is not a duration; write a number with a unit, e.g. "500ms", "2s" or "5m", or an integer of milliseconds` })
  } else if (parsed <= 0) {
    issues.push({ path: formatPath(path), message: `must be greater than 0 (found ${JSON.stringify(value)}); e.g. "500ms", "2s" or "5m"` })
  }
}

export function checkSize (value: unknown, path: PathSegment[], issues: ConfigIssue[]): void {
  if (typeof value !== 'string' && typeof value !== 'number') return
  const parsed = parseSize(value)
  if (parsed === undefined) {
    issues.push({ path: formatPath(path), message: `${JSON.stringify(value)} is not a size; write a number with a unit, e.g. "512kb", "1mb" or "100mb", or an integer of bytes` })
  } else if (parsed <= 0) {
    issues.push({ path: formatPath(path), message: `must be greater than 0 (found ${JSON.stringify(value)}); e.g. "512kb", "1mb" or "100mb"` })
  }
}
