/**
 * Active health checks of a service's URLs (the `health` block): each URL is polled with
 * GET <path>; `unhealthyThreshold` failing checks in a row take it out of rotation,
 * `healthyThreshold` passing ones bring it back. A URL starts healthy (the gateway does
 * not refuse traffic at boot while the first checks run) and is checked at once.
 *
 * Checks use their own undici Client per URL, on a fresh connection each time, so a
 * saturated traffic pool cannot fail them and a check proves the URL still accepts
 * connections. The next check of a URL is scheduled when the previous one ended, so a
 * slow URL is never checked twice at once.
 */
import { Client } from 'undici'
import type { HealthCheckConfig } from '../config/types.js'
import type { Upstream, UpstreamLog } from './service-pool.js'

interface Target {
  readonly upstream: Upstream
  readonly client: Client
  passes: number
  failures: number
  timer: NodeJS.Timeout | undefined
}

export class HealthChecker {
  readonly #service: string
  readonly #config: HealthCheckConfig
  readonly #log: UpstreamLog | undefined
  readonly #targets: Target[]
  readonly #stop = new AbortController()
  readonly #running = new Set<Promise<void>>()

  constructor (service: string, upstreams: readonly Upstream[], config: HealthCheckConfig, log?: UpstreamLog) {
    this.#service = service
    this.#config = config
    this.#log = log
    this.#targets = upstreams.map(upstream => ({
      upstream,
      client: new Client(upstream.origin, { connectTimeout: config.timeoutMs, headersTimeout: config.timeoutMs, bodyTimeout: config.timeoutMs }),
      passes: 0,
      failures: 0,
      timer: undefined
    }))
  }

  start (): void {
    for (const target of this.#targets) this.#schedule(target, 0)
  }

  async close (): Promise<void> {
    this.#stop.abort()
    for (const target of this.#targets) clearTimeout(target.timer)
    await Promise.all([...this.#running])
    await Promise.all(this.#targets.map(async target => { await target.client.destroy() }))
  }

  #schedule (target: Target, delayMs: number): void {
    if (this.#stop.signal.aborted) return
    target.timer = setTimeout(() => {
      const run = this.#check(target).finally(() => { this.#running.delete(run) })
      this.#running.add(run)
    }, delayMs)
    // Checks never keep the process alive on their own.
    target.timer.unref()
  }

  async #check (target: Target): Promise<void> {
    const { path, timeoutMs } = this.#config
    let passed = false
    try {
      const res = await target.client.request({
        method: 'GET',
        path,
        headers: { 'user-agent': 'junction-health-check' },
        reset: true,
        signal: AbortSignal.any([AbortSignal.timeout(timeoutMs), this.#stop.signal])
      })
      await res.body.dump()
      passed = res.statusCode >= 200 && res.statusCode < 300
    } catch {
      passed = false
    }
    if (this.#stop.signal.aborted) return
    this.#record(target, passed)
    this.#schedule(target, this.#config.intervalMs)
  }

  #record (target: Target, passed: boolean): void {
    const { upstream } = target
    const where = { service: this.#service, upstream: upstream.origin }
    if (passed) {
      target.failures = 0
      target.passes++
      if (!upstream.healthy && target.passes >= this.#config.healthyThreshold) {
        upstream.healthy = true
        this.#log?.info(where, 'health check passing: upstream URL back in rotation')
      }
    } else {
      target.passes = 0
      target.failures++
      if (upstream.healthy && target.failures >= this.#config.unhealthyThreshold) {
        upstream.healthy = false
        this.#log?.warn(where, 'health check failing: upstream URL out of rotation')
      }
    }
  }
}
