/**
 * Scenario 3: cache hits (and the miss path, below). The same ~1 KB JSON body answered by Junction from its cache
 * (proxy route with `cache: { ttl: 1h }`, so after the warm-up every request is a hit)
 * against a bare Fastify route returning it from memory, alternating targets round by
 * round:
 *
 * - L1: the in-process tier (embedded store);
 * - L2 embedded / L2 Redis: `cache.l1MaxBytes: 1`, so no entry fits in L1 and every hit
 *   is read from the store (and checked against the tag stamps) — what a hit costs on an
 *   instance that has not seen the key yet.
 *
 * And the miss path: a gateway whose cached route and uncached proxy route go to the same
 * backend, each request with a URL of its own (a query parameter counting up), so every
 * request to the cached route is a miss that fetches and stores (L1 and L2 embedded; a 5 s
 * TTL keeps the store's memory bounded), against the same requests through the uncached
 * route of the same process: what caching costs a request it cannot answer.
 *
 * Target: an L1 hit reaches ≥ 85% of the bare Fastify reply's req/s. BENCH_COMPARE_CLI
 * (another build's dist/src/cli.js) adds that build's L1 hit as one more target.
 * BENCH_PROFILE_DIR=<dir>: both L1 gateways write a CPU profile there when they stop.
 */
import { join } from 'node:path'
import type autocannon from 'autocannon'
import { alternate } from '../lib/load.js'
import { ROOT, profileArgs, startJunction, startNode, type Running } from '../lib/processes.js'
import { startRedis, type BenchRedis } from '../lib/redis.js'
import type { BenchSettings, ScenarioReport } from '../lib/report.js'

const CONFIG = (backend: string, l1MaxBytes?: number): string => `${l1MaxBytes === undefined ? '' : `cache: { l1MaxBytes: ${l1MaxBytes} }\n`}services:
  backend: { urls: [${backend}] }
routes:
  - { proxy: /api, service: backend, rewrite: /, cache: { ttl: 1h } }
`

/** The miss-path gateway: the same backend cached (every request a miss: see above) and not. */
const MISS_CONFIG = (backend: string): string => `services:
  backend: { urls: [${backend}] }
routes:
  - { proxy: /api, service: backend, rewrite: /, cache: { ttl: 5s } }
  - { proxy: /plain, service: backend, rewrite: / }
`

const MISS = 'junction cache miss, every request (a URL of its own each)'
const UNCACHED = 'junction uncached proxy route, same requests, same process'

interface Target { readonly name: string, readonly url: string, readonly measured: Running, readonly vary?: (request: autocannon.Request) => autocannon.Request }

/** A URL of its own for every request, across rounds and runs of this process. */
let unique = 0
const uniquePaths = (path: string) => (request: autocannon.Request): autocannon.Request => ({ ...request, path: `${path}?n=${unique++}` })

export async function cacheScenario (settings: BenchSettings): Promise<ScenarioReport> {
  const cpu = settings.serverCpu
  const started: Running[] = []
  let redis: BenchRedis | undefined
  try {
    const backend = await startNode('backend', join(ROOT, 'bench/peers/backend.mjs'), { cpu })
    started.push(backend)
    // The baseline returns exactly the body the backend serves (and Junction caches).
    const body = await (await fetch(`${backend.url}/users/1`)).text()
    const bare = await startNode('bare fastify', join(ROOT, 'bench/peers/bare-fastify.mjs'), { cpu, env: { BODY: body } })
    started.push(bare)
    const l1 = await startJunction('junction L1', CONFIG(backend.url), { cpu, nodeArgs: profileArgs('cache-l1') })
    started.push(l1)
    const l2Embedded = await startJunction('junction L2 embedded', CONFIG(backend.url, 1), { cpu })
    started.push(l2Embedded)
    redis = await startRedis(cpu)
    const l2Redis = await startJunction('junction L2 redis', CONFIG(backend.url, 1), { cpu, env: { JUNCTION_STORE_URL: redis.url } })
    started.push(l2Redis)
    const misses = await startJunction('junction miss path', MISS_CONFIG(backend.url), { cpu })
    started.push(misses)

    const targets: Target[] = [
      { name: 'bare Fastify route, same body', url: `${bare.url}/users/1`, measured: bare },
      { name: 'junction cache hit, L1', url: `${l1.url}/api/users/1`, measured: l1 },
      { name: 'junction cache hit, L2 embedded (L1 holds nothing)', url: `${l2Embedded.url}/api/users/1`, measured: l2Embedded },
      { name: 'junction cache hit, L2 Redis (L1 holds nothing)', url: `${l2Redis.url}/api/users/1`, measured: l2Redis },
      { name: MISS, url: `${misses.url}/api/users/1`, measured: misses, vary: uniquePaths('/api/users/1') },
      { name: UNCACHED, url: `${misses.url}/plain/users/1`, measured: misses, vary: uniquePaths('/plain/users/1') }
    ]
    const compare = process.env.BENCH_COMPARE_CLI
    if (compare !== undefined && compare !== '') {
      const compared = await startJunction('junction L1 (compared build)', CONFIG(backend.url), { cpu, cli: compare, nodeArgs: profileArgs('cache-l1-compared') })
      started.push(compared)
      targets.push({ name: `junction cache hit, L1, compared build ${compare}`, url: `${compared.url}/api/users/1`, measured: compared })
    }
    // The unmeasured warm-up also fills the cache (the first request of each target).
    const means = await alternate(targets.map(t => ({ name: t.name, url: t.url, measured: [t.measured], ...(t.vary === undefined ? {} : { vary: t.vary }) })), settings)
    const results = targets.map(t => ({ name: t.name, result: means.get(t.name)! }))
    const baseline = results[0]?.result
    const uncached = means.get(UNCACHED)
    const miss = means.get(MISS)
    const rows = results.map(({ name, result }) => ({
      name,
      result,
      ratios: {
        'vs bare Fastify': name === MISS || name === UNCACHED || baseline === undefined ? NaN : result.requestsPerSec / baseline.requestsPerSec,
        'vs uncached route': name !== MISS || uncached === undefined ? NaN : result.requestsPerSec / uncached.requestsPerSec
      }
    }))
    const missCost = miss === undefined || uncached === undefined
      ? ''
      : ` A miss (fetched and stored) runs at ${(100 * miss.requestsPerSec / uncached.requestsPerSec).toFixed(0)}% of the uncached route's req/s, ${(miss.cpuMicrosPerRequest - uncached.cpuMicrosPerRequest).toFixed(0)} CPU µs more per request (${miss.cpuMicrosPerRequest.toFixed(0)} vs ${uncached.cpuMicrosPerRequest.toFixed(0)}).`
    const pct = (i: number): string => {
      const r = results[i]?.result
      return r === undefined || baseline === undefined ? '–' : (100 * r.requestsPerSec / baseline.requestsPerSec).toFixed(0)
    }
    return {
      title: 'Cache hit and miss (1 KB JSON)',
      cpuNote: 'CPU µs/req is the answering process only (Junction or the bare Fastify route); Redis\'s own CPU is not counted. Every request to the hit targets is a hit after the warm-up (non-2xx would show otherwise); every request to the miss target has a URL never asked before, so it is fetched and stored.',
      rows,
      verdict: `A cache hit from L1 reaches ${pct(1)}% of a bare Fastify reply's req/s (target ≥ 85%); from L2 embedded ${pct(2)}%, from L2 Redis ${pct(3)}%.${missCost}`
    }
  } finally {
    await Promise.all(started.map(async p => await p.stop()))
    await redis?.stop()
  }
}
