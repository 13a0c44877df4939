/**
 * One backing service: a keep-alive undici Pool per upstream URL and round-robin across
 * them. We keep our own list of pools rather than undici's BalancedPool because later
 * resilience work (passive ejection, circuit breaking per URL) needs to own the choice.
 */
import { Pool } from 'undici'
import type { ServiceConfig } from '../config/types.js'

export interface Upstream {
  /** `http://host:port` of this upstream URL. */
  readonly origin: string
  readonly pool: Pool
}

export class ServicePool {
  readonly name: string
  readonly config: ServiceConfig
  readonly #upstreams: Upstream[]
  #next = 0

  constructor (config: ServiceConfig) {
    this.name = config.name
    this.config = config
    this.#upstreams = config.urls.map(url => {
      const origin = new URL(url).origin
      return {
        origin,
        pool: new Pool(origin, {
          connections: config.connections,
          connectTimeout: config.connectTimeoutMs,
          keepAliveTimeout: config.keepAliveTimeoutMs,
          headersTimeout: config.timeoutMs,
          bodyTimeout: config.timeoutMs
        })
      }
    })
    if (this.#upstreams.length === 0) throw new Error(`service "${config.name}" has no urls`)
  }

  /** The next upstream in round-robin order. */
  pick (): Upstream {
    const upstream = this.#upstreams[this.#next] as Upstream
    this.#next = (this.#next + 1) % this.#upstreams.length
    return upstream
  }

  get upstreams (): readonly Upstream[] {
    return this.#upstreams
  }

  /** Lets in-flight requests finish, then closes every connection. */
  async close (): Promise<void> {
    await Promise.all(this.#upstreams.map(u => u.pool.close()))
  }

  /** Closes at once, failing whatever is still in flight. */
  async destroy (): Promise<void> {
    await Promise.all(this.#upstreams.map(u => u.pool.destroy()))
  }
}

/** Every configured service, by name. */
export class Upstreams {
  readonly #services = new Map<string, ServicePool>()

  constructor (services: Readonly<Record<string, ServiceConfig>>) {
    for (const [name, config] of Object.entries(services)) {
      this.#services.set(name, new ServicePool(config))
    }
  }

  get (name: string): ServicePool {
    const pool = this.#services.get(name)
    // The config cross-check guarantees every referenced service exists.
    if (pool === undefined) throw new Error(`unknown service "${name}"`)
    return pool
  }

  [Symbol.iterator] (): IterableIterator<ServicePool> {
    return this.#services.values()
  }

  async close (): Promise<void> {
    await Promise.all([...this.#services.values()].map(s => s.close()))
  }
}
