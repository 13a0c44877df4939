/**
 * Fixed-window request counters behind @fastify/rate-limit's store interface
 * (`incr(key, cb, timeWindow, max)` → `{ current, ttl }`, and `child(routeOptions)` per
 * limiter): in process memory, or in Redis so every instance counts in the same window.
 *
 * Why our own store rather than the plugin's LocalStore/RedisStore: theirs derive a child's
 * namespace from one Fastify route's method and URL, and a configured route is several
 * Fastify routes (a proxy prefix is `/p` and `/p/*`, per method group) that must share one
 * bucket; and Redis keys must sit under the configured prefix with a hash tag. The plugin
 * keeps everything else: the hook, the 429, the RateLimit headers, IP normalisation.
 *
 * Physical layout in Redis, for a store prefix P:
 *   P ratelimit:{<bucket>|<client>}   a counter with a PEXPIRE of the window
 * The hash tag holds the whole identity, so Redis Cluster spreads clients over slots; braces
 * inside a bucket or client key are percent-encoded so they cannot move the tag. On a
 * cluster (`store.cluster`) the limiter's connection is a Cluster client too, following
 * the slots: a plain connection to the configured node answered MOVED for every bucket
 * on another master, and those requests went through unlimited.
 */
import { LRUCache } from 'lru-cache'
import { Cluster, Redis } from 'ioredis'
import type { RedisStoreConfig } from '../config/types.js'
import { clusterNode, redactRedisUrl } from '../store/redis-store.js'

export type IncrCallback = (err: Error | null, result?: { current: number, ttl: number }) => void

/** One limiter's counters (one configured route). */
export interface WindowBucket {
  incr (key: string, cb: IncrCallback, timeWindow: number, max: number): void
}

export interface WindowCounters {
  /** The counters of one limiter, named by a stable label (e.g. `GET /api/users/:id`). */
  bucket (label: string): WindowBucket
  close (): Promise<void>
}

/** Clients tracked per route in memory; beyond this the least recently seen are forgotten. */
export const MEMORY_CLIENTS_PER_ROUTE = 10_000

interface Window { count: number, resetAt: number }

export class MemoryWindows implements WindowCounters {
  bucket (_label: string): WindowBucket {
    const windows = new LRUCache<string, Window>({ max: MEMORY_CLIENTS_PER_ROUTE })
    return {
      incr (key, cb, timeWindow) {
        const now = Date.now()
        let window = windows.get(key)
        if (window === undefined || window.resetAt <= now) {
          window = { count: 0, resetAt: now + timeWindow }
          windows.set(key, window)
        }
        window.count++
        cb(null, { current: window.count, ttl: window.resetAt - now })
      }
    }
  }

  async close (): Promise<void> {}
}

/** KEYS[1] counter; ARGV[1] window ms. Returns { count, ms left }. */
const INCR_LUA = `
local current = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if current == 1 or ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return { current, ttl }
`

type ScriptedRedis = Redis & {
  junctionRateLimit: (key: string, windowMs: number, cb: (err: Error | null | undefined, result?: [number, number]) => void) => void
}

// "%" too, so an encoded brace and a literal "%7B" stay different keys.
const HAS_RESERVED = /[{}%]/
const RESERVED = /[{}%]/g
const escapeBraces = (text: string): string => HAS_RESERVED.test(text) ? text.replace(RESERVED, encodeURIComponent) : text

export class RedisWindows implements WindowCounters {
  readonly #redis: ScriptedRedis
  readonly #prefix: string
  readonly #onError: (err: Error) => void

  /**
   * `redis`: a connection of its own (closed by close()); `prefix`: the store's key prefix;
   * `onError`: told of each failed count (the request then goes through unlimited).
   */
  constructor (redis: Redis | Cluster, prefix: string, onError: (err: Error) => void = () => {}) {
    redis.defineCommand('junctionRateLimit', { numberOfKeys: 1, lua: INCR_LUA })
    // Cluster and Redis share the one command used here; the type is Redis's for brevity.
    this.#redis = redis as unknown as ScriptedRedis
    this.#prefix = prefix
    this.#onError = onError
  }

  /**
   * Opens a connection of the limiter's own, to the store's server: counting must not queue
   * behind the store's long scripts, and it fails fast instead of waiting for a reconnect
   * (no offline queue, a short command timeout), so a Redis outage costs each request at most
   * that timeout and lets it through, never holds it.
   */
  static async open (config: RedisStoreConfig, onError?: (err: Error) => void, connectTimeoutMs = 5000): Promise<RedisWindows> {
    const connection = {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: config.timeoutMs ?? 1000,
      connectTimeout: connectTimeoutMs
    }
    let redis: Redis | Cluster
    if (config.cluster === true) {
      const { node, options } = clusterNode(config.url)
      redis = new Cluster([node], {
        lazyConnect: true,
        enableOfflineQueue: false,
        clusterRetryStrategy: times => Math.min(50 * times, 1000),
        redisOptions: { ...options, ...connection }
      })
    } else {
      redis = new Redis(config.url, { ...connection, retryStrategy: times => Math.min(50 * times, 1000) })
    }
    let lastError: Error | undefined
    redis.on('error', (err: Error) => { lastError = err })
    let timer: NodeJS.Timeout | undefined
    try {
      await new Promise<void>((resolve, reject) => {
        timer = setTimeout(() => {
          reject(new Error(`rate limiting: cannot reach Redis at ${redactRedisUrl(config.url)} within ${connectTimeoutMs} ms: ${lastError?.message ?? 'no answer'}`, { cause: lastError }))
        }, connectTimeoutMs)
        redis.once('ready', resolve)
        redis.connect().catch(() => {}) // a refused first attempt is retried by retryStrategy
      })
    } catch (err) {
      redis.disconnect()
      throw err
    } finally {
      clearTimeout(timer)
    }
    return new RedisWindows(redis, config.prefix, onError)
  }

  bucket (label: string): WindowBucket {
    const redis = this.#redis
    const onError = this.#onError
    const head = `${this.#prefix}ratelimit:{${escapeBraces(label)}|`
    return {
      incr (key, cb, timeWindow) {
        redis.junctionRateLimit(`${head}${escapeBraces(key)}}`, timeWindow, (err, result) => {
          if (err !== null && err !== undefined) {
            onError(err)
            cb(err)
          } else {
            cb(null, { current: Number(result?.[0]), ttl: Number(result?.[1]) })
          }
        })
      }
    }
  }

  async close (): Promise<void> {
    await this.#redis.quit().catch(() => { this.#redis.disconnect() })
  }
}
