/**
 * Scenario 1: proxy pass-through of a ~1 KB JSON body. Junction against the backend
 * called directly, a bare Fastify + @fastify/http-proxy gateway and fast-gateway,
 * alternating targets round by round to cancel drift. BENCH_COMPARE_CLI (another build's
 * dist/src/cli.js) adds that build's Junction as one more target, for a before/after in one run.
 * BENCH_PROFILE_DIR=<dir>: both Junctions write a CPU profile there when they stop.
 */
import { join } from 'node:path'
import { alternate } from '../lib/load.js'
import { ROOT, profileArgs, startJunction, startNode, type Running } from '../lib/processes.js'
import type { BenchSettings, ScenarioReport } from '../lib/report.js'

const JUNCTION_CONFIG = (backend: string): string => `
services:
  backend: { urls: [${backend}] }
routes:
  - { proxy: /api, service: backend, rewrite: / }
`

interface Target { name: string, url: string, proxy: Running | undefined }

export async function proxyScenario (settings: BenchSettings): Promise<ScenarioReport> {
  const cpu = settings.serverCpu
  const backend = await startNode('backend', join(ROOT, 'bench/peers/backend.mjs'), { cpu })
  const started: Running[] = [backend]
  try {
    const junction = await startJunction('junction', JUNCTION_CONFIG(backend.url), { cpu, nodeArgs: profileArgs('proxy') })
    started.push(junction)
    const bare = await startNode('fastify+http-proxy', join(ROOT, 'bench/peers/fastify-proxy.mjs'), { cpu, env: { UPSTREAM: backend.url } })
    started.push(bare)
    const fastGateway = await startNode('fast-gateway', join(ROOT, 'bench/peers/fast-gateway.mjs'), { cpu, env: { UPSTREAM: backend.url } })
    started.push(fastGateway)

    const targets: Target[] = [
      { name: 'direct backend', url: `${backend.url}/users/1`, proxy: undefined },
      { name: 'junction', url: `${junction.url}/api/users/1`, proxy: junction },
      { name: 'fastify + @fastify/http-proxy', url: `${bare.url}/api/users/1`, proxy: bare },
      { name: 'fast-gateway', url: `${fastGateway.url}/api/users/1`, proxy: fastGateway }
    ]
    const compare = process.env.BENCH_COMPARE_CLI
    if (compare !== undefined && compare !== '') {
      const compared = await startJunction('junction (compared build)', JUNCTION_CONFIG(backend.url), { cpu, cli: compare, nodeArgs: profileArgs('proxy-compared') })
      started.push(compared)
      targets.push({ name: `junction, compared build ${compare}`, url: `${compared.url}/api/users/1`, proxy: compared })
    }
    const means = await alternate(targets.map(t => ({ name: t.name, url: t.url, measured: t.proxy === undefined ? [backend] : [t.proxy] })), settings)
    const results = targets.map(t => ({ name: t.name, result: means.get(t.name)! }))
    const direct = results[0]?.result
    const bareResult = results[2]?.result
    const junctionResult = results[1]?.result
    const rows = results.map(({ name, result }) => ({
      name,
      result,
      ratios: {
        'vs direct': direct === undefined ? NaN : result.requestsPerSec / direct.requestsPerSec,
        'vs bare http-proxy': bareResult === undefined ? NaN : result.requestsPerSec / bareResult.requestsPerSec
      }
    }))
    const ratio = junctionResult !== undefined && bareResult !== undefined ? junctionResult.requestsPerSec / bareResult.requestsPerSec : NaN
    return {
      title: 'Proxy pass-through (1 KB JSON)',
      cpuNote: 'CPU µs/req is the proxy process only (for "direct backend": the backend itself).',
      rows,
      verdict: `Junction reaches ${(ratio * 100).toFixed(0)}% of bare @fastify/http-proxy req/s (target ≥ 95%).`
    }
  } finally {
    await Promise.all(started.map(async p => await p.stop()))
  }
}
