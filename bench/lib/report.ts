/**
 * Markdown output of a benchmark run: machine, Node version, date and settings first,
 * then one table per scenario with ratios against the baselines measured in the same run.
 */
import { cpus, totalmem } from 'node:os'
import type { LoadResult } from './load.js'

export interface BenchSettings {
  readonly connections: number
  readonly durationSec: number
  readonly rounds: number
  /** CPU the servers are pinned to (the load generator runs on the other). */
  readonly serverCpu: number | undefined
  readonly layout: string
}

export interface ScenarioRow {
  readonly name: string
  readonly result: LoadResult
  readonly ratios: Record<string, number>
}

export interface ScenarioReport {
  readonly title: string
  readonly cpuNote: string
  readonly rows: readonly ScenarioRow[]
  readonly verdict: string
}

const fmt = (n: number, digits = 0): string => Number.isFinite(n) ? n.toFixed(digits) : '–'

export function renderReport (settings: BenchSettings, scenarios: readonly ScenarioReport[], date: Date): string {
  const cpu = cpus()
  const lines = [
    '# Junction benchmark',
    '',
    `- Date: ${date.toISOString()}`,
    `- Machine: ${cpu.length} × ${cpu[0]?.model ?? 'unknown CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB`,
    `- Node.js ${process.version}`,
    `- Settings: ${settings.connections} connections, ${settings.durationSec} s per run, ${settings.rounds} rounds alternating targets (A B A B), 1 s warm-up per target`,
    `- Layout: ${settings.layout}`,
    ''
  ]
  for (const scenario of scenarios) {
    const ratioNames = [...new Set(scenario.rows.flatMap(r => Object.keys(r.ratios)))]
    lines.push(`## ${scenario.title}`, '')
    lines.push(`| target | req/s | p50 ms | p99 ms | CPU µs/req | ${ratioNames.join(' | ')} | non-2xx | errors |`)
    lines.push(`|---|---:|---:|---:|---:|${ratioNames.map(() => '---:').join('|')}|---:|---:|`)
    for (const row of scenario.rows) {
      const r = row.result
      lines.push(`| ${row.name} | ${fmt(r.requestsPerSec)} | ${fmt(r.p50Ms, 1)} | ${fmt(r.p99Ms, 1)} | ${fmt(r.cpuMicrosPerRequest)} | ${ratioNames.map(n => fmt(row.ratios[n] ?? NaN, 2)).join(' | ')} | ${r.non2xx} | ${r.errors} |`)
    }
    lines.push('', scenario.cpuNote, '', `**${scenario.verdict}**`, '')
  }
  return lines.join('\n')
}
