/**
 * The top-level `outbox:` key: its schema and normaliser belong to the outbox
 * (src/outbox/outbox-options.ts); this adapts them to the config pipeline, turning the
 * outbox's own cross-field problems into config issues.
 */
import { normaliseOutboxOptions, OUTBOX_DEFAULTS, type OutboxOptions, type RawOutboxOptions } from '../outbox/outbox-options.js'
import type { ConfigIssue } from './config-error.js'

export function checkOutboxKey (doc: unknown): ConfigIssue[] {
  const raw = typeof doc === 'object' && doc !== null ? (doc as { outbox?: unknown }).outbox : undefined
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return []
  try {
    normaliseOutboxOptions(raw as RawOutboxOptions)
    return []
  } catch (err) {
    // One `outbox.<key>: <message>` line per problem.
    return (err as Error).message.split('\n').map(line => {
      const colon = line.indexOf(': ')
      return colon < 0 ? { path: 'outbox', message: line } : { path: line.slice(0, colon), message: line.slice(colon + 2) }
    })
  }
}

export function normaliseOutboxKey (raw: RawOutboxOptions | undefined): OutboxOptions {
  return raw === undefined ? OUTBOX_DEFAULTS : normaliseOutboxOptions(raw)
}
