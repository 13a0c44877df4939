/**
 * `request.log` for each request, made only when the request logs something.
 *
 * Fastify gives every request a pino child logger bound to its request id. Making one
 * (bindings serialised, levels set up) was a measurable share of a proxied request or a
 * cache hit, and at the production level (warn) most requests never log a line:
 * plugins/request-log.ts checks the level before building its info line. This stand-in
 * has the logger interface Fastify requires (FastifyBaseLogger) and creates the real
 * child, with the same bindings and options, on the first line logged through it.
 */
import type { FastifyBaseLogger } from 'fastify'
import type { Bindings, ChildLoggerOptions, LevelWithSilentOrString, LogFn } from 'pino'

export class RequestLogger implements FastifyBaseLogger {
  readonly #parent: FastifyBaseLogger
  readonly #bindings: Bindings
  readonly #options: ChildLoggerOptions
  #child: FastifyBaseLogger | undefined

  constructor (parent: FastifyBaseLogger, bindings: Bindings, options: ChildLoggerOptions) {
    this.#parent = parent
    this.#bindings = bindings
    this.#options = options
  }

  /** The real child logger, made on first use. */
  #logger (): FastifyBaseLogger {
    this.#child ??= this.#parent.child(this.#bindings, this.#options)
    return this.#child
  }

  get level (): LevelWithSilentOrString {
    return this.#child?.level ?? this.#options.level ?? this.#parent.level
  }

  set level (level: LevelWithSilentOrString) {
    this.#logger().level = level
  }

  // Methods, not arrow fields: nothing is allocated per request but the instance itself.
  fatal (...args: unknown[]): void { forward(this.#logger(), 'fatal', args) }
  error (...args: unknown[]): void { forward(this.#logger(), 'error', args) }
  warn (...args: unknown[]): void { forward(this.#logger(), 'warn', args) }
  info (...args: unknown[]): void { forward(this.#logger(), 'info', args) }
  debug (...args: unknown[]): void { forward(this.#logger(), 'debug', args) }
  trace (...args: unknown[]): void { forward(this.#logger(), 'trace', args) }
  silent (): void {}

  child (bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.#logger().child(bindings, options)
  }
}

type Level = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace'

/** pino's log methods are overloaded; the arguments go on unchanged. */
function forward (logger: FastifyBaseLogger, level: Level, args: unknown[]): void {
  Reflect.apply(logger[level] as LogFn, logger, args)
}

/** Fastify's childLoggerFactory option: a RequestLogger per request. */
export function requestLoggerFactory (logger: FastifyBaseLogger, bindings: Bindings, options: ChildLoggerOptions): FastifyBaseLogger {
  return new RequestLogger(logger, bindings, options)
}
