/**
 * Scenario 2: a route composed of 3 parallel parts.
 * - 0 ms backend: Junction's req/s against a minimal hand-written undici aggregator.
 * - 20 ms backend: Junction's p50 against one direct call to the backend (target:
 *   p50 ≤ max(parts) + 2 ms), at 10 connections and at one (see below).
 *
 * BENCH_COMPARE_CLI=<another build>/dist/src/cli.js adds that build's gateway (both backends)
 * to the same runs, for a before/after in one sitting. BENCH_PROFILE_DIR=<dir> makes every
 * gateway write a CPU profile (node --cpu-prof) there when it stops.
 */
import { join } from 'node:path'
import { alternate } from '../lib/load.js'
import { ROOT, profileArgs, startJunction, startNode, type Running } from '../lib/processes.js'
import type { BenchSettings, ScenarioReport, ScenarioRow } from '../lib/report.js'

const COMPOSE = (url: string): string => `
services:
  backend: { urls: [${url}] }
routes:
  - get: /api/profile/:id
    compose:
      a: { service: backend, path: "/a/{params.id}" }
      b: { service: backend, path: "/b/{params.id}" }
      c: { service: backend, path: "/c/{params.id}" }
`

export async function composeScenario (settings: BenchSettings): Promise<ScenarioReport> {
  const cpu = settings.serverCpu
  const started: Running[] = []
  try {
    const fast = await startNode('backend 0 ms', join(ROOT, 'bench/peers/backend.mjs'), { cpu })
    started.push(fast)
    const slow = await startNode('backend 20 ms', join(ROOT, 'bench/peers/backend.mjs'), { cpu, env: { DELAY_MS: '20' } })
    started.push(slow)
    const compare = process.env.BENCH_COMPARE_CLI === '' ? undefined : process.env.BENCH_COMPARE_CLI
    const gateway = async (name: string, backend: Running, file: string, cli?: string): Promise<Running> => {
      const running = await startJunction(name, COMPOSE(backend.url), { cpu, nodeArgs: profileArgs(file), ...(cli === undefined ? {} : { cli }) })
      started.push(running)
      return running
    }
    const junctionFast = await gateway('junction compose (0 ms)', fast, 'compose-0ms')
    const junctionSlow = await gateway('junction compose (20 ms)', slow, 'compose-20ms')
    const comparedFast = compare === undefined ? undefined : await gateway('compared build (0 ms)', fast, 'compared-0ms', compare)
    const comparedSlow = compare === undefined ? undefined : await gateway('compared build (20 ms)', slow, 'compared-20ms', compare)
    const aggregator = await startNode('undici aggregator', join(ROOT, 'bench/peers/aggregator.mjs'), { cpu, env: { UPSTREAM: fast.url } })
    started.push(aggregator)
    const aggregatorSlow = await startNode('undici aggregator (20 ms)', join(ROOT, 'bench/peers/aggregator.mjs'), { cpu, env: { UPSTREAM: slow.url } })
    started.push(aggregatorSlow)

    const throughput = await alternate([
      { name: 'junction compose, 3 parts, 0 ms', url: `${junctionFast.url}/api/profile/1`, measured: [junctionFast] },
      { name: 'hand-written undici aggregator, 3 parts, 0 ms', url: `${aggregator.url}/api/profile/1`, measured: [aggregator] },
      ...(comparedFast === undefined ? [] : [{ name: `junction compose, 3 parts, 0 ms, compared build ${compare ?? ''}`, url: `${comparedFast.url}/api/profile/1`, measured: [comparedFast] }])
    ], { ...settings, connections: settings.connections })
    const latencyTargets = [
      { name: 'junction compose, 3 parts, 20 ms', url: `${junctionSlow.url}/api/profile/1`, measured: [junctionSlow] },
      { name: 'hand-written undici aggregator, 3 parts, 20 ms', url: `${aggregatorSlow.url}/api/profile/1`, measured: [aggregatorSlow] },
      { name: 'one direct call, 20 ms', url: `${slow.url}/a/1`, measured: [slow] },
      ...(comparedSlow === undefined ? [] : [{ name: `junction compose, 3 parts, 20 ms, compared build ${compare ?? ''}`, url: `${comparedSlow.url}/api/profile/1`, measured: [comparedSlow] }])
    ]
    // Closed-loop clients with identical part delays stay in phase: at 10 connections the
    // parts' answers arrive in bursts (up to 30) that gateway and backend work through on one
    // core, so a request's p50 includes its place in the burst, which grows with the
    // gateway's CPU per request. One connection has no burst: what is left is the gateway's
    // own time per request.
    const latency = await alternate(latencyTargets, { ...settings, connections: 10 })
    const single = await alternate(latencyTargets, { ...settings, connections: 1 })

    const j = throughput.get('junction compose, 3 parts, 0 ms')
    const agg = throughput.get('hand-written undici aggregator, 3 parts, 0 ms')
    const js = latency.get('junction compose, 3 parts, 20 ms')
    const direct = latency.get('one direct call, 20 ms')
    const aggSlow = latency.get('hand-written undici aggregator, 3 parts, 20 ms')
    const js1 = single.get('junction compose, 3 parts, 20 ms')
    const direct1 = single.get('one direct call, 20 ms')
    const rows: ScenarioRow[] = [
      ...[...throughput].map(([name, result]) => ({ name, result, ratios: { 'vs aggregator': agg === undefined ? NaN : result.requestsPerSec / agg.requestsPerSec } })),
      ...[...latency].map(([name, result]) => ({ name: `${name} (10 connections)`, result, ratios: {} })),
      ...[...single].map(([name, result]) => ({ name: `${name} (1 connection)`, result, ratios: {} }))
    ]
    const overhead = js !== undefined && direct !== undefined ? js.p50Ms - direct.p50Ms : NaN
    const overAggregator = js !== undefined && aggSlow !== undefined ? js.p50Ms - aggSlow.p50Ms : NaN
    const overhead1 = js1 !== undefined && direct1 !== undefined ? js1.p50Ms - direct1.p50Ms : NaN
    const ms = (n: number): string => Number.isFinite(n) ? n.toFixed(1) : '–'
    return {
      title: 'Compose 3 parts',
      cpuNote: 'CPU µs/req is the gateway or aggregator process only; for the direct call, the backend.',
      rows,
      verdict: `Compose reaches ${j !== undefined && agg !== undefined ? (100 * j.requestsPerSec / agg.requestsPerSec).toFixed(0) : '–'}% of the hand-written aggregator's req/s; with 20 ms parts its p50 is ${ms(overhead1)} ms above one direct call with one connection and ${ms(overhead)} ms with 10 (target ≤ 2 ms), ${ms(overAggregator)} ms above the aggregator calling the same parts under the same load.`
    }
  } finally {
    await Promise.all(started.map(async p => await p.stop()))
  }
}
