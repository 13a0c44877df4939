/**
 * `npm run bench:soak`: a bounded soak. Mixed load (proxied reads, cached composed reads,
 * writes fanned out to two dependents) at a fixed offered rate for SOAK_DURATION seconds
 * (300), sampling the gateway's RSS and outbox depth every SOAK_SAMPLE seconds (5). Then
 * the load stops, the outbox must drain, and every copy must hold the owner's data.
 *
 * Writes bench/results/soak-<date>.md and bench/results/soak-latest.md.
 *
 * Settings: SOAK_DURATION (s), SOAK_RATE (offered req/s, 600), SOAK_CONNECTIONS (20),
 * SOAK_STORE (embedded | redis). Servers and load generator share both cores (unpinned):
 * the soak measures memory and backlog over time, not peak throughput.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { cpus, totalmem } from 'node:os'
import { join } from 'node:path'
import autocannon from 'autocannon'
import { request } from 'undici'
import { ROOT, freePort, startJunction, startNode, type Running } from './lib/processes.js'
import { startRedis, type BenchRedis } from './lib/redis.js'

const durationSec = Number(process.env.SOAK_DURATION ?? 300)
const sampleSec = Number(process.env.SOAK_SAMPLE ?? 5)
const rate = Number(process.env.SOAK_RATE ?? 600)
const connections = Number(process.env.SOAK_CONNECTIONS ?? 20)
const storeKind = process.env.SOAK_STORE === 'redis' ? 'redis' : 'embedded'
/** Users written to (and read): a working set that fits the cache, so reads hit and writes invalidate. */
const USERS = 200
const ADMIN_TOKEN = 'soak-admin-token'
/** Share of each request kind in the mix; SOAK_MIX=proxy:1,compose:0,write:0 isolates one kind. */
const MIX = parseMix(process.env.SOAK_MIX ?? 'proxy:0.55,compose:0.3,write:0.15')

function parseMix (text: string): { proxy: number, compose: number, write: number } {
  const parts = Object.fromEntries(text.split(',').map(kv => kv.split(':')).map(([k, v]) => [k?.trim(), Number(v)]))
  const mix = { proxy: parts.proxy ?? 0, compose: parts.compose ?? 0, write: parts.write ?? 0 }
  const total = mix.proxy + mix.compose + mix.write
  if (!(total > 0)) throw new Error(`SOAK_MIX: expected e.g. proxy:0.55,compose:0.3,write:0.15, got ${text}`)
  return { proxy: mix.proxy / total, compose: mix.compose / total, write: mix.write / total }
}
const MB = 1024 * 1024

const CONFIG = (users: string, orders: string, catalog: string): string => `
admin: { token: ${ADMIN_TOKEN} }
services:
  users: { urls: [${users}], timeout: 2s }
  orders: { urls: [${orders}], timeout: 2s }
  catalog: { urls: [${catalog}], timeout: 2s }
routes:
  - { proxy: /api/users, service: users, rewrite: /users }
  - put: /api/users/:id
    write:
      owner: { service: users, path: "/users/{params.id}", version: { etag: true } }
      propagate:
        - { service: orders, path: "/customers/{params.id}", pick: [id, name, email] }
        - { service: catalog, path: "/owners/{params.id}" }
      invalidate: ["user:{params.id}"]
  - get: /api/users/:id/profile
    compose:
      user:    { service: users,   path: "/users/{params.id}" }
      orders:  { service: orders,  path: "/orders?userId={params.id}", optional: true, timeout: 300ms }
      company: { service: catalog, path: "/companies/{user.companyId}" }
    cache: { ttl: 30s, staleWhileRevalidate: 1m, tags: ["user:{params.id}"] }
`

interface Sample {
  readonly atSec: number
  readonly rssBytes: number
  /** V8 heap in use (prom-client's nodejs_heap_size_used_bytes): tells a leak from heap slack. */
  readonly heapUsedBytes: number
  /** Entries not yet delivered, over both dependents (pending + in flight + retrying). */
  readonly backlog: number
  readonly dead: number
  readonly oldestAgeMs: number
  /** Responses completed since the previous sample, per second. */
  readonly reqPerSec: number
}

interface OutboxStats { dependents: Array<{ pending: number, inFlight: number, retrying: number, dead: number, oldestAgeMs: number }> }

async function outboxStats (gateway: string): Promise<{ backlog: number, dead: number, oldestAgeMs: number }> {
  const res = await request(`${gateway}/admin/outbox`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })
  if (res.statusCode !== 200) throw new Error(`GET /admin/outbox answered ${res.statusCode}: ${await res.body.text()}`)
  const { dependents } = await res.body.json() as OutboxStats
  return {
    backlog: dependents.reduce((s, d) => s + d.pending + d.inFlight + d.retrying, 0),
    dead: dependents.reduce((s, d) => s + d.dead, 0),
    oldestAgeMs: Math.max(0, ...dependents.map(d => d.oldestAgeMs))
  }
}

/** The gateway's V8 heap in use, from its own /metrics. */
async function heapUsed (gateway: string): Promise<number> {
  const res = await request(`${gateway}/metrics`)
  const text = await res.body.text()
  const match = /^nodejs_heap_size_used_bytes(?:\{[^}]*\})? (\d+(?:\.\d+)?(?:e\+?\d+)?)$/m.exec(text)
  if (res.statusCode !== 200 || match === null) throw new Error(`GET /metrics answered ${res.statusCode} without nodejs_heap_size_used_bytes`)
  return Number(match[1])
}

/** One request of the mix: which kind is chosen at random, per request. */
function mixedRequest (req: autocannon.Request): autocannon.Request {
  const id = 1 + Math.floor(Math.random() * USERS)
  const dice = Math.random()
  if (dice < MIX.proxy) return { ...req, method: 'GET', path: `/api/users/${id}`, body: undefined, headers: {} }
  if (dice < MIX.proxy + MIX.compose) return { ...req, method: 'GET', path: `/api/users/${id}/profile`, body: undefined, headers: {} }
  return {
    ...req,
    method: 'PUT',
    path: `/api/users/${id}`,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ id: String(id), name: `user ${id} ${Date.now()}`, email: `u${id}@example.com`, companyId: String(1 + (id % 3)) })
  }
}

/** Seeds the working set through the gateway so every id exists before reads start. */
async function seed (gateway: string): Promise<void> {
  for (let id = 1; id <= USERS; id++) {
    const res = await request(`${gateway}/api/users/${id}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id: String(id), name: `user ${id}`, email: `u${id}@example.com`, companyId: String(1 + (id % 3)) })
    })
    await res.body.dump()
    if (res.statusCode >= 300) throw new Error(`seeding user ${id}: ${res.statusCode}`)
  }
}

/** Every copy must hold exactly the owner's name once the outbox has drained. */
async function divergentCopies (urls: { users: string, orders: string, catalog: string }): Promise<string[]> {
  const wrong: string[] = []
  for (let id = 1; id <= USERS; id++) {
    const read = async (url: string): Promise<string | undefined> => {
      const res = await request(url)
      if (res.statusCode !== 200) { await res.body.dump(); return `status ${res.statusCode}` }
      return (await res.body.json() as { name?: string }).name
    }
    const owner = await read(`${urls.users}/users/${id}`)
    for (const [name, url] of [['orders', `${urls.orders}/customers/${id}`], ['catalog', `${urls.catalog}/owners/${id}`]] as const) {
      const copy = await read(url)
      if (copy !== owner) wrong.push(`${name} /${id}: ${String(copy)} ≠ owner's ${String(owner)}`)
    }
  }
  return wrong
}

const started: Running[] = []
let redis: BenchRedis | undefined
try {
  const ports = [await freePort(), await freePort(), await freePort()]
  const urls = { users: `http://127.0.0.1:${ports[0]}`, orders: `http://127.0.0.1:${ports[1]}`, catalog: `http://127.0.0.1:${ports[2]}` }
  started.push(await startNode('demo services', join(ROOT, 'dist/examples/services/run.js'), {
    args: ['--users-port', String(ports[0]), '--orders-port', String(ports[1]), '--catalog-port', String(ports[2])],
    port: ports[2]
  }))
  if (storeKind === 'redis') redis = await startRedis(undefined)
  const junction = await startJunction(`junction (${storeKind})`, CONFIG(urls.users, urls.orders, urls.catalog), {
    ...(redis === undefined ? {} : { env: { JUNCTION_STORE_URL: redis.url } })
  })
  started.push(junction)
  await seed(junction.url)

  process.stderr.write(`soak: ${durationSec} s at ${rate} req/s offered, ${connections} connections, ${storeKind} store\n`)
  const samples: Sample[] = []
  let completed = 0
  let lastCompleted = 0
  const t0 = Date.now()
  // Without a callback autocannon returns an instance that is both a promise and an emitter.
  const instance = autocannon({
    url: junction.url,
    connections,
    overallRate: rate,
    duration: durationSec,
    requests: [{ setupRequest: mixedRequest }]
  })
  ;(instance as unknown as autocannon.Instance).on('response', () => { completed++ })
  const sampler = setInterval(() => {
    const atSec = Math.round((Date.now() - t0) / 1000)
    Promise.all([junction.rss(), heapUsed(junction.url), outboxStats(junction.url)]).then(([rssBytes, heapUsedBytes, outbox]) => {
      samples.push({ atSec, rssBytes, heapUsedBytes, ...outbox, reqPerSec: (completed - lastCompleted) / sampleSec })
      lastCompleted = completed
      process.stderr.write(`  ${atSec}s rss ${(rssBytes / MB).toFixed(0)} MB, heap used ${(heapUsedBytes / MB).toFixed(0)} MB, backlog ${outbox.backlog}, dead ${outbox.dead}\n`)
    }, (err: unknown) => { process.stderr.write(`  sample failed: ${String(err)}\n`) })
  }, sampleSec * 1000)
  const result = await instance
  clearInterval(sampler)

  // Drain: the backlog left when the load stops must be delivered, bounded in time.
  const drainStart = Date.now()
  let after = await outboxStats(junction.url)
  while (after.backlog > 0 && Date.now() - drainStart < 60_000) {
    await new Promise(resolve => setTimeout(resolve, 200))
    after = await outboxStats(junction.url)
  }
  const drainMs = Date.now() - drainStart
  const wrong = after.backlog === 0 ? await divergentCopies(urls) : ['outbox did not drain within 60 s']

  const first = samples[0]
  const middle = samples[Math.floor(samples.length / 2)]
  const last = samples[samples.length - 1]
  const peakRss = Math.max(...samples.map(s => s.rssBytes))
  const peakBacklog = Math.max(...samples.map(s => s.backlog))
  const peakHeap = Math.max(...samples.map(s => s.heapUsedBytes))
  // The heap's trend, robust to where a sample falls in the GC cycle: the lowest reading
  // of the first and of the last quarter of the run (each low is just after a collection).
  const quarter = Math.max(1, Math.floor(samples.length / 4))
  const lowHeap = (part: Sample[]): number | undefined => part.length === 0 ? undefined : Math.min(...part.map(s => s.heapUsedBytes))
  const heapEarly = lowHeap(samples.slice(0, quarter))
  const heapLate = lowHeap(samples.slice(-quarter))
  const mb = (b: number | undefined): string => b === undefined ? '–' : (b / MB).toFixed(0)
  const growth = first !== undefined && last !== undefined ? (last.rssBytes - first.rssBytes) / MB : NaN
  const date = new Date()
  const cpu = cpus()
  const everyNth = Math.max(1, Math.round(30 / sampleSec))
  const lines = [
    '# Junction soak',
    '',
    `- Date: ${date.toISOString()}`,
    `- Machine: ${cpu.length} × ${cpu[0]?.model ?? 'unknown CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB; Node.js ${process.version}`,
    `- Load: ${durationSec} s at ${rate} req/s offered over ${connections} connections; mix ${Math.round(MIX.proxy * 100)}% proxied GET, ${Math.round(MIX.compose * 100)}% cached compose GET (3 parts), ${Math.round(MIX.write * 100)}% PUT through a write route with 2 dependents; ${USERS} users`,
    `- Store: ${storeKind}${storeKind === 'redis' ? ' (redis-server, AOF everysec)' : ''}; servers and load generator unpinned`,
    '',
    '| | RSS MB | V8 heap used MB | outbox backlog | dead letters |',
    '|---|---:|---:|---:|---:|',
    `| start (${first?.atSec ?? '–'} s) | ${mb(first?.rssBytes)} | ${mb(first?.heapUsedBytes)} | ${first?.backlog ?? '–'} | ${first?.dead ?? '–'} |`,
    `| middle (${middle?.atSec ?? '–'} s) | ${mb(middle?.rssBytes)} | ${mb(middle?.heapUsedBytes)} | ${middle?.backlog ?? '–'} | ${middle?.dead ?? '–'} |`,
    `| end (${last?.atSec ?? '–'} s) | ${mb(last?.rssBytes)} | ${mb(last?.heapUsedBytes)} | ${last?.backlog ?? '–'} | ${last?.dead ?? '–'} |`,
    `| peak | ${mb(peakRss)} | ${mb(peakHeap)} | ${peakBacklog} | |`,
    '',
    `Requests: ${result.requests.total} (${result.requests.average.toFixed(0)} req/s), p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms, non-2xx ${result.non2xx}, errors ${result.errors + result.timeouts}.`,
    `After the load: outbox drained in ${drainMs} ms; ${wrong.length === 0 ? `all ${USERS * 2} copies match their owner` : `${wrong.length} copies diverge: ${wrong.slice(0, 5).join('; ')}`}.`,
    '',
    'Every 30 s:',
    '',
    '| s | RSS MB | heap used MB | backlog | oldest ms | req/s |',
    '|---:|---:|---:|---:|---:|---:|',
    ...samples.filter((_, i) => (i + 1) % everyNth === 0).map(s => `| ${s.atSec} | ${mb(s.rssBytes)} | ${mb(s.heapUsedBytes)} | ${s.backlog} | ${s.oldestAgeMs} | ${s.reqPerSec.toFixed(0)} |`),
    '',
    `**RSS ${mb(first?.rssBytes)} → ${mb(middle?.rssBytes)} → ${mb(last?.rssBytes)} MB (${growth >= 0 ? '+' : ''}${growth.toFixed(0)} MB start to end, peak ${mb(peakRss)} MB; target ≤ 150 MB and flat); ` +
      `V8 heap used, lowest of the first and last quarter: ${mb(heapEarly)} → ${mb(heapLate)} MB. ` +
      `Outbox backlog peak ${peakBacklog}, ${last?.dead ?? 0} dead letters; ${wrong.length === 0 ? 'every dependent converged' : 'copies DIVERGED'}.**`,
    ''
  ]
  const markdown = lines.join('\n')
  const dir = join(ROOT, 'bench/results')
  await mkdir(dir, { recursive: true })
  await writeFile(join(dir, `soak-${date.toISOString().slice(0, 16).replace(':', '')}.md`), markdown)
  await writeFile(join(dir, 'soak-latest.md'), markdown)
  process.stdout.write(markdown + '\n')
  if (wrong.length > 0 || result.non2xx > 0) process.exitCode = 1
} finally {
  for (const p of started.reverse()) await p.stop()
  await redis?.stop()
}
