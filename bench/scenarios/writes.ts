/**
 * Scenario 4: write fan-out. PUTs through a write route (owner users, copies kept by
 * orders and catalog) next to the same PUT through a plain proxy route, on the embedded
 * store and on Redis. Reports writes/s and propagation lag: per write, the time from
 * the commit (just before the client's 2xx) to the last dependent's 2xx, read from the
 * gateway's `delivery` log lines.
 */
import { join } from 'node:path'
import type autocannon from 'autocannon'
import { load, mean, type LoadResult } from '../lib/load.js'
import { ROOT, freePort, startJunction, startNode, type Running } from '../lib/processes.js'
import { startRedis, type BenchRedis } from '../lib/redis.js'
import type { BenchSettings, ScenarioReport, ScenarioRow } from '../lib/report.js'

const ENTITIES = 1000

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

/** A PUT of a random user among ENTITIES, with a fresh body. */
function varyUser (prefix: string): (request: autocannon.Request) => autocannon.Request {
  return request => {
    const id = 1 + Math.floor(Math.random() * ENTITIES)
    return { ...request, method: 'PUT', path: `${prefix}/${id}`, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id: String(id), name: `user ${id} ${Date.now()}`, email: `u${id}@example.com` }) }
  }
}

function percentile (sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] as number
}

export async function writesScenario (settings: BenchSettings): Promise<ScenarioReport> {
  // Unpinned: an owner, two dependents, the gateway and Redis on one core measure that
  // core, not the fan-out. Here the servers share both cores (autocannon stays on CPU 0).
  const cpu: number | undefined = undefined
  const rows: ScenarioRow[] = []
  const verdicts: string[] = []
  for (const storeKind of ['embedded', 'redis'] as const) {
    const started: Running[] = []
    let redis: BenchRedis | undefined
    try {
      const ports = [await freePort(), await freePort(), await freePort()]
      const services = await startNode('demo services', join(ROOT, 'dist/examples/services/run.js'), {
        cpu,
        args: ['--users-port', String(ports[0]), '--orders-port', String(ports[1]), '--catalog-port', String(ports[2])],
        port: ports[2]
      })
      started.push(services)
      if (storeKind === 'redis') redis = await startRedis(cpu)
      // Lag per write: the last dependent's delivery decides.
      const lagByWrite = new Map<string, number>()
      let recording = false
      const junction = await startJunction(`junction (${storeKind})`, CONFIG(...ports.map(p => `http://127.0.0.1:${p}`) as [string, string, string]), {
        cpu,
        logLevel: 'info',
        ...(redis === undefined ? {} : { env: { JUNCTION_STORE_URL: redis.url } }),
        onLine: line => {
          if (!recording || !line.includes('"msg":"delivery"')) return
          // Delivered copies only: a superseded version's lag is its successor's.
          const entry = JSON.parse(line) as { writeId: string, lagMs: number, outcome: string }
          if (entry.outcome !== 'delivered') return
          lagByWrite.set(entry.writeId, Math.max(lagByWrite.get(entry.writeId) ?? 0, entry.lagMs))
        }
      })
      started.push(junction)

      const targets = [
        { name: `plain proxied PUT (${storeKind} store)`, vary: varyUser('/plain/users'), write: false },
        { name: `write route, 2 dependents (${storeKind} store)`, vary: varyUser('/api/users'), write: true }
      ]
      const runs = new Map<string, LoadResult[]>()
      for (const t of targets) await load({ url: junction.url, connections: settings.connections, durationSec: 1, vary: t.vary }, [])
      for (let round = 0; round < settings.rounds; round++) {
        for (const t of targets) {
          recording = t.write
          const result = await load({ url: junction.url, connections: settings.connections, durationSec: settings.durationSec, vary: t.vary }, [junction])
          runs.set(t.name, [...(runs.get(t.name) ?? []), result])
          // Let the outbox drain before the next run, so lag is measured per run, not accumulated.
          await new Promise(resolve => setTimeout(resolve, 1500))
          recording = false
        }
      }
      const plain = mean(runs.get(targets[0]!.name) ?? [])
      const write = mean(runs.get(targets[1]!.name) ?? [])
      const lags = [...lagByWrite.values()].sort((a, b) => a - b)
      const p50 = percentile(lags, 0.5)
      const p99 = percentile(lags, 0.99)
      rows.push({ name: targets[0]!.name, result: plain, ratios: { 'vs plain PUT': 1 } })
      rows.push({ name: `${targets[1]!.name}; lag p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms over ${lags.length} writes`, result: write, ratios: { 'vs plain PUT': write.requestsPerSec / plain.requestsPerSec } })
      verdicts.push(`${storeKind}: ${write.requestsPerSec.toFixed(0)} writes/s (target ≥ 2,000), propagation lag p50 ${p50.toFixed(1)} ms / p99 ${p99.toFixed(1)} ms (target p99 ≤ 50 ms)`)
    } finally {
      await Promise.all(started.map(async p => await p.stop()))
      await redis?.stop()
    }
  }
  return {
    title: 'Write fan-out (owner + 2 dependents, demo services)',
    cpuNote: 'Layout for this scenario: servers unpinned (they share both cores with the load generator). CPU µs/req is the gateway process only. The demo services (owner and both dependents) run in one process; Redis runs with AOF, appendfsync everysec. Lag counts delivered copies only (a superseded version\'s lag is its successor\'s).',
    rows,
    verdict: verdicts.join('; ')
  }
}
