/**
 * A real redis-server for tests, on a free port of 127.0.0.1.
 *
 * Every server started here is killed at teardown (when a tap `t` is given), on stop(),
 * and, as a last resort, when the test process exits: a test run never leaves a
 * redis-server behind.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { createConnection, createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface RedisServerOptions {
  /** AOF with `appendfsync always` in a temporary directory (removed at stop()). */
  appendonly?: boolean
  /** Extra redis-server arguments, e.g. ['--maxmemory', '10mb']. */
  args?: readonly string[]
  /** How long to wait for the first PONG (default 10 s). */
  startTimeoutMs?: number
}

export interface RedisServer {
  readonly url: string
  readonly port: number
  /** The AOF directory, when `appendonly` is set. */
  readonly dir: string | undefined
  /** Stops the server (SIGTERM, then SIGKILL after 5 s) and removes its directory. */
  stop (): Promise<void>
  /** Sends a signal and waits for the process to exit (keeps the directory). */
  kill (signal?: NodeJS.Signals): Promise<void>
  /** Starts the server again on the same port and directory (after kill()). */
  restart (): Promise<void>
  /** Sends a signal and returns at once (SIGSTOP / SIGCONT: a server that hangs, then resumes). */
  signal (signal: NodeJS.Signals): void
}

interface Teardown { teardown (fn: () => unknown): void }

const running = new Set<ChildProcess>()
let exitHookInstalled = false

function installExitHook (): void {
  if (exitHookInstalled) return
  exitHookInstalled = true
  // 'exit' handlers must be synchronous; kill() is.
  process.on('exit', () => {
    for (const child of running) child.kill('SIGKILL')
  })
}

async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', resolve)
  })
  const { port } = server.address() as AddressInfo
  await new Promise<void>(resolve => server.close(() => resolve()))
  return port
}

/** One PING over a raw socket: no client library, no retry logic of its own. */
async function pingOnce (port: number): Promise<boolean> {
  return await new Promise<boolean>(resolve => {
    const socket = createConnection({ port, host: '127.0.0.1' })
    let answer = ''
    const done = (ok: boolean): void => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(500, () => done(false))
    socket.on('error', () => done(false))
    socket.on('connect', () => socket.write('PING\r\n'))
    socket.on('data', chunk => {
      answer += chunk.toString()
      if (answer.includes('\r\n')) done(answer.startsWith('+PONG'))
    })
  })
}

function waitExit (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise(resolve => child.once('exit', () => resolve()))
}

export async function startRedis (t?: Teardown, opts: RedisServerOptions = {}): Promise<RedisServer> {
  installExitHook()
  const dir = opts.appendonly === true ? await mkdtemp(join(tmpdir(), 'junction-redis-')) : undefined
  const startTimeoutMs = opts.startTimeoutMs ?? 10_000
  let port = await freePort()
  let child: ChildProcess | undefined

  const launch = async (): Promise<void> => {
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--protected-mode', 'no']
    if (dir !== undefined) args.push('--appendonly', 'yes', '--appendfsync', 'always', '--dir', dir)
    else args.push('--appendonly', 'no')
    args.push(...(opts.args ?? []))
    const proc = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] })
    child = proc
    running.add(proc)
    let output = ''
    const collect = (chunk: Buffer): void => { output = (output + chunk.toString()).slice(-4000) }
    proc.stdout?.on('data', collect)
    proc.stderr?.on('data', collect)
    let spawnError: Error | undefined
    proc.once('error', err => { spawnError = err })
    proc.once('exit', () => { running.delete(proc) })
    const deadline = Date.now() + startTimeoutMs
    while (Date.now() < deadline) {
      if (spawnError !== undefined) {
        throw new Error(`cannot start redis-server (is it installed and on PATH?): ${spawnError.message}`)
      }
      if (proc.exitCode !== null || proc.signalCode !== null) {
        throw new Error(`redis-server exited at start (${proc.exitCode ?? proc.signalCode}):\n${output}`)
      }
      if (await pingOnce(port)) return
      await new Promise(resolve => setTimeout(resolve, 50))
    }
    proc.kill('SIGKILL')
    await waitExit(proc)
    throw new Error(`redis-server on port ${port} did not answer PING within ${startTimeoutMs} ms:\n${output}`)
  }

  // The port was free a moment ago; another process may have taken it since. Retry once
  // or twice with a fresh port rather than fail the test.
  for (let attempt = 1; ; attempt++) {
    try {
      await launch()
      break
    } catch (err) {
      if (attempt >= 3 || !/Address already in use/i.test((err as Error).message)) {
        if (dir !== undefined) await rm(dir, { recursive: true, force: true })
        throw err
      }
      port = await freePort()
    }
  }

  const kill = async (signal: NodeJS.Signals = 'SIGKILL'): Promise<void> => {
    const proc = child
    if (proc === undefined) return
    proc.kill(signal)
    await waitExit(proc)
  }

  const stop = async (): Promise<void> => {
    const proc = child
    if (proc !== undefined && proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGTERM')
      const timer = setTimeout(() => proc.kill('SIGKILL'), 5000)
      await waitExit(proc)
      clearTimeout(timer)
    }
    child = undefined
    if (dir !== undefined) await rm(dir, { recursive: true, force: true })
  }

  const restart = async (): Promise<void> => {
    await kill('SIGKILL')
    await launch()
  }

  const signal = (sig: NodeJS.Signals): void => { child?.kill(sig) }

  // A stopped server ignores SIGTERM until continued: stop() must not wait 5 s for it.
  t?.teardown(async () => { child?.kill('SIGCONT'); await stop() })
  return { url: `redis://127.0.0.1:${port}`, port, dir, stop, kill, restart, signal }
}
