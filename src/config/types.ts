/**
 * The resolved configuration: what the rest of Junction reads after the file has been
 * parsed, env-substituted, validated and normalised (durations in milliseconds, sizes in
 * bytes, defaults filled in). The loader freezes it deeply; nothing may mutate it.
 *
 * The file format (what users write) is described by the JSON Schema in ./schema.ts;
 * this is its normalised form.
 */

import type { ObservabilityConfig } from './observability-block.js'
import type { WriteRouteConfig } from './write-route.js'
import type { OutboxOptions } from '../outbox/outbox-options.js'
import type { ComposeRouteConfig } from './compose-route.js'
import type { CacheRouteConfig, CacheSettings } from './cache-block.js'
import type { CircuitBreakerConfig, HealthCheckConfig, OverloadConfig, RetryConfig } from './resilience-block.js'
import type { ProtectionConfig } from './route-protection.js'

export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'OPTIONS'

export interface ServerConfig {
  readonly host: string
  readonly port: number
  /** Default request body limit in bytes; a route may raise or lower it. */
  readonly bodyLimit: number
  /** How long graceful shutdown waits for in-flight requests before closing them. */
  readonly shutdownTimeoutMs: number
  /** Peers whose X-Forwarded-* are believed: none, all, or these addresses and CIDR ranges. */
  readonly trustProxy: boolean | readonly string[]
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'
  /** Load shedding thresholds; undefined: disabled. */
  readonly overload: OverloadConfig | undefined
  /** Largest request line plus headers, in bytes (node's maxHeaderSize). */
  readonly maxHeaderSize: number
  /** Most header fields in one request. */
  readonly maxHeaders: number
  /** Time allowed to receive the request line and headers. */
  readonly headersTimeoutMs: number
  /** Time allowed to receive the whole request, body included. */
  readonly requestTimeoutMs: number
  /** How long an idle client connection is kept. */
  readonly keepAliveTimeoutMs: number
  /** Processes serving the port (`auto` resolved to the CPU count); more than 1 only with the Redis store. */
  readonly workers: number
}

export interface EmbeddedStoreConfig {
  readonly kind: 'embedded'
  /** Directory of the append-only journal. */
  readonly dir: string
  /** `always`: fsync before acknowledging; `batch`: write() before acknowledging, fsync every interval. */
  readonly fsync: 'always' | 'batch'
}

export interface RedisStoreConfig {
  readonly kind: 'redis'
  readonly url: string
  /** Prefix of every key Junction writes; keys carry hash tags for Redis Cluster. */
  readonly prefix: string
  /** `url` is a seed node of a Redis Cluster (default false). */
  readonly cluster?: boolean
  /** How long one command may take (ioredis commandTimeout); default 2000. */
  readonly timeoutMs?: number
}

export type StoreConfig = EmbeddedStoreConfig | RedisStoreConfig

export interface ServiceConfig {
  readonly name: string
  readonly urls: readonly string[]
  /** Time to wait for response headers, and between body chunks. */
  readonly timeoutMs: number
  readonly connectTimeoutMs: number
  /** Keep-alive connections per upstream URL. */
  readonly connections: number
  readonly keepAliveTimeoutMs: number
  /** Retries of safe calls (src/upstream/upstream-call.ts). */
  readonly retry: RetryConfig
  /** Per-URL circuit breaker and passive ejection; undefined: disabled. */
  readonly circuitBreaker: CircuitBreakerConfig | undefined
  /** Active health checks; undefined: none. */
  readonly health: HealthCheckConfig | undefined
}

export interface ProxyRouteConfig {
  readonly kind: 'proxy'
  /** Index in the file's `routes` array, so runtime errors can point at the config. */
  readonly index: number
  /** Path prefix matched on the gateway, e.g. `/api/users`. */
  readonly prefix: string
  readonly service: string
  /** What the prefix is replaced with toward the service (default: the prefix itself). */
  readonly rewrite: string
  /** Methods accepted; all when absent. */
  readonly methods: readonly HttpMethod[]
  readonly bodyLimit: number
  /** The route's `cache:` block; absent: GET/HEAD stream through uncached. */
  readonly cache?: CacheRouteConfig
  /** Literal tags a 2xx to an unsafe method invalidates; present (maybe empty) when the route invalidates its URI. */
  readonly invalidate?: readonly string[]
  /** Methods retried on this route: GET, HEAD, OPTIONS and the route's PUT/DELETE opt-ins, among `methods`. */
  readonly retryMethods: readonly HttpMethod[]
}

/** A route's `cache:` block and the instance-wide settings (src/config/cache-block.ts). */
export type { CacheRouteConfig, CacheSettings }

/** The resilience blocks (src/config/resilience-block.ts). */
export type { CircuitBreakerConfig, HealthCheckConfig, OverloadConfig, RetryConfig }

/** Write routes (`put:`/`post:`/`patch:`/`delete:`) are defined with the rest of their kind. */
export type { WriteRouteConfig }
/** Compose routes (`get:`) likewise. */
export type { ComposeRouteConfig }
export type RouteConfig = ProxyRouteConfig | WriteRouteConfig | ComposeRouteConfig

export interface AdminConfig {
  /** Admin API and dashboard are disabled entirely when no token is set. */
  readonly token: string | undefined
}

export interface GatewayConfig {
  /** Absolute path of the file this was loaded from, when it came from a file. */
  readonly source: string | undefined
  readonly server: ServerConfig
  readonly store: StoreConfig
  readonly admin: AdminConfig
  readonly services: Readonly<Record<string, ServiceConfig>>
  readonly routes: readonly RouteConfig[]
  /** The write fan-out's delivery engine (top-level `outbox:`), defaults filled in. */
  readonly outbox: OutboxOptions
  /** The response cache's instance-wide settings (top-level `cache:`), defaults filled in. */
  readonly cache: CacheSettings
  /** Authenticators and, per route, who may call it and how often (`auth:`, `rateLimit:`). */
  readonly protection: ProtectionConfig
  /** Metrics endpoint and span export (`observability:`); absent in configs built by hand (then: defaults). */
  readonly observability?: ObservabilityConfig
}

/** Authentication and rate limiting (src/config/route-protection.ts, docs/security.md). */
export type { ProtectionConfig }
