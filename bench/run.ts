/**
 * `npm run bench`: every scenario, each against its baselines in the same run, bounded in
 * time; writes bench/results/<date>.md and bench/results/latest.md.
 *
 * Layout on this 2-core machine: this process (autocannon, the load generator) is pinned
 * to CPU 0 and every server to CPU 1 with taskset, so load generation does not steal the
 * servers' core. Settings: BENCH_CONNECTIONS (50), BENCH_DURATION seconds (5), BENCH_ROUNDS (2),
 * BENCH_OUT (the results folder, default bench/results; the smoke test writes elsewhere).
 */
import { spawnSync } from 'node:child_process'
import { mkdir, writeFile } from 'node:fs/promises'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { ROOT, hasTaskset } from './lib/processes.js'
import { renderReport, type BenchSettings, type ScenarioReport } from './lib/report.js'
import { cacheScenario } from './scenarios/cache.js'
import { composeScenario } from './scenarios/compose.js'
import { proxyScenario } from './scenarios/proxy.js'
import { protectionScenario } from './scenarios/protection.js'
import { writesScenario } from './scenarios/writes.js'
import { workersScenario } from './scenarios/workers.js'

if (hasTaskset && cpus().length >= 2 && process.env.BENCH_PINNED === undefined) {
  // Re-run pinned to CPU 0; the servers go to CPU 1.
  const res = spawnSync('taskset', ['-c', '0', process.execPath, ...process.argv.slice(1)], { stdio: 'inherit', env: { ...process.env, BENCH_PINNED: '1' } })
  process.exit(res.status ?? 1)
}

const pinned = process.env.BENCH_PINNED === '1'
const settings: BenchSettings = {
  connections: Number(process.env.BENCH_CONNECTIONS ?? 50),
  durationSec: Number(process.env.BENCH_DURATION ?? 5),
  rounds: Number(process.env.BENCH_ROUNDS ?? 2),
  serverCpu: pinned ? 1 : undefined,
  layout: pinned
    ? 'load generator (autocannon) pinned to CPU 0, every server (backends, gateways) pinned to CPU 1 with taskset'
    : 'unpinned (taskset unavailable or a single CPU): load generator and servers share the cores'
}

const scenarios: Array<[string, (s: BenchSettings) => Promise<ScenarioReport>]> = [
  ['proxy', proxyScenario],
  ['compose', composeScenario],
  ['cache', cacheScenario],
  ['writes', writesScenario],
  ['protection', protectionScenario],
  ['workers', workersScenario]
]

const only = process.argv[2]
const reports: ScenarioReport[] = []
for (const [name, run] of scenarios) {
  if (only !== undefined && only !== name) continue
  process.stderr.write(`bench: ${name}…\n`)
  reports.push(await run(settings))
}
const date = new Date()
const markdown = renderReport(settings, reports, date)
const dir = process.env.BENCH_OUT ?? join(ROOT, 'bench/results')
await mkdir(dir, { recursive: true })
await writeFile(join(dir, `${date.toISOString().slice(0, 16).replace(':', '')}.md`), markdown)
await writeFile(join(dir, 'latest.md'), markdown)
process.stdout.write(markdown + '\n')
