/**
 * `server.workers: N` (docs/deployment.md): the primary process of a node:cluster. It
 * serves no request itself; it forks N workers, each a whole gateway (its own Fastify,
 * upstream pools and Redis connections) listening on the one port the primary shares with
 * them (node's round-robin scheduling hands each new connection to the next worker). The
 * workers share cache, invalidation and outbox through Redis like separate instances do.
 *
 * - Start: resolves once every worker listens. A worker that exits before it listens
 *   (Redis unreachable at boot, the port taken) stops the whole start: the others are told
 *   to stop and the promise rejects; the worker has already printed its own reason.
 * - A worker that dies later is replaced, with a log line; repeated deaths back off (up to
 *   5 s between forks) so a worker that cannot start does not spin the CPU.
 * - SIGTERM / SIGINT: every worker is told to drain over IPC (not by a signal: a terminal's
 *   Ctrl-C already signals the whole process group, and a second signal makes a worker
 *   exit at once), the primary waits for them up to `shutdownTimeoutMs` plus a margin,
 *   SIGKILLs what is left, and exits.
 * - A worker whose primary disappears (SIGKILL) drains and exits by itself (src/cli.ts).
 *
 * Hand-written over a process manager (pm2, throng): it is ~150 lines on node:cluster, and
 * the start, restart and drain rules above are the gateway's own.
 */
import cluster, { type Worker } from 'node:cluster'
import type { Logger } from 'pino'
import { SHUTDOWN_MESSAGE } from './shutdown-message.js'

export interface PrimaryOptions {
  readonly workers: number
  readonly shutdownTimeoutMs: number
  readonly log: Logger
}

const MAX_RESTART_DELAY_MS = 5000
/** Deaths within this window count toward the restart back-off. */
const DEATH_WINDOW_MS = 30_000
/** Beyond the workers' own shutdown timeout, before they are SIGKILLed. */
const SHUTDOWN_MARGIN_MS = 2000

export class Primary {
  readonly #opts: PrimaryOptions
  readonly #listening = new Set<Worker>()
  #deaths: number[] = []
  #stopping = false
  #started = false
  #restartTimer: NodeJS.Timeout | undefined
  #exited: Promise<void> | undefined

  constructor (opts: PrimaryOptions) {
    this.#opts = opts
  }

  /** Forks the workers; resolves once all listen, rejects if one exits first. */
  async start (): Promise<void> {
    const log = this.#opts.log
    await new Promise<void>((resolve, reject) => {
      cluster.on('listening', worker => {
        this.#listening.add(worker)
        if (!this.#started && this.#listening.size === this.#opts.workers) {
          this.#started = true
          resolve()
        }
      })
      cluster.on('exit', (worker, code, signal) => {
        const wasListening = this.#listening.delete(worker)
        if (this.#stopping) return
        if (!this.#started) {
          log.error({ worker: worker.id, workerPid: worker.process.pid, code, signal }, 'a worker exited before it was listening; stopping')
          this.stop().finally(() => reject(new Error(`worker ${worker.id} exited during start (${signal ?? `code ${String(code)}`})`)))
          return
        }
        this.#replace(worker, code, signal, wasListening)
      })
      for (let i = 0; i < this.#opts.workers; i++) cluster.fork()
    })
    log.info({ workers: this.#opts.workers }, `${this.#opts.workers} workers listening`)
  }

  #replace (worker: Worker, code: number | null, signal: string | null, wasListening: boolean): void {
    const now = Date.now()
    this.#deaths = [...this.#deaths.filter(at => now - at < DEATH_WINDOW_MS), now]
    const delayMs = Math.min(MAX_RESTART_DELAY_MS, 100 * 2 ** (this.#deaths.length - 1) - 100)
    this.#opts.log.error({ worker: worker.id, workerPid: worker.process.pid, code, signal, wasListening, restartInMs: delayMs },
      `worker ${worker.id} (pid ${String(worker.process.pid)}) died (${signal ?? `exit code ${String(code)}`}); starting a new one`)
    const fork = (): void => {
      this.#restartTimer = undefined
      if (!this.#stopping) cluster.fork()
    }
    if (delayMs <= 0) fork()
    else this.#restartTimer = setTimeout(fork, delayMs)
  }

  /** Tells every worker to drain, waits for them (bounded), SIGKILLs the rest. Idempotent. */
  stop (): Promise<void> {
    this.#exited ??= (async () => {
      this.#stopping = true
      clearTimeout(this.#restartTimer)
      const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined)
      const exits = workers.map(worker => new Promise<void>(resolve => {
        if (worker.isDead()) return resolve()
        worker.once('exit', () => resolve())
        try {
          worker.send(SHUTDOWN_MESSAGE)
        } catch {
          worker.process.kill('SIGTERM')
        }
      }))
      let timer: NodeJS.Timeout | undefined
      const timedOut = await Promise.race([
        Promise.all(exits).then(() => false),
        new Promise<boolean>(resolve => { timer = setTimeout(() => resolve(true), this.#opts.shutdownTimeoutMs + SHUTDOWN_MARGIN_MS) })
      ])
      clearTimeout(timer)
      if (timedOut) {
        this.#opts.log.error('workers did not stop in time; killing them')
        for (const worker of workers) if (!worker.isDead()) worker.process.kill('SIGKILL')
        await Promise.all(exits)
      }
    })()
    return this.#exited
  }
}
