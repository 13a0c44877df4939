/**
 * The multi-instance proof, run against any Redis deployment (one redis-server, or a
 * 3-master Redis Cluster): real nginx with the shipped config in front of three real
 * `junction start` processes sharing the store, the demo services behind them.
 *
 *   1. a write through A, then reads through B and C (a cached proxy route and a cached
 *      composed route): never the old version once A answered; the invalidation
 *      broadcast's delay, measured over many writes (printed, not asserted beyond sanity);
 *   2. 3 instances × 50 concurrent misses on one key: the origin fetches a handful at most;
 *   3. one limit through nginx over the three instances: exactly `max` pass, the rest 429;
 *   4. SIGKILL of one instance in a write burst through nginx: nginx fails over, the
 *      survivors reclaim what the dead one held, every copy converges, no acknowledged
 *      write is lost;
 *   5. every key in Redis carries a hash tag, and no instance logged CROSSSLOT.
 *
 * One setup per backend (starting three processes is most of the cost), the parts in
 * that order: the crash comes last because it leaves two instances.
 */
import { performance } from 'node:perf_hooks'
import type { Test } from 'tap'
import { request } from 'undici'
import type { Cluster, Redis } from 'ioredis'
import { storeOf } from '../../examples/services/service.js'
import type { RedisStoreConfig } from '../../src/config/types.js'
import { RedisStore } from '../../src/store/redis-store.js'
import { startCliGateway, type RunningGateway } from './cli.js'
import { startCacheOrigin } from './cache-origin.js'
import { startNginx } from './nginx.js'
import { startOrigin } from './origin.js'
import { control, divergent, eventually, FAST_OUTBOX, startDemo } from './writes.js'

export interface ScaleoutBackend {
  /** `redis` or `redis cluster`, for messages. */
  readonly name: string
  /** The store every instance gets; prefix `junction:` (the default). */
  readonly storeConfig: RedisStoreConfig
  /** A client routed like the instances' own (Redis, or Cluster following slots). */
  client (): Redis | Cluster
  /** One plain client per server (every master of a cluster), to list keys. */
  servers (): Redis[]
}

const LIMIT = 30
/**
 * Their buckets (`* <path>|127.0.0.1`) hash to slots 2334, 6731 and 15096: one on each
 * master of a 3-master cluster made by `redis-cli --cluster create`, so the limiter must
 * follow the cluster's slots, not just talk to the node it was given.
 */
const LIMITED_ROUTES = ['/api/limited', '/api/limited-c', '/api/limited-a']
const RATE_REQUESTS = 90
const ROUNDS = 40
const MISSES_PER_INSTANCE = 50
const CRASH_WRITES = 900
const CRASH_ENTITIES = 20
const CRASH_CLIENTS = 8
const PREFIX = 'junction:'

interface Reply { status: number, headers: Record<string, string | string[] | undefined>, text: string }

async function send (url: string, method: 'GET' | 'PUT' = 'GET', body?: unknown): Promise<Reply> {
  const res = await request(url, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    headersTimeout: 10_000,
    bodyTimeout: 10_000
  })
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() }
}

function percentile (sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p / 100 * sorted.length) - 1))] ?? NaN
}

/** `"12"` (the owner's ETag, passed on by the write route) → 12. */
function versionOf (etag: string | string[] | undefined): number | undefined {
  const match = typeof etag === 'string' ? /^(?:W\/)?"(\d+)"$/.exec(etag) : null
  return match === null ? undefined : Number(match[1])
}

export async function scaleoutSuite (t: Test, backend: ScaleoutBackend): Promise<void> {
  const demo = await startDemo(t)
  const products = await startCacheOrigin(t, { body: 'shared', delayMs: 300 })
  const limitedServed: Record<string, number> = {}
  const limited = await startOrigin(t, (req, res) => {
    const route = (req.url ?? '').split('/').slice(0, 3).join('/')
    limitedServed[route] = (limitedServed[route] ?? 0) + 1
    res.end('ok')
  })
  const yaml = `server: { trustProxy: true, logLevel: warn }
${FAST_OUTBOX}services:
  users: { urls: ["${demo.urls.users}"], timeout: 1s, connectTimeout: 500ms }
  orders: { urls: ["${demo.urls.orders}"], timeout: 1s, connectTimeout: 500ms }
  catalog: { urls: ["${demo.urls.catalog}"], timeout: 1s, connectTimeout: 500ms }
  products: { urls: ["${products.url}"] }
  plain: { urls: ["${limited.url}"] }
routes:
  - { proxy: /api/users, service: users, rewrite: /users, cache: { ttl: 10m, tags: ["user:{response.id}"] } }
  - get: /api/users/:id/profile
    compose:
      user: { service: users, path: "/users/{params.id}" }
    cache: { ttl: 10m, tags: ["user:{params.id}"] }
  - put: /api/users/:id
    write:
      owner: { service: users, path: "/users/{params.id}", version: { etag: true } }
      propagate:
        - { service: orders, path: "/customers/{params.id}" }
        - { service: catalog, path: "/owners/{params.id}" }
      invalidate: ["user:{params.id}"]
  - { proxy: /api/products, service: products, cache: { ttl: 1m } }
${LIMITED_ROUTES.map(path => `  - { proxy: ${path}, service: plain, rateLimit: { max: ${LIMIT}, window: 1m } }\n`).join('')}`
  // Bounded, but generous: three Node.js processes starting at once on a loaded 2-core machine.
  const gateways = await Promise.all([0, 1, 2].map(async () => await startCliGateway(t, yaml, { store: JSON.stringify(backend.storeConfig), startTimeoutMs: 120_000 })))
  const [a, b, c] = gateways as [RunningGateway, RunningGateway, RunningGateway]
  const upstreams = gateways.map(g => `127.0.0.1:${g.port}`)
  const nginx = await startNginx(t, { upstreams })
  const client = backend.client()
  t.teardown(() => { client.disconnect() })

  await t.test(`${backend.name}: a write through A is never read stale through B or C; broadcast delay`, async t => {
    // One more listener on the instances' channel, through the store's own code (sharded
    // pub/sub on a cluster): it hears each message when the other instances do.
    const listener = await RedisStore.open(backend.storeConfig)
    t.teardown(() => listener.close())
    const arrivals: Array<{ at: number, tags: string[] }> = []
    await listener.subscribe('cache:invalidate', message => {
      const parsed = JSON.parse(message) as { stamps?: Array<{ tag: string }> }
      arrivals.push({ at: performance.now(), tags: (parsed.stamps ?? []).map(s => s.tag) })
    })

    const readers = [{ name: 'B', gw: b }, { name: 'C', gw: c }]
    const routes = [
      { name: 'proxy', path: (id: string) => `/api/users/${id}`, nameIn: (body: any) => body.name },
      { name: 'compose', path: (id: string) => `/api/users/${id}/profile`, nameIn: (body: any) => body.user?.name }
    ]
    const afterAnswer: number[] = []
    const afterStart: number[] = []
    const puts: number[] = []
    let stale = 0
    let warmHits = 0
    let reads = 0
    const afterWrite: Record<string, number> = {}
    for (let round = 0; round < ROUNDS; round++) {
      const id = String(1 + (round % 4))
      // B and C hold both answers in L1: a second read is a HIT.
      for (const { gw } of readers) {
        for (const route of routes) {
          await send(gw.url + route.path(id))
          if ((await send(gw.url + route.path(id))).headers['x-cache'] === 'HIT') warmHits++
        }
      }
      const name = `Scale ${backend.name} ${round}`
      const seen = arrivals.length
      const start = performance.now()
      const put = await send(`${a.url}/api/users/${id}`, 'PUT', { name, email: `u${id}@example.com` })
      const answered = performance.now()
      t.equal(put.status, 200, `round ${round}: A acknowledged the write`)
      // Straight after A's answer, all four reads at once: none may show the old name.
      const results = await Promise.all(readers.flatMap(({ name: who, gw }) => routes.map(async route => {
        const res = await send(gw.url + route.path(id))
        return { who, route: route.name, res }
      })))
      for (const { who, route, res } of results) {
        reads++
        const got = res.status === 200 ? routes.find(r => r.name === route)!.nameIn(JSON.parse(res.text)) : undefined
        const cache = String(res.headers['x-cache'])
        afterWrite[cache] = (afterWrite[cache] ?? 0) + 1
        if (got !== name) {
          stale++
          t.fail(`round ${round}: ${who} ${route} answered ${res.status} ${String(res.headers['x-cache'])} with "${String(got)}" after A acknowledged "${name}"`)
        }
      }
      // The message every instance received (this subscriber is one more listener).
      const deadline = Date.now() + 2000
      while (arrivals.length === seen && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 2))
      const message = arrivals.slice(seen).find(m => m.tags.includes(`user:${id}`))
      t.ok(message !== undefined, `round ${round}: the invalidation was broadcast`)
      if (message !== undefined) {
        afterAnswer.push(message.at - answered)
        afterStart.push(message.at - start)
      }
      puts.push(answered - start)
    }
    t.equal(stale, 0, `no stale answer in ${reads} reads through B and C right after A's acknowledgement`)
    // A HIT here is another instance's fill of the new version, read from L2 (B and C read
    // the same key at once and coalesce); the name check above is what matters.
    t.ok(warmHits >= ROUNDS * 4 * 0.9, `B and C held the answers in L1 before the writes (${warmHits} of ${ROUNDS * 4} warm reads were HITs)`)
    for (const list of [afterAnswer, afterStart, puts]) list.sort((x, y) => x - y)
    const f = (n: number): string => n.toFixed(1)
    t.comment(`${backend.name}: invalidation broadcast over ${afterAnswer.length} writes through A: ` +
      `message at the other instances' channel p50 ${f(percentile(afterStart, 50))} / p99 ${f(percentile(afterStart, 99))} ms after the PUT was sent; ` +
      `relative to A's 2xx at the client p50 ${f(percentile(afterAnswer, 50))} / p99 ${f(percentile(afterAnswer, 99))} ms (negative: before it); ` +
      `PUT round trip p50 ${f(percentile(puts, 50))} / p99 ${f(percentile(puts, 99))} ms; reads right after: ${JSON.stringify(afterWrite)}`)
    t.ok(percentile(afterStart, 100) < 2000, 'sanity: every broadcast arrived within 2 s of the write')
  })

  await t.test(`${backend.name}: 3 instances × ${MISSES_PER_INSTANCE} concurrent misses on one key`, async t => {
    const before = products.count()
    const answers = await Promise.all(gateways.flatMap(gw => Array.from({ length: MISSES_PER_INSTANCE }, async () => await send(`${gw.url}/api/products/hot`))))
    const fetches = products.count() - before
    t.ok(answers.every(x => x.status === 200 && x.text === 'shared'), 'every request got the answer')
    t.comment(`${backend.name}: ${answers.length} concurrent cold requests over 3 instances → ${fetches} origin fetch(es)`)
    t.ok(fetches >= 1 && fetches <= 3, `the origin saw a handful of fetches at most (${fetches})`)
    const caches: Record<string, number> = {}
    for (const x of answers) caches[String(x.headers['x-cache'])] = (caches[String(x.headers['x-cache'])] ?? 0) + 1
    t.comment(`X-Cache: ${JSON.stringify(caches)}`)
  })

  await t.test(`${backend.name}: one rate limit over three instances through nginx`, async t => {
    for (const route of LIMITED_ROUTES) {
      const statuses: number[] = []
      const retryAfter: string[] = []
      let next = 0
      await Promise.all(Array.from({ length: 6 }, async () => {
        while (next < RATE_REQUESTS) {
          next++
          const res = await send(`${nginx.url}${route}/x`)
          statuses.push(res.status)
          if (res.status === 429) retryAfter.push(String(res.headers['retry-after']))
        }
      }))
      const ok = statuses.filter(s => s === 200).length
      const refused = statuses.filter(s => s === 429).length
      t.equal(statuses.length, RATE_REQUESTS)
      t.equal(ok, LIMIT, `${route}: exactly ${LIMIT} of ${RATE_REQUESTS} went through`)
      t.equal(refused, RATE_REQUESTS - LIMIT, `${route}: the rest were refused with 429`)
      t.equal(limitedServed[route], LIMIT, `${route}: the service saw exactly the limit`)
      t.ok(retryAfter.every(v => /^[1-9]\d*$/.test(v) && Number(v) <= 60), `${route}: every 429 says when to come back (Retry-After ${[...new Set(retryAfter)].join(', ')})`)
      const log = await nginx.accessLog()
      const served = new Set(log.filter(line => String(line.uri).startsWith(`${route}/`)).map(line => String(line.upstream)))
      t.same([...served].sort(), [...upstreams].sort(), `${route}: nginx spread them over all three instances`)
    }
  })

  await t.test(`${backend.name}: SIGKILL of one instance in a write burst through nginx`, async t => {
    // Slow dependents: deliveries are in flight on every instance when C dies.
    await control(demo.urls.orders, { delayMs: 30 })
    await control(demo.urls.catalog, { delayMs: 30 })
    const acked: Array<{ id: string, version: number }> = []
    const killAt = 100 + Math.floor(Math.random() * 200)
    let killed = false
    let probe: Promise<Record<string, number>> | undefined
    let failed = 0
    let failedAfterKill = 0
    let noVersion = 0
    let issued = 0
    let completed = 0
    const loop = async (): Promise<void> => {
      while (issued < CRASH_WRITES) {
        const n = issued++
        const id = String(1 + Math.floor(Math.random() * CRASH_ENTITIES))
        let res: Reply | undefined
        try {
          res = await send(`${nginx.url}/api/users/${id}`, 'PUT', { name: `burst ${n}`, email: `u${id}@example.com` })
        } catch {}
        if (res !== undefined && res.status >= 200 && res.status < 300) {
          const version = versionOf(res.headers.etag)
          if (version === undefined) noVersion++
          else acked.push({ id, version })
        } else {
          failed++
          if (killed) failedAfterKill++
        }
        completed++
        if (!killed && completed >= killAt) {
          killed = true
          c.child.kill('SIGKILL')
          probe = c.exited.then(async () => await heldBy(client, c.child.pid as number))
        }
      }
    }
    const started = Date.now()
    await Promise.all(Array.from({ length: CRASH_CLIENTS }, loop))
    const burstMs = Date.now() - started
    t.equal((await c.exited).signal, 'SIGKILL', 'C was killed')
    const held = await probe
    t.comment(`${backend.name}: killed C after ${killAt} writes; it held ${JSON.stringify(held)} (queue → unacknowledged entries) when it died`)
    t.equal(noVersion, 0, 'every acknowledged write carries its version')
    t.comment(`${acked.length} of ${CRASH_WRITES} writes acknowledged in ${burstMs} ms; ${failed} failed (cut off in flight on C or refused), ${failedAfterKill} of them after the kill`)
    // PUT is idempotent (RFC 9110 §9.2.2): nginx passes it on when C dies under it.
    const passedOn = (await nginx.accessLog()).filter(line => line.method === 'PUT' && String(line.upstream).includes(','))
    t.comment(`PUTs nginx passed on to another instance: ${passedOn.length}`)
    t.ok(failed <= CRASH_CLIENTS, `nginx failed over: only writes in flight on C were lost to the client (${failed} ≤ ${CRASH_CLIENTS})`)

    await control(demo.urls.orders, { delayMs: 0 })
    await control(demo.urls.catalog, { delayMs: 0 })
    const settled = Date.now()
    t.ok(await eventually(async () => divergent(demo, CRASH_ENTITIES).length === 0, 40_000),
      `every copy converges to the owner's final version (divergent: ${divergent(demo, CRASH_ENTITIES).join(',')})`)
    t.comment(`converged ${Date.now() - settled} ms after the burst`)

    // None lost: each acknowledged version is at or below the owner's final one, which
    // every copy holds; two acknowledgements never share a version of one entity.
    const users = storeOf(demo.apps.users)
    const lost = acked.filter(w => (users.versionOf('users', w.id) ?? -1) < w.version)
    t.same(lost, [], `all ${acked.length} acknowledged writes are in the owner's history and reached the copies`)
    const versions = new Set(acked.map(w => `${w.id}@${w.version}`))
    t.equal(versions.size, acked.length, 'no two acknowledgements name the same version')

    // The survivors took over what C held: no entry is left unacknowledged, on C's
    // consumers or anyone's, once everything has converged.
    const drained = await eventually(async () => Object.keys(await heldBy(client)).length === 0, 15_000)
    t.ok(drained, `no queue entry is left in flight (${JSON.stringify(await heldBy(client))})`)
    t.same(await heldBy(client, c.child.pid as number), {}, 'C\'s consumers hold nothing any more')

    const log = await nginx.accessLog()
    // nginx probes C again with live traffic every fail_timeout (10s): such a PUT is refused
    // at connect and passed on, never answered by nginx with an error.
    const late = log.filter(line => line.method === 'PUT').slice(-200)
    const triedC = late.filter(line => String(line.upstream).includes(`127.0.0.1:${c.port}`))
    t.ok(late.every(line => Number(line.status) === 200), 'the last 200 writes were answered by the survivors')
    t.ok(triedC.every(line => String(line.upstream).includes(',')), `those that tried C were passed on (${triedC.length})`)
  })

  await t.test(`${backend.name}: every key carries a hash tag; no CROSSSLOT anywhere`, async t => {
    const servers = backend.servers()
    t.teardown(() => { for (const s of servers) s.disconnect() })
    const keys = (await Promise.all(servers.map(async s => await s.keys('*')))).flat()
    t.ok(keys.length > 0, `${keys.length} keys in the store`)
    const untagged = keys.filter(key => !/\{[^{}]+\}/.test(key))
    t.same(untagged, [], 'each key names its slot with a hash tag')
    for (const gw of gateways) t.notMatch(gw.output(), /CROSSSLOT|MOVED|ASK /, `instance on ${gw.port} logged no slot error`)
  })
}

/**
 * Unacknowledged entries per queue stream, all consumers or those of one process (the
 * outbox's `<host>-<pid>-…` and recovery's `<host>:<pid>:…`), from XPENDING.
 */
async function heldBy (client: Redis | Cluster, pid?: number): Promise<Record<string, number>> {
  const out: Record<string, number> = {}
  for (const name of ['outbox:orders', 'outbox:catalog', 'write-intents']) {
    const stream = `${PREFIX}queue:{${name}}`
    let summary: unknown
    try {
      summary = await client.xpending(stream, 'junction')
    } catch {
      continue // no stream or no group yet
    }
    const consumers = (Array.isArray(summary) ? summary[3] : null) as Array<[string, string]> | null
    let count = 0
    for (const [consumer, n] of consumers ?? []) {
      if (pid === undefined || new RegExp(`[-:]${pid}[-:]`).test(consumer)) count += Number(n)
    }
    if (count > 0) out[name] = count
  }
  return out
}
