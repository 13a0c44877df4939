/**
 * What a reload (SIGHUP, POST /admin/reload) may not change: the keys a running process
 * cannot swap under its open connections and its store. The listening socket and its
 * limits belong to the one node http.Server that lives for the whole process; the store
 * holds the outbox, write intents and cached answers every generation shares. A new value
 * for one of these keys is reported like a config error, naming the key (docs/config.md,
 * "Reloading"), and the running config is kept.
 */
import type { ConfigIssue } from './config-error.js'
import type { GatewayConfig, ServerConfig } from './types.js'

/** File key (what the user writes under `server:`) → its normalised field. */
const SERVER_KEYS: ReadonlyArray<readonly [string, keyof ServerConfig]> = [
  ['host', 'host'],
  ['port', 'port'],
  ['maxHeaderSize', 'maxHeaderSize'],
  ['maxHeaders', 'maxHeaders'],
  ['headersTimeout', 'headersTimeoutMs'],
  ['requestTimeout', 'requestTimeoutMs'],
  ['keepAliveTimeout', 'keepAliveTimeoutMs'],
  ['shutdownTimeout', 'shutdownTimeoutMs'],
  // The processes sharing the port are forked at start.
  ['workers', 'workers']
]

const RESTART = 'takes effect only on restart; the running value is kept'

export function restartOnlyChanges (running: GatewayConfig, next: GatewayConfig): ConfigIssue[] {
  const issues: ConfigIssue[] = []
  for (const [key, field] of SERVER_KEYS) {
    if (running.server[field] !== next.server[field]) {
      const unit = field.endsWith('Ms') ? ' ms' : ''
      issues.push({ path: `server.${key}`, message: `${RESTART} (running ${show(running.server[field])}${unit}, file ${show(next.server[field])}${unit})` })
    }
  }
  if (!sameValue(running.store, next.store)) {
    // Which store field changed, without printing a Redis URL (it may carry a password).
    const fields = [...new Set([...Object.keys(running.store), ...Object.keys(next.store)])]
      .filter(k => !sameValue((running.store as unknown as Record<string, unknown>)[k], (next.store as unknown as Record<string, unknown>)[k]))
    for (const field of fields) issues.push({ path: `store.${field}`, message: `${RESTART} (the store holds the outbox and write intents every request relies on)` })
  }
  return issues
}

function show (value: unknown): string {
  return JSON.stringify(value) ?? String(value)
}

function sameValue (a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b)
}
