/**
 * Shared pieces of the write-route tests: the demo services (users owns /users, orders
 * and catalog keep copies at /customers and /owners), a config with one write route per
 * method, and bounded polling helpers for convergence.
 */
import { request } from 'undici'
import { startDemoServices, type DemoServices } from '../../examples/services/run.js'
import { storeOf } from '../../examples/services/service.js'

interface Teardown { teardown (fn: () => unknown): void }

export async function startDemo (t: Teardown): Promise<DemoServices> {
  const demo = await startDemoServices({ control: true })
  t.teardown(() => demo.close())
  return demo
}

export interface WriteConfigOptions {
  requireIfMatch?: boolean
  pick?: boolean
  validate?: boolean
  /** Extra top-level YAML (e.g. an outbox: block). */
  extra?: string
  timeout?: string
  /** The POST route's owner honours Idempotency-Key (write.owner.idempotencyKey). */
  postIdempotencyKey?: boolean
}

/** services + a proxy for reads + PUT/POST/PATCH/DELETE write routes on users. */
export function writeConfig (demo: DemoServices, opts: WriteConfigOptions = {}): string {
  const timeout = opts.timeout ?? '2s'
  const pick = opts.pick === true ? ', pick: [id, name, email]' : ''
  const write = `
      owner: { service: users, path: "/users/{params.id}", version: { etag: true } }
      requireIfMatch: ${opts.requireIfMatch === true ? 'true' : 'false'}
      propagate:
        - { service: orders, path: "/customers/{params.id}"${pick} }
        - { service: catalog, path: "/owners/{params.id}" }
      invalidate: ["user:{params.id}"]`
  const validate = opts.validate === true
    ? '\n    validate: { body: { type: object, required: [name, email], properties: { name: { type: string, minLength: 1 }, email: { type: string, format: email } } } }'
    : ''
  return `${opts.extra ?? ''}
services:
  users: { urls: ["${demo.urls.users}"], timeout: ${timeout}, connectTimeout: 500ms }
  orders: { urls: ["${demo.urls.orders}"], timeout: ${timeout}, connectTimeout: 500ms }
  catalog: { urls: ["${demo.urls.catalog}"], timeout: ${timeout}, connectTimeout: 500ms }
routes:
  - { proxy: /api/users, service: users, rewrite: /users }
  - put: /api/users/:id
    write:${write}${validate}
  - patch: /api/users/:id
    write:${write}
  - delete: /api/users/:id
    write:${write}
  - post: /api/users
    write:
      owner: { service: users, path: /users, version: { etag: true }${opts.postIdempotencyKey === true ? ', idempotencyKey: true' : ''} }
      propagate:
        - { service: orders, path: "/customers/{id}"${pick} }
        - { service: catalog, path: "/owners/{id}" }${validate}
`
}

export interface Answer { status: number, headers: Record<string, string | string[] | undefined>, body: any }

export async function call (url: string, method: 'GET' | 'PUT' | 'POST' | 'PATCH' | 'DELETE', body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const res = await request(url, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body)
  })
  const text = await res.body.text()
  let parsed: unknown = text
  try { parsed = text === '' ? undefined : JSON.parse(text) } catch {}
  return { status: res.statusCode, headers: res.headers, body: parsed }
}

/** The version a service holds for `path` (copy or owner), tombstones excluded: undefined when absent. */
export async function versionAt (base: string, path: string): Promise<number | undefined> {
  const res = await call(base + path, 'GET')
  if (res.status === 404 || res.status === 410) return undefined
  if (res.status !== 200) throw new Error(`GET ${path}: ${res.status}`)
  return res.body.version
}

/** Polls `check` every 50 ms until it returns true or `timeoutMs` passes; returns whether it did. */
export async function eventually (check: () => Promise<boolean>, timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      if (await check()) return true
    } catch {}
    if (Date.now() > deadline) return false
    await new Promise(resolve => setTimeout(resolve, 50))
  }
}

export async function stats (base: string): Promise<{ requests: number, byMethodPath: Record<string, number> }> {
  const res = await call(base + '/_control/stats', 'GET')
  return res.body
}

export async function control (base: string, body: unknown): Promise<void> {
  const res = await call(base + '/_control', 'POST', body)
  if (res.status !== 200) throw new Error(`control: ${res.status}`)
}

/** Short timeouts so recovery (2 × (timeout + connectTimeout) + 1 s) and redelivery happen within a test's patience. */
export const FAST_OUTBOX = 'outbox: { attemptTimeout: 1s, visibilityTimeout: 2s, pollInterval: 100ms, baseBackoff: 50ms, maxBackoff: 500ms }\n'

export interface BurstOptions {
  /** Writes to issue at most. */
  total: number
  /** Entity ids 1..entities. */
  entities: number
  /** Concurrent clients. */
  clients: number
  /** Called after each completed write (2xx or not) with the count so far; return true to stop issuing. */
  onDone?: (completed: number) => boolean
}

export interface BurstResult { completed: number, ok: number, failed: number, ms: number }

/** PUTs random entities through `base()` from `clients` concurrent loops; every loop is bounded by `total`. */
export async function burst (base: () => string, opts: BurstOptions): Promise<BurstResult> {
  let issued = 0
  let completed = 0
  let ok = 0
  let failed = 0
  let stop = false
  const started = Date.now()
  const client = async (): Promise<void> => {
    while (!stop && issued < opts.total) {
      const n = issued++
      const id = String(1 + Math.floor(Math.random() * opts.entities))
      try {
        const res = await request(`${base()}/api/users/${id}`, {
          method: 'PUT',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ name: `user ${id} write ${n}`, email: `u${id}@example.com` }),
          headersTimeout: 10_000,
          bodyTimeout: 10_000
        })
        await res.body.dump()
        if (res.statusCode < 300) ok++
        else failed++
      } catch {
        failed++
      }
      completed++
      if (opts.onDone?.(completed) === true) stop = true
    }
  }
  await Promise.all(Array.from({ length: opts.clients }, client))
  return { completed, ok, failed, ms: Date.now() - started }
}

/** Ids whose copies (orders /customers, catalog /owners) differ from the owner's version, tombstones included. */
export function divergent (demo: DemoServices, entities: number): string[] {
  const users = storeOf(demo.apps.users)
  const orders = storeOf(demo.apps.orders)
  const catalog = storeOf(demo.apps.catalog)
  const out: string[] = []
  for (let i = 1; i <= entities; i++) {
    const id = String(i)
    const owner = users.versionOf('users', id)
    if (orders.copyVersionOf('customers', id) !== owner || catalog.copyVersionOf('owners', id) !== owner) out.push(id)
  }
  return out
}

/** Owner entities whose `name` starts with `prefix`: their ids, and the names held more than once (duplicates). */
export function createdByName (demo: DemoServices, prefix: string): { ids: string[], duplicates: string[] } {
  const seen = new Map<string, number>()
  const ids: string[] = []
  for (const doc of storeOf(demo.apps.users).list('users')) {
    const name = doc.name
    if (typeof name !== 'string' || !name.startsWith(prefix)) continue
    ids.push(String(doc.id))
    seen.set(name, (seen.get(name) ?? 0) + 1)
  }
  return { ids, duplicates: [...seen].filter(([, n]) => n > 1).map(([name]) => name) }
}

/** Of `ids`, those whose copies (orders /customers, catalog /owners) differ from the owner's version. */
export function divergentIds (demo: DemoServices, ids: readonly string[]): string[] {
  const users = storeOf(demo.apps.users)
  const orders = storeOf(demo.apps.orders)
  const catalog = storeOf(demo.apps.catalog)
  return ids.filter(id => {
    const owner = users.versionOf('users', id)
    return orders.copyVersionOf('customers', id) !== owner || catalog.copyVersionOf('owners', id) !== owner
  })
}
