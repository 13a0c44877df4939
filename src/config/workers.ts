/**
 * `server.workers`: how many processes serve the port (node:cluster, src/server/primary.ts).
 *
 * Several workers need the Redis store. The embedded store's journal has exactly one
 * writer (a lock file in `store.dir`), so a second process could not open it. We refuse
 * rather than route the workers' store operations to the primary over IPC: that would put
 * a message round trip into every cache lookup and outbox step, make the primary a
 * bottleneck for the very load the workers are meant to spread, and add a second store
 * implementation to prove correct; Redis already gives several processes one shared store
 * (cache, invalidation, outbox), exactly as it does for separate instances.
 */
import { availableParallelism } from 'node:os'
import type { ConfigIssue } from './config-error.js'

export const WORKERS_AUTO = 'auto'

export function checkWorkers (doc: Record<string, unknown>, issues: ConfigIssue[]): void {
  const server = doc.server
  if (typeof server !== 'object' || server === null || Array.isArray(server)) return
  const workers = (server as Record<string, unknown>).workers
  if (typeof workers === 'string' && workers !== WORKERS_AUTO) {
    issues.push({ path: 'server.workers', message: `must be a number of processes or "auto" (one per CPU) (found ${JSON.stringify(workers)})` })
    return
  }
  // Below 1 or not a number: the schema says so.
  if (!(workers === WORKERS_AUTO || (typeof workers === 'number' && workers > 1))) return
  const store = doc.store
  const kind = typeof store === 'object' && store !== null && !Array.isArray(store) ? (store as Record<string, unknown>).kind ?? 'embedded' : 'embedded'
  if (kind === 'redis') return
  issues.push({
    path: 'server.workers',
    message: `more than one process (found ${JSON.stringify(workers)}) needs store kind redis: the embedded store's journal has exactly one writer. Use store: { kind: redis, url: ... } (or JUNCTION_STORE_URL), or set server.workers: 1`
  })
}

/** The number of processes: `auto` is one per CPU this process may use. */
export function resolveWorkers (workers: number | string | undefined): number {
  if (workers === WORKERS_AUTO) return availableParallelism()
  return typeof workers === 'number' ? workers : 1
}
