/**
 * Shared parts of the outbox tests: a real dependent (node:http on 127.0.0.1, port 0)
 * implementing the copy API's newer-only rule and recording every request, the two real
 * stores, and a bounded wait.
 */
import { randomUUID } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { join } from 'node:path'
import type { ServiceConfig } from '../../src/config/types.js'
import { CIRCUIT_BREAKER_DEFAULTS, RETRY_DEFAULTS } from '../../src/config/resilience-block.js'
import { EmbeddedStore } from '../../src/store/embedded-store.js'
import { RedisStore } from '../../src/store/redis-store.js'
import type { Store } from '../../src/store/store.js'
import { Upstreams } from '../../src/upstream/service-pool.js'
import { StoreOutbox, type StoreOutboxOptions } from '../../src/outbox/store-outbox.js'
import type { DeliveryRequest } from '../../src/outbox/types.js'
import { readBody, startOrigin, type Origin } from './origin.js'

interface Teardown { teardown (fn: () => unknown): void }

export interface SeenRequest {
  readonly method: string
  readonly id: string
  readonly version: number
  readonly headers: IncomingMessage['headers']
  readonly body: string
  /** Epoch ms of arrival. */
  readonly at: number
  /** What the dependent answered. */
  status: number
}

/** What the dependent does with one request; undefined = the newer-only default. */
export type Behaviour = (req: SeenRequest) => { status: number, headers?: Record<string, string>, body?: string, delayMs?: number, hang?: boolean } | undefined

export interface Dependent {
  readonly origin: Origin
  readonly url: string
  readonly seen: SeenRequest[]
  /** Version held per id (applied 2xx only). */
  readonly held: Map<string, number>
  /** Most requests for one id in flight at the same time, per id. */
  readonly maxInFlight: Map<string, number>
  behaviour: Behaviour
  /** Default handling delay (ms). */
  delayMs: number
}

export async function startDependent (t: Teardown, behaviour: Behaviour = () => undefined): Promise<Dependent> {
  const inFlight = new Map<string, number>()
  const dep: Dependent = {
    origin: undefined as unknown as Origin,
    url: '',
    seen: [],
    held: new Map(),
    maxInFlight: new Map(),
    behaviour,
    delayMs: 0
  }
  const handler = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const id = (req.url ?? '/').split('/').pop() ?? ''
    const body = (await readBody(req)).toString()
    const seen: SeenRequest = { method: req.method ?? '', id, version: Number(req.headers['x-entity-version'] ?? req.headers['x-copy-version']), headers: req.headers, body, at: Date.now(), status: 0 }
    dep.seen.push(seen)
    const now = (inFlight.get(id) ?? 0) + 1
    inFlight.set(id, now)
    dep.maxInFlight.set(id, Math.max(dep.maxInFlight.get(id) ?? 0, now))
    let finished = false
    const finish = (): void => {
      if (finished) return
      finished = true
      inFlight.set(id, (inFlight.get(id) ?? 1) - 1)
    }
    res.once('close', finish)
    const custom = dep.behaviour(seen)
    if (custom?.hang === true) return // never answers; the client gives up or dies
    const delay = custom?.delayMs ?? dep.delayMs
    if (delay > 0) await new Promise(resolve => setTimeout(resolve, delay))
    let status: number
    let answer = ''
    const headers: Record<string, string> = { 'content-type': 'application/json', ...custom?.headers }
    if (custom !== undefined) {
      status = custom.status
      answer = custom.body ?? JSON.stringify({ status })
    } else {
      const held = dep.held.get(id) ?? 0
      if (seen.version > held) {
        dep.held.set(id, seen.version)
        status = 200
      } else {
        status = 409
      }
      answer = JSON.stringify({ id, version: seen.version, held })
    }
    seen.status = status
    finish()
    res.writeHead(status, headers).end(answer)
  }
  const origin = await startOrigin(t, (req, res) => { handler(req, res).catch(() => res.destroy()) })
  return Object.assign(dep, { origin, url: origin.url })
}

export function serviceConfig (name: string, url: string): ServiceConfig {
  return { name, urls: [url], timeoutMs: 5000, connectTimeoutMs: 1000, connections: 32, keepAliveTimeoutMs: 4000, retry: RETRY_DEFAULTS, circuitBreaker: CIRCUIT_BREAKER_DEFAULTS, health: undefined }
}

export function upstreamsFor (t: Teardown, services: Record<string, string>): Upstreams {
  const upstreams = new Upstreams(Object.fromEntries(Object.entries(services).map(([name, url]) => [name, serviceConfig(name, url)])))
  t.teardown(() => upstreams.close())
  return upstreams
}

/** Fast knobs for tests: short polls, backoffs and timeouts. */
export const FAST = {
  pollIntervalMs: 50,
  baseBackoffMs: 20,
  maxBackoffMs: 100,
  attemptTimeoutMs: 1000,
  visibilityTimeoutMs: 2000,
  closeTimeoutMs: 2000
} as const

export function makeOutbox (t: Teardown, opts: StoreOutboxOptions): StoreOutbox {
  const outbox = new StoreOutbox({ ...FAST, ...opts })
  t.teardown(() => outbox.close())
  return outbox
}

let writes = 0
export function delivery (id: string, version: number, extra: Partial<DeliveryRequest> = {}): DeliveryRequest {
  return {
    dependent: 'orders',
    entity: `users:/users/${id}`,
    version,
    writeId: `w${++writes}-${randomUUID().slice(0, 8)}`,
    method: 'PUT',
    path: `/customers/${id}`,
    body: JSON.stringify({ id, name: `user ${id} v${version}` }),
    committedAt: Date.now(),
    ...extra
  }
}

export async function until (what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!await check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

export interface StoreKind {
  readonly name: 'embedded' | 'redis'
  /** A fresh, empty store (own directory or own prefix), closed at teardown. */
  open (t: Teardown): Promise<Store>
  /** Another connection to the same data (Redis only). */
  openShared? (t: Teardown, like: Store): Promise<Store>
}

export function embeddedKind (root: string): StoreKind {
  let n = 0
  return {
    name: 'embedded',
    async open (t) {
      const store = await EmbeddedStore.open({ kind: 'embedded', dir: join(root, `outbox-${++n}`), fsync: 'batch' })
      t.teardown(() => store.close())
      return store
    }
  }
}

export function redisKind (url: string): StoreKind {
  const prefixes = new WeakMap<Store, string>()
  const open = async (t: Teardown, prefix: string): Promise<Store> => {
    const store = await RedisStore.open({ kind: 'redis', url, prefix })
    prefixes.set(store, prefix)
    t.teardown(() => store.close())
    return store
  }
  return {
    name: 'redis',
    open: t => open(t, `outbox-test:${randomUUID()}:`),
    openShared: (t, like) => open(t, prefixes.get(like) ?? '')
  }
}
