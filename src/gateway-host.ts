/**
 * The running gateway as the `junction start` process sees it: one listening node
 * http.Server for the whole process, and the current *generation* of the gateway (a Fastify
 * app built from one config, src/gateway.ts) that it hands each request to. Reloading
 * (SIGHUP, POST /admin/reload; docs/config.md#reloading) builds and readies a generation
 * from the file, swaps the pointer, and closes the previous generation once the requests
 * it was given have finished: no request is refused or cut by a reload.
 *
 * Why generations rather than changing routes in place: Fastify cannot add or remove routes
 * once ready, and plugins compile their settings (pools, breakers, auth, limits) when they
 * register. A whole new app per config keeps every plugin as it is.
 *
 * What lives across generations: the listening socket with its limits (restart-only keys,
 * src/config/restart-only.ts), the logger, and the store. Each generation has its own
 * upstream pools and health checks, response cache tier in memory, rate-limit counters in
 * memory, outbox workers and intent recovery. The outbox needs no hand-over: its queues
 * and leases are in the store and already let several instances consume them, so for a
 * moment two generations are two consumers; the old one finishes the deliveries it has
 * claimed before it closes, and the rest stay in the store for the new one.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import pino from 'pino'
import { ConfigError, ROOT_PATH, formatIssue, type ConfigIssue } from './config/config-error.js'
import { loadConfig } from './config/load.js'
import { restartOnlyChanges } from './config/restart-only.js'
import { formatRouteTable } from './config/route-table.js'
import type { GatewayConfig } from './config/types.js'
import { buildGateway, listenerOptions } from './gateway.js'
import type { ReloadOutcome } from './reload-outcome.js'
import { openStore } from './store/open-store.js'
import type { HitShortcut } from './cache/hit-shortcut.js'
import type { Store } from './store/store.js'

type Handler = (req: IncomingMessage, res: ServerResponse) => void

/** The generation a response was handed to (set by `track`, read by its close listener). */
const GENERATION = Symbol('junction.generation')

type TrackedResponse = ServerResponse & { [GENERATION]?: Generation }

/**
 * One listener function for every tracked response, with the response as `this`: tracking
 * a request allocates no closure (it runs for every request the process answers).
 */
function onTrackedClose (this: TrackedResponse): void {
  this[GENERATION]?.finished(this)
}

/** One config's app, and the responses it has been handed that are not finished yet. */
class Generation {
  readonly inFlight = new Set<ServerResponse>()
  #idle: (() => void) | undefined

  constructor (
    readonly config: GatewayConfig,
    readonly app: FastifyInstance,
    readonly handler: Handler,
    /** Never listens: Fastify attaches its server listeners here and the host forwards to them. */
    readonly server: Server,
    /** Offered each request before it is tracked and handed to Fastify (src/cache/hit-shortcut.ts). */
    readonly shortcut: HitShortcut | null
  ) {}

  /** `onDone`: also called when the response has closed (shutdown only). */
  track (res: TrackedResponse, onDone?: () => void): void {
    this.inFlight.add(res)
    res[GENERATION] = this
    res.on('close', onTrackedClose)
    if (onDone !== undefined) res.once('close', onDone)
  }

  finished (res: ServerResponse): void {
    this.inFlight.delete(res)
    if (this.inFlight.size === 0) this.#idle?.()
  }

  /** Resolves true once every response handed to this generation has finished, false after `timeoutMs`. */
  async drained (timeoutMs: number): Promise<boolean> {
    if (this.inFlight.size === 0) return true
    let timer: NodeJS.Timeout | undefined
    const done = await Promise.race([
      new Promise<boolean>(resolve => { this.#idle = () => resolve(true) }),
      new Promise<boolean>(resolve => { timer = setTimeout(() => resolve(false), timeoutMs) })
    ])
    clearTimeout(timer)
    this.#idle = undefined
    return done
  }
}

export interface GatewayHostOptions {
  /** By default a pino logger at the config's level writing to stdout; its level follows reloads. */
  logger?: FastifyBaseLogger
}

export class GatewayHost {
  readonly server: Server
  readonly log: FastifyBaseLogger
  readonly #store: Store
  #current: Generation | undefined
  /** Serialises reloads: a second SIGHUP waits for the first. */
  #reloading: Promise<unknown> = Promise.resolve()
  readonly #retiring = new Set<Promise<void>>()
  #closing: Promise<void> | undefined

  /** Opens the store and builds the first generation; `listen()` then opens the socket. */
  static async start (config: GatewayConfig, opts: GatewayHostOptions = {}): Promise<GatewayHost> {
    const store = await openStore(config.store)
    const host = new GatewayHost(config, store, opts.logger ?? pino({ level: config.server.logLevel }))
    try {
      host.#current = await host.#build(config)
    } catch (err) {
      await store.close().catch(() => {})
      throw err
    }
    return host
  }

  private constructor (config: GatewayConfig, store: Store, log: FastifyBaseLogger) {
    this.#store = store
    this.log = log
    const listener = listenerOptions(config.server)
    this.server = createServer(listener.http ?? {}, (req, res) => { this.#dispatch(req, res) })
    this.server.keepAliveTimeout = listener.keepAliveTimeout ?? config.server.keepAliveTimeoutMs
    this.server.maxHeadersCount = config.server.maxHeaders
    // Server-level events go to the current generation's listeners (Fastify's clientError
    // answer, request hygiene's CONNECT answer), as if it owned the socket.
    this.server.on('clientError', (err, socket) => { this.#generation().server.emit('clientError', err, socket) })
    this.server.on('connect', (req, socket, head) => { this.#generation().server.emit('connect', req, socket, head) })
  }

  /** The app answering new requests now. */
  get app (): FastifyInstance {
    return this.#generation().app
  }

  get config (): GatewayConfig {
    return this.#generation().config
  }

  async listen (): Promise<AddressInfo> {
    const { port, host } = this.config.server
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject)
      this.server.listen(port, host, () => {
        this.server.off('error', reject)
        resolve()
      })
    })
    return this.server.address() as AddressInfo
  }

  /**
   * Re-reads the file the running config came from; switches to it when it is valid and
   * changes no restart-only key. Resolves once new requests go to the new config (the old
   * one closes in the background after its requests finish: `retired()`).
   */
  async reload (): Promise<ReloadOutcome> {
    const outcome = this.#reloading.then(async () => await this.#reload())
    this.#reloading = outcome.catch(() => {})
    return await outcome
  }

  /** Resolves once every replaced generation has finished its requests and closed (tests). */
  async retired (): Promise<void> {
    await Promise.all([...this.#retiring])
  }

  /**
   * Graceful stop: no new connections, answers carry `Connection: close`, in-flight
   * requests finish, then every generation closes (its outbox and pools), then the store.
   */
  async close (): Promise<void> {
    this.#closing ??= (async () => {
      await this.#reloading
      const closed = new Promise<void>(resolve => this.server.close(() => resolve()))
      this.server.closeIdleConnections()
      const current = this.#generation()
      for (const res of current.inFlight) if (!res.headersSent) res.setHeader('connection', 'close')
      await closed
      await this.retired()
      await current.app.close()
      current.server.close()
      await this.#store.close()
    })()
    await this.#closing
  }

  #generation (): Generation {
    if (this.#current === undefined) throw new Error('the gateway has no config yet')
    return this.#current
  }

  #dispatch (req: IncomingMessage, res: ServerResponse): void {
    const generation = this.#generation()
    if (this.#closing === undefined) {
      // A fresh cache hit is written whole before serve() returns: there is nothing of it
      // for a reload to wait for, so it is not tracked (tracking cost ~6 µs of a ~46 µs hit).
      if (generation.shortcut !== null && generation.shortcut.serve(req, res)) return
      generation.track(res)
    } else {
      // Shutting down: this connection ends with this answer, and once it is idle it is closed.
      res.setHeader('connection', 'close')
      generation.track(res, () => setImmediate(() => { this.server.closeIdleConnections() }))
    }
    generation.handler(req, res)
  }

  async #build (config: GatewayConfig): Promise<Generation> {
    let handler: Handler | undefined
    let server: Server | undefined
    const app = await buildGateway(config, {
      logger: this.log,
      store: this.#store,
      closeStore: false,
      serverFactory: (fastifyHandler) => {
        handler = fastifyHandler
        server = createServer()
        return server
      },
      reload: async () => await this.reload(),
      offersHits: true
    })
    if (handler === undefined || server === undefined) throw new Error('Fastify did not call serverFactory')
    return new Generation(config, app, handler, server, app.hitShortcut)
  }

  async #reload (): Promise<ReloadOutcome> {
    const running = this.#generation().config
    const file = running.source
    if (file === undefined) return this.#refused('(no file)', [{ path: ROOT_PATH, message: 'the gateway was not started from a file; there is nothing to reload' }])
    if (this.#closing !== undefined) return this.#refused(file, [{ path: ROOT_PATH, message: 'the gateway is shutting down' }])
    let config: GatewayConfig
    try {
      config = await loadConfig(file)
    } catch (err) {
      if (err instanceof ConfigError) return this.#refused(file, err.issues)
      return this.#refused(file, [{ path: ROOT_PATH, message: `could not be loaded: ${(err as Error).message}` }])
    }
    const restartOnly = restartOnlyChanges(running, config)
    if (restartOnly.length > 0) return this.#refused(file, restartOnly)

    let next: Generation
    try {
      next = await this.#build(config)
    } catch (err) {
      this.log.error({ err }, 'reload: the new config could not be started')
      return this.#refused(file, [{ path: ROOT_PATH, message: `the new config could not be started: ${(err as Error).message}` }])
    }
    const previous = this.#generation()
    this.#current = next
    this.log.level = config.server.logLevel
    // Fastify logs through a child of the shared logger, made while this generation was
    // built (at the old level): a pino child keeps the level it was made with.
    next.app.log.level = config.server.logLevel
    this.log.info({ config: file }, `config reloaded; routes\n${formatRouteTable(config)}`)
    this.#retire(previous)
    return { ok: true, file, config }
  }

  #refused (file: string, issues: readonly ConfigIssue[]): ReloadOutcome {
    const count = `${issues.length} ${issues.length === 1 ? 'error' : 'errors'}`
    this.log.error({ config: file, errors: issues }, `reload refused, the running config is kept: ${file} (${count}):\n${issues.map(i => `  ${formatIssue(i)}`).join('\n')}`)
    return { ok: false, file, issues }
  }

  /** Closes a replaced generation once the requests it was handed have finished. */
  #retire (generation: Generation): void {
    const timeoutMs = generation.config.server.shutdownTimeoutMs
    const done = (async () => {
      if (!await generation.drained(timeoutMs)) {
        this.log.warn({ inFlight: generation.inFlight.size }, 'reload: requests of the previous config still running after server.shutdownTimeout; closing it anyway')
      }
      await generation.app.close()
      generation.server.close()
    })().catch((err: unknown) => { this.log.error({ err }, 'reload: closing the previous config failed') })
    this.#retiring.add(done)
    done.finally(() => this.#retiring.delete(done)).catch(noop)
  }
}

function noop (): void {}
