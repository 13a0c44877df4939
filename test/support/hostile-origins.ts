/**
 * The services behind the hygiene and hostile-input tests, each a recording origin
 * (./recording-origin.ts): `users` and `orders` (proxied and composed), `catalog` (owner of
 * the write routes: versions in ETags, POST answers 201 + Location) and `copies` (keeps a
 * copy of catalog items). `config()` is a gateway config with one route of every kind over
 * them; `reset()` forgets what each has received.
 */
import type { RecordingOrigin } from './recording-origin.js'
import { startRecordingOrigin } from './recording-origin.js'

interface Teardown { teardown (fn: () => unknown): void }

export const SERVICES = ['users', 'orders', 'catalog', 'copies'] as const
export type ServiceName = typeof SERVICES[number]

export interface HostileOrigins {
  readonly origins: Readonly<Record<ServiceName, RecordingOrigin>>
  reset (): void
  /** services: + routes: over these origins; `server` (and any other top-level blocks) first as given, `extraRoutes` (YAML list items) last. */
  config (server?: string, extraRoutes?: string): string
}

export async function startHostileOrigins (t: Teardown): Promise<HostileOrigins> {
  let version = 0
  const catalog = await startRecordingOrigin(t, (req, res) => {
    res.setHeader('content-type', 'application/json')
    if (req.method === 'POST') {
      version++
      res.statusCode = 201
      res.setHeader('location', `/items/item-${version}`)
      res.setHeader('etag', `"${version}"`)
      res.end(JSON.stringify({ id: `item-${version}`, name: 'made', version }))
      return
    }
    if (req.method === 'PUT' || req.method === 'DELETE') version++
    res.setHeader('etag', `"${Math.max(version, 1)}"`)
    res.end(JSON.stringify({ id: req.url.split('/').at(-1), name: 'item', version: Math.max(version, 1) }))
  })
  const origins = {
    users: await startRecordingOrigin(t),
    orders: await startRecordingOrigin(t),
    catalog,
    copies: await startRecordingOrigin(t)
  }
  return {
    origins,
    reset: () => { for (const name of SERVICES) origins[name].reset() },
    config: (server = '', extraRoutes = '') => `${server}
services:
  users: { urls: [${origins.users.url}], timeout: 2s }
  orders: { urls: [${origins.orders.url}], timeout: 2s }
  catalog: { urls: [${origins.catalog.url}], timeout: 2s }
  copies: { urls: [${origins.copies.url}], timeout: 2s }
outbox: { baseBackoff: 50ms, maxBackoff: 200ms, pollInterval: 50ms }
routes:
  - { proxy: /api/users, service: users, rewrite: /users }
  - { proxy: /api/orders, service: orders, rewrite: /orders, methods: [GET, HEAD] }
  - put: /api/items/:id
    write:
      owner: { service: catalog, path: "/items/{params.id}", version: { etag: true } }
      requireIfMatch: true
      propagate: [{ service: copies, path: "/item-copies/{params.id}" }]
    validate: { body: { type: object, required: [name], properties: { name: { type: string } } } }
  - post: /api/items
    write:
      owner: { service: catalog, path: /items, version: { etag: true } }
      propagate: [{ service: copies, path: "/item-copies/{id}" }]
  - get: /api/profile/:id
    forwardHeaders: [authorization]
    compose:
      user: { service: users, path: "/users/{params.id}" }
      orders: { service: orders, path: "/orders?user={params.id}", optional: true }
  - get: /api/lookup
    compose:
      item: { service: catalog, path: "/items/{query.id}" }
${extraRoutes}`
  }
}
