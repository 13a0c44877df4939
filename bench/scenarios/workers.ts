/**
 * Scenario 6: `server.workers` (node:cluster). Proxy pass-through of the ~1 KB JSON body
 * through one Junction with 1 worker process and one with 2 (both on the Redis store, as
 * several workers require), alternating targets round by round.
 *
 * Layout: the load generator stays on CPU 0 and the backend and redis-server on CPU 1 as
 * in every scenario, but the two gateways are NOT pinned: a second worker can only help
 * if it may run on another core. On a 2-core machine that core is the load generator's,
 * so the gain measured here is a floor; on a machine with spare cores it is the figure
 * that matters. CPU µs/req sums the primary and every worker (the primary hands each new
 * connection to a worker; with keep-alive connections that cost is paid once per
 * connection, not per request).
 */
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { alternate } from '../lib/load.js'
import { ROOT, startJunction, startNode, type Running } from '../lib/processes.js'
import { startRedis, type BenchRedis } from '../lib/redis.js'
import type { BenchSettings, ScenarioReport } from '../lib/report.js'

const CONFIG = (backend: string): string => `services:
  backend: { urls: [${backend}] }
routes:
  - { proxy: /api, service: backend, rewrite: / }
`

const TICKS_PER_SECOND = 100

/** Pids of `pid`'s direct children (the cluster's workers), from /proc. */
async function childrenOf (pid: number): Promise<number[]> {
  const out: number[] = []
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      if (Number(fields[1]) === pid) out.push(Number(entry))
    } catch {} // gone meanwhile
  }
  return out
}

async function cpuMicrosOf (pid: number): Promise<number> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) * 1_000_000 / TICKS_PER_SECOND
  } catch {
    return 0
  }
}

/** The gateway as load() measures it: CPU of the primary plus its workers. */
function wholeTree (gateway: Running, workers: readonly number[]): Running {
  const pid = gateway.child.pid as number
  return {
    ...gateway,
    cpuMicros: async () => (await Promise.all([pid, ...workers].map(cpuMicrosOf))).reduce((a, b) => a + b, 0)
  }
}

/** Waits (bounded) until the primary has forked `n` workers. */
async function waitForWorkers (gateway: Running, n: number): Promise<number[]> {
  const pid = gateway.child.pid as number
  const deadline = Date.now() + 30_000
  for (;;) {
    const children = await childrenOf(pid)
    if (children.length >= n) return children
    if (Date.now() > deadline) throw new Error(`${gateway.name}: ${children.length} of ${n} workers after 30 s`)
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}

interface Target { readonly name: string, readonly url: string, readonly measured: Running }

export async function workersScenario (settings: BenchSettings): Promise<ScenarioReport> {
  const cpu = settings.serverCpu
  const started: Running[] = []
  let redis: BenchRedis | undefined
  try {
    const backend = await startNode('backend', join(ROOT, 'bench/peers/backend.mjs'), { cpu })
    started.push(backend)
    redis = await startRedis(cpu)
    const env = { JUNCTION_STORE_URL: redis.url }
    const targets: Target[] = []
    for (const workers of [1, 2]) {
      const gateway = await startJunction(`junction, ${workers} worker${workers === 1 ? '' : 's'}`, CONFIG(backend.url), { env, workers })
      started.push(gateway)
      const pids = workers === 1 ? [] : await waitForWorkers(gateway, workers)
      targets.push({ name: gateway.name, url: `${gateway.url}/api/users/1`, measured: wholeTree(gateway, pids) })
    }
    // A longer warm-up: a late worker must be up before measuring.
    const means = await alternate(targets.map(t => ({ name: t.name, url: t.url, measured: [t.measured] })), { ...settings, warmupSec: 2 })
    const results = targets.map(t => ({ name: t.name, result: means.get(t.name)! }))
    const one = results[0]?.result
    const rows = results.map(({ name, result }) => ({
      name,
      result,
      ratios: { 'vs 1 worker': one === undefined ? NaN : result.requestsPerSec / one.requestsPerSec }
    }))
    const two = results[1]?.result
    const gain = one !== undefined && two !== undefined ? two.requestsPerSec / one.requestsPerSec : NaN
    return {
      title: 'Workers: proxy pass-through with 1 and 2 worker processes (Redis store)',
      cpuNote: 'Gateways unpinned (a second worker needs a second core); CPU µs/req is the primary plus its workers.',
      rows,
      verdict: `2 workers serve ${(gain * 100).toFixed(0)}% of 1 worker's req/s on this machine (its second core is the load generator's: a floor, not the figure on a machine with spare cores).`
    }
  } finally {
    await Promise.all(started.map(async p => await p.stop()))
    await redis?.stop()
  }
}
