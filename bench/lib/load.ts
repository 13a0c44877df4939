/**
 * One bounded load run with autocannon's programmatic API, plus the CPU the servers
 * under test spent during it (from /proc), so each result carries CPU µs per request:
 * steadier than req/s on a shared 2-core machine.
 */
import autocannon from 'autocannon'
import type { Running } from './processes.js'

export interface LoadOptions {
  readonly url: string
  readonly connections: number
  readonly durationSec: number
  readonly method?: 'GET' | 'PUT' | 'POST'
  readonly body?: string
  readonly headers?: Record<string, string>
  /** Varies each request (path, body); autocannon calls it before every request. */
  readonly vary?: (request: autocannon.Request) => autocannon.Request
  /** Called with every response (status, body, headers as key/value); requires `vary`. */
  readonly onResponse?: (status: number, body: string, headers: Record<string, string>) => void
  /** A fixed offered rate (requests/s over all connections) instead of as fast as possible. */
  readonly overallRate?: number
}

export interface LoadResult {
  readonly requestsPerSec: number
  readonly p50Ms: number
  readonly p99Ms: number
  readonly total: number
  readonly non2xx: number
  readonly errors: number
  /** CPU time the measured processes spent per request, in microseconds. */
  readonly cpuMicrosPerRequest: number
}

export async function load (opts: LoadOptions, measured: readonly Running[]): Promise<LoadResult> {
  const cpuBefore = await Promise.all(measured.map(async p => await p.cpuMicros()))
  const result = await autocannon({
    url: opts.url,
    connections: opts.connections,
    duration: opts.durationSec,
    method: opts.method ?? 'GET',
    ...(opts.body === undefined ? {} : { body: opts.body }),
    ...(opts.headers === undefined ? {} : { headers: opts.headers }),
    ...(opts.overallRate === undefined ? {} : { overallRate: opts.overallRate }),
    ...(opts.vary === undefined ? {} : { requests: [{ setupRequest: opts.vary, ...(opts.onResponse === undefined ? {} : { onResponse: onResponse(opts.onResponse) }) }] })
  })
  const cpuAfter = await Promise.all(measured.map(async p => await p.cpuMicros()))
  const cpu = cpuAfter.reduce((sum, after, i) => sum + after - (cpuBefore[i] ?? 0), 0)
  const total = result.requests.total
  return {
    requestsPerSec: result.requests.average,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    total,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    cpuMicrosPerRequest: total > 0 ? cpu / total : 0
  }
}

function onResponse (fn: NonNullable<LoadOptions['onResponse']>): (status: number, body: string, context: object, headers: autocannon.Request['headers']) => void {
  return (status, body, _context, headers) => { fn(status, body, (headers ?? {}) as Record<string, string>) }
}

/** Mean of the runs of one target (A B A B alternation gives two or more per target). */
export function mean (runs: readonly LoadResult[]): LoadResult {
  const avg = (f: (r: LoadResult) => number): number => runs.reduce((s, r) => s + f(r), 0) / runs.length
  return {
    requestsPerSec: avg(r => r.requestsPerSec),
    p50Ms: avg(r => r.p50Ms),
    p99Ms: avg(r => r.p99Ms),
    total: runs.reduce((s, r) => s + r.total, 0),
    non2xx: runs.reduce((s, r) => s + r.non2xx, 0),
    errors: runs.reduce((s, r) => s + r.errors, 0),
    cpuMicrosPerRequest: avg(r => r.cpuMicrosPerRequest)
  }
}

/** One target of a comparison: where to send load, and which processes' CPU counts for it. */
export interface BenchTarget {
  readonly name: string
  readonly url: string
  readonly measured: readonly Running[]
  readonly headers?: Record<string, string>
  /** Rewrites each request (autocannon setupRequest): a different URL per request, say. */
  readonly vary?: (request: autocannon.Request) => autocannon.Request
}

/**
 * Every target in turn, `rounds` times (A B A B: drift of the machine lands on all of
 * them alike), after an unmeasured warm-up of each (JIT, keep-alive pools, cache fills);
 * the mean of each target's runs, by name.
 */
export async function alternate (targets: readonly BenchTarget[], opts: { rounds: number, durationSec: number, connections: number, warmupSec?: number }): Promise<Map<string, LoadResult>> {
  const run = async (target: BenchTarget, durationSec: number, measured: readonly Running[]): Promise<LoadResult> =>
    await load({ url: target.url, connections: opts.connections, durationSec, ...(target.headers === undefined ? {} : { headers: target.headers }), ...(target.vary === undefined ? {} : { vary: target.vary }) }, measured)
  for (const target of targets) await run(target, opts.warmupSec ?? 1, [])
  const runs = new Map<string, LoadResult[]>()
  for (let round = 0; round < opts.rounds; round++) {
    for (const target of targets) runs.set(target.name, [...(runs.get(target.name) ?? []), await run(target, opts.durationSec, target.measured)])
  }
  return new Map([...runs].map(([name, results]) => [name, mean(results)]))
}
