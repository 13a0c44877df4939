/**
 * Scenario 4: write fan-out. PUTs through a write route (owner `users`, copies kept by
 * `orders` and `catalog`) next to the same PUT through a plain proxy route, on the
 * embedded store and on Redis.
 *
 * Per store and gateway, each round runs three targets:
 *   - plain proxied PUT at max load (the baseline: what one PUT through the gateway costs);
 *   - the write route at max load: writes/s (its lag is mostly queueing, shown for information);
 *   - the write route at a fixed offered rate (WRITE_RATE, autocannon `overallRate`): the
 *     propagation lag, which is what the target is about.
 *
 * Lag is measured outside the gateway, so that measuring does not perturb it (no log
 * parsing): the services are instrumented bench peers (bench/peers/versioned-entities.mjs)
 * that record on the machine's wall clock when the owner commits each version and when each
 * copy applies it; the load generator records when the client got each 2xx (the owner's
 * version is in the answer). The lag of a write (id, v) = the moment the *last* copy held
 * v or newer − the owner's commit (an upper bound of the lag from the client's 2xx: it
 * includes the gateway's answer path; the verdict uses it), and also − the client's 2xx as
 * the load generator saw it (late when the load generator's CPU is busy; negative when the
 * copies were updated before the client had its answer). A write superseded by a
 * newer one counts until its successor is applied, as a reader of the copy sees it.
 * After every write run the scenario waits until every copy holds the owner's last
 * version of every written entity (bounded); what did not arrive is reported.
 *
 * BENCH_COMPARE_CLI=<another build>/dist/src/cli.js adds that build's gateway to the same
 * run (same services, alternating A B A B): before/after comparisons of one change.
 * BENCH_PROFILE_DIR=<dir> makes every gateway write a CPU profile (node --cpu-prof) there.
 * BENCH_WRITE_RATE sets the fixed offered rate of the lag rows (default 2000 writes/s).
 * BENCH_WRITE_STORES=redis (or embedded) runs one store only (default: both).
 */
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import type autocannon from 'autocannon'
import { load, mean, type LoadResult } from '../lib/load.js'
import { ROOT, profileArgs, startJunction, startNode, type Running } from '../lib/processes.js'
import { startRedis, type BenchRedis } from '../lib/redis.js'
import type { BenchSettings, ScenarioReport, ScenarioRow } from '../lib/report.js'

const ENTITIES = 1000
/** The offered rate at which lag is measured: the target's throughput (BENCH_WRITE_RATE overrides). */
const WRITE_RATE = Number(process.env.BENCH_WRITE_RATE ?? 2000)
/** How long a write run's deliveries may take to arrive after it ends. */
const SETTLE_TIMEOUT_MS = 20_000

const CONFIG = (users: string, orders: string, catalog: string): string => `
services:
  users: { urls: [${users}] }
  orders: { urls: [${orders}] }
  catalog: { urls: [${catalog}] }
routes:
  - put: /api/users/:id
    write:
      owner: { service: users, path: "/users/{params.id}", version: { etag: true } }
      propagate:
        - { service: orders, path: "/customers/{params.id}", pick: [id, name, email] }
        - { service: catalog, path: "/owners/{params.id}" }
  - { proxy: /plain/users, service: users, rewrite: /users }
`

/** id → [[version, epoch ms], ...] as the peers report them. */
type Records = Record<string, Array<[number, number]>>

const clock = (): number => performance.timeOrigin + performance.now()

/**
 * A PUT of a random user among ENTITIES, with a fresh body. Untracked PUTs (the plain
 * proxied baseline) are not recorded by the owner: their versions are never propagated,
 * and one still in flight when its run ends must not count as a write that went missing.
 */
function varyUser (prefix: string, tracked: boolean): (request: autocannon.Request) => autocannon.Request {
  const headers: Record<string, string> = tracked ? { 'content-type': 'application/json' } : { 'content-type': 'application/json', 'x-bench-untracked': '1' }
  return request => {
    const id = 1 + Math.floor(Math.random() * ENTITIES)
    return { ...request, method: 'PUT', path: `${prefix}/${id}`, headers, body: JSON.stringify({ id: String(id), name: `user ${id} ${Date.now()}`, email: `u${id}@example.com` }) }
  }
}

function percentile (sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] as number
}

async function getJson<T> (url: string): Promise<T> {
  const res = await fetch(url)
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`)
  return await res.json() as T
}

/** The first moment a copy held `version` or newer of `id` (its applies are in version order). */
function heldAt (applies: Records, id: string, version: number): number | undefined {
  for (const [v, at] of applies[id] ?? []) if (v >= version) return at
  return undefined
}

interface LagReport {
  /** From the client's 2xx, sorted. */
  readonly fromAnswer: number[]
  /** From the owner's commit, sorted. */
  readonly fromCommit: number[]
  /** Committed versions that no copy (or not every copy) received. */
  readonly missing: number
}

function lagOf (commits: Records, answers: ReadonlyMap<string, number>, copies: readonly Records[]): LagReport {
  const fromAnswer: number[] = []
  const fromCommit: number[] = []
  let missing = 0
  for (const [id, list] of Object.entries(commits)) {
    for (const [version, committedAt] of list) {
      let last = 0
      for (const applies of copies) {
        const at = heldAt(applies, id, version)
        last = at === undefined ? NaN : Math.max(last, at)
      }
      if (Number.isNaN(last)) { missing++; continue }
      fromCommit.push(last - committedAt)
      const answeredAt = answers.get(`${id}:${version}`)
      // A 2xx the load generator did not see (run ended first) has no client-side time.
      // Signed, not clamped at 0: negative = every copy held the version before the client
      // had its answer (the answer waits for the store, the deliveries run beside it). A
      // clamp showed that case as a flat 0.0, indistinguishable from a broken measurement.
      if (answeredAt !== undefined) fromAnswer.push(last - answeredAt)
    }
  }
  return { fromAnswer: fromAnswer.sort((a, b) => a - b), fromCommit: fromCommit.sort((a, b) => a - b), missing }
}

/** Every copy holds the last committed version of every entity written in the run. */
function converged (commits: Records, copies: readonly Records[]): boolean {
  return Object.entries(commits).every(([id, list]) => {
    const last = list[list.length - 1]?.[0] ?? 0
    return copies.every(applies => heldAt(applies, id, last) !== undefined)
  })
}

interface Services { owner: Running, copies: Running[] }

interface Gateway { label: string, junction: Running, redis: BenchRedis | undefined }

/** One write run: reset the records, load, wait for the copies, collect. */
async function writeRun (gateway: Gateway, services: Services, settings: BenchSettings, overallRate: number | undefined): Promise<WriteRun> {
  await Promise.all([services.owner, ...services.copies].map(async s => await fetch(`${s.url}/_bench/reset`, { method: 'POST' })))
  const answers = new Map<string, number>()
  const redisBefore = await gateway.redis?.usage()
  const cpuBefore = await gateway.junction.cpuMicros()
  const result = await load({
    url: gateway.junction.url,
    connections: settings.connections,
    durationSec: settings.durationSec,
    vary: varyUser('/api/users', true),
    ...(overallRate === undefined ? {} : { overallRate }),
    onResponse: (status, body) => {
      if (status < 200 || status >= 300) return
      const at = clock()
      const { id, version } = JSON.parse(body) as { id: string, version: number }
      answers.set(`${id}:${version}`, at)
    }
  }, [gateway.junction])
  const deadline = Date.now() + SETTLE_TIMEOUT_MS
  let commits: Records
  let copies: Records[]
  for (;;) {
    commits = (await getJson<{ ids: Records }>(`${services.owner.url}/_bench/records`)).ids
    copies = await Promise.all(services.copies.map(async c => (await getJson<{ ids: Records }>(`${c.url}/_bench/records`)).ids))
    if (converged(commits, copies) || Date.now() > deadline) break
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  // CPU until the last delivery, not only while the load ran: at max load the backlog is delivered after.
  const cpu = await gateway.junction.cpuMicros() - cpuBefore
  const redisAfter = await gateway.redis?.usage()
  const writes = Math.max(1, result.total)
  const redis = redisBefore === undefined || redisAfter === undefined
    ? undefined
    : { commandsPerWrite: (redisAfter.commands - redisBefore.commands) / writes, cpuMicrosPerWrite: (redisAfter.cpuMicros - redisBefore.cpuMicros) / writes }
  return { result: { ...result, cpuMicrosPerRequest: result.total > 0 ? cpu / result.total : 0 }, lag: lagOf(commits, answers, copies), redis }
}

interface WriteRun {
  readonly result: LoadResult
  readonly lag: LagReport
  /** Redis store only: what the server did per write (the usage queries themselves included). */
  readonly redis: { readonly commandsPerWrite: number, readonly cpuMicrosPerWrite: number } | undefined
}

/** "; Redis 12.3 commands, 456 µs CPU per write" (mean over runs), or nothing on the embedded store. */
function redisText (runs: readonly WriteRun[]): string {
  const measured = runs.flatMap(r => r.redis === undefined ? [] : [r.redis])
  if (measured.length === 0) return ''
  const avg = (f: (r: NonNullable<WriteRun['redis']>) => number): number => measured.reduce((sum, r) => sum + f(r), 0) / measured.length
  return `; Redis ${avg(r => r.commandsPerWrite).toFixed(1)} commands, ${avg(r => r.cpuMicrosPerWrite).toFixed(0)} µs CPU per write`
}

function mergeLag (lags: readonly LagReport[]): LagReport {
  return {
    fromAnswer: lags.flatMap(l => l.fromAnswer).sort((a, b) => a - b),
    fromCommit: lags.flatMap(l => l.fromCommit).sort((a, b) => a - b),
    missing: lags.reduce((sum, l) => sum + l.missing, 0)
  }
}

const ms = (n: number): string => n.toFixed(1)

function lagText (lag: LagReport): string {
  const missing = lag.missing > 0 ? `; **${lag.missing} versions not on every copy ${SETTLE_TIMEOUT_MS / 1000} s after the run**` : ''
  return `lag p50 ${ms(percentile(lag.fromCommit, 0.5))} / p99 ${ms(percentile(lag.fromCommit, 0.99))} ms from the owner's commit ` +
    `(p50 ${ms(percentile(lag.fromAnswer, 0.5))} / p99 ${ms(percentile(lag.fromAnswer, 0.99))} ms from the client's 2xx) over ${lag.fromCommit.length} writes${missing}`
}

export async function writesScenario (settings: BenchSettings): Promise<ScenarioReport> {
  // Layout: the gateway alone on the servers' CPU; the services, Redis and the load
  // generator share the other one. Owner and copies are separate light node:http
  // processes, so the gateway is the bottleneck being measured.
  const gatewayCpu = settings.serverCpu
  const peerCpu = settings.serverCpu === undefined ? undefined : settings.serverCpu === 0 ? 1 : 0
  const builds = [{ label: 'this build', cli: undefined as string | undefined }]
  const compare = process.env.BENCH_COMPARE_CLI
  if (compare !== undefined && compare !== '') builds.push({ label: `compared build ${compare}`, cli: compare })
  // BENCH_PROFILE_DIR: each gateway writes a CPU profile (node --cpu-prof) there when it stops.
  const rows: ScenarioRow[] = []
  const verdicts: string[] = []
  const only = process.env.BENCH_WRITE_STORES
  const storeKinds = (['embedded', 'redis'] as const).filter(kind => only === undefined || only === '' || only.split(',').includes(kind))
  for (const storeKind of storeKinds) {
    const started: Array<{ stop: () => Promise<void> }> = []
    try {
      const peer = async (name: string, role: string, collection: string): Promise<Running> => {
        const running = await startNode(name, join(ROOT, 'bench/peers/versioned-entities.mjs'), { cpu: peerCpu, env: { ROLE: role, COLLECTION: collection } })
        started.push(running)
        return running
      }
      const services: Services = {
        owner: await peer('users (owner)', 'owner', 'users'),
        copies: [await peer('orders (copy)', 'copy', 'customers'), await peer('catalog (copy)', 'copy', 'owners')]
      }
      const gateways: Gateway[] = []
      for (const build of builds) {
        let redis: BenchRedis | undefined
        if (storeKind === 'redis') {
          // One Redis per gateway: two gateways on one would share (and steal) each other's outbox.
          redis = await startRedis(peerCpu)
          started.push(redis)
        }
        const env: NodeJS.ProcessEnv = {}
        if (redis !== undefined) env.JUNCTION_STORE_URL = redis.url
        const junction = await startJunction(`junction (${storeKind}, ${build.label})`, CONFIG(services.owner.url, services.copies[0]!.url, services.copies[1]!.url), {
          cpu: gatewayCpu,
          env,
          nodeArgs: profileArgs(`${storeKind}-${gateways.length}`),
          ...(build.cli === undefined ? {} : { cli: build.cli })
        })
        started.push(junction)
        gateways.push({ label: build.label, junction, redis })
      }

      const plain = new Map<Gateway, LoadResult[]>()
      const max = new Map<Gateway, WriteRun[]>()
      const rated = new Map<Gateway, WriteRun[]>()
      for (const gateway of gateways) {
        // Warm-up (JIT, keep-alive pools), not measured.
        await load({ url: gateway.junction.url, connections: settings.connections, durationSec: 1, vary: varyUser('/plain/users', false) }, [])
        await writeRun(gateway, services, { ...settings, durationSec: 1 }, undefined)
      }
      for (let round = 0; round < settings.rounds; round++) {
        for (const gateway of gateways) {
          const p = await load({ url: gateway.junction.url, connections: settings.connections, durationSec: settings.durationSec, vary: varyUser('/plain/users', false) }, [gateway.junction])
          plain.set(gateway, [...(plain.get(gateway) ?? []), p])
          max.set(gateway, [...(max.get(gateway) ?? []), await writeRun(gateway, services, settings, undefined)])
          rated.set(gateway, [...(rated.get(gateway) ?? []), await writeRun(gateway, services, settings, WRITE_RATE)])
        }
      }
      for (const gateway of gateways) {
        const tag = gateways.length > 1 ? `${storeKind} store, ${gateway.label}` : `${storeKind} store`
        const base = mean(plain.get(gateway) ?? [])
        const maxRuns = max.get(gateway) ?? []
        const ratedRuns = rated.get(gateway) ?? []
        const maxResult = mean(maxRuns.map(r => r.result))
        const ratedResult = mean(ratedRuns.map(r => r.result))
        const maxLag = mergeLag(maxRuns.map(r => r.lag))
        const ratedLag = mergeLag(ratedRuns.map(r => r.lag))
        rows.push({ name: `plain proxied PUT, max load (${tag})`, result: base, ratios: { 'vs plain PUT': 1 } })
        rows.push({ name: `write route, 2 dependents, max load (${tag}); ${lagText(maxLag)} — queueing at saturation${redisText(maxRuns)}`, result: maxResult, ratios: { 'vs plain PUT': maxResult.requestsPerSec / base.requestsPerSec } })
        rows.push({ name: `write route, 2 dependents, ${WRITE_RATE} writes/s offered (${tag}); ${lagText(ratedLag)}${redisText(ratedRuns)}`, result: ratedResult, ratios: { 'vs plain PUT': ratedResult.requestsPerSec / base.requestsPerSec } })
        const missing = maxLag.missing + ratedLag.missing
        verdicts.push(`${tag}: ${maxResult.requestsPerSec.toFixed(0)} writes/s at max load (target ≥ 2,000); at ${WRITE_RATE} writes/s offered ` +
          `(${ratedResult.requestsPerSec.toFixed(0)} served) lag p50 ${ms(percentile(ratedLag.fromCommit, 0.5))} / p99 ${ms(percentile(ratedLag.fromCommit, 0.99))} ms ` +
          `from the owner's commit (target p99 ≤ 50 ms; from the client's 2xx p99 ${ms(percentile(ratedLag.fromAnswer, 0.99))} ms)` +
          (missing > 0 ? `; ${missing} versions did not reach every copy` : ''))
      }
    } finally {
      for (const s of started.reverse()) await s.stop()
    }
  }
  return {
    title: 'Write fan-out (owner + 2 dependents, instrumented node:http services)',
    cpuNote: 'Layout for this scenario: the gateway alone on the servers\' CPU; the owner and the two copies (three node:http processes, bench/peers/versioned-entities.mjs), Redis (AOF, appendfsync everysec) and the load generator on the other. ' +
      'Gateway log level warn. CPU µs/req is the gateway process only, for write runs counted until the last delivery arrived (deliveries included). ' +
      'Lag of a write = when the last copy held its version or newer, minus when the owner committed it (an upper bound of the lag from the client\'s 2xx: it includes the gateway\'s answer path), recorded by the services on one clock; ' +
      'the lag from the client\'s 2xx (as the load generator saw it: late when its CPU is busy) is shown too, signed: negative when every copy held the version before the client had its answer. A superseded version counts until its successor arrives. ' +
      `The ${WRITE_RATE} writes/s rows are the target's lag (offered rate fixed with autocannon overallRate; "req/s" is the rate served); at max load lag is queueing.`,
    rows,
    verdict: verdicts.join('; ')
  }
}
