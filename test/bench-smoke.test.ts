/**
 * The benchmark's smoke test (issue 6): `node dist/bench/run.js`, every scenario, one round
 * of one second at a light load, written to a temporary folder (never bench/results/). It
 * proves each scenario still starts its servers, drives them and renders its table; the
 * numbers themselves mean nothing here (no timing is asserted: speed is for `npm run bench`).
 */
import { spawn } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { tempDir } from './support/gateway.js'

const RUN = fileURLToPath(new URL('../bench/run.js', import.meta.url))

// Six scenarios, each starting its backends, gateways and (some) redis-server: about a
// minute and a half on a quiet 2-core machine.
t.setTimeout(900_000)

/** Each scenario's heading in the report, and how many targets its table has. */
const SCENARIOS: Array<[heading: RegExp, rows: number]> = [
  [/^## Proxy pass-through/, 4],
  [/^## Compose 3 parts/, 8],
  [/^## Cache hit/, 6],
  [/^## Write fan-out/, 6],
  [/^## Cost of protection/, 5],
  [/^## Workers: proxy pass-through/, 2]
]

t.test('every scenario starts and produces its rows', async t => {
  const out = await tempDir(t)
  const child = spawn(process.execPath, [RUN], {
    env: { ...process.env, BENCH_OUT: out, BENCH_DURATION: '1', BENCH_ROUNDS: '1', BENCH_CONNECTIONS: '10', BENCH_WRITE_RATE: '200' },
    stdio: ['ignore', 'ignore', 'pipe']
  })
  let stderr = ''
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  const timer = setTimeout(() => child.kill('SIGKILL'), 840_000)
  const code = await new Promise<number | null>(resolve => child.once('exit', resolve))
  clearTimeout(timer)
  t.equal(code, 0, `bench exits 0\n${stderr.slice(-2000)}`)

  const report = await readFile(join(out, 'latest.md'), 'utf8')
  t.match(report, /^- Node\.js v\d+/m, 'names the Node version')
  t.match(report, /^- Settings: 10 connections, 1 s per run, 1 rounds/m, 'states its settings')
  const sections = report.split(/\n(?=## )/)
  for (const [heading, rows] of SCENARIOS) {
    const section = sections.find(s => heading.test(s))
    t.ok(section, `a section ${heading.source}`)
    if (section === undefined) continue
    // Table rows after the header and its separator.
    const table = section.split('\n').filter(line => line.startsWith('| ')).slice(1)
    t.equal(table.length, rows, `${heading.source}: ${rows} rows`)
    const reqPerSec = table.map(line => Number(line.split('|')[2]?.trim()))
    t.ok(reqPerSec.every(n => Number.isFinite(n)), `${heading.source}: every row has a req/s figure`)
    t.ok(reqPerSec.some(n => n > 0), `${heading.source}: load was served`)
  }
})
