/**
 * Child processes for benchmarks: every server under test runs in its own process,
 * optionally pinned to a CPU with taskset, so the load generator (this process) and the
 * servers do not share a core and the CPU each server spends can be read from /proc.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { readFile, writeFile, mkdtemp } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The project root (this file is compiled to dist/bench/lib/). */
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url))

const HAS_TASKSET = spawnSync('taskset', ['--version']).status === 0

export interface Running {
  readonly name: string
  readonly port: number
  readonly url: string
  readonly child: ChildProcess
  /** user+system CPU time of the process so far, in microseconds. */
  cpuMicros (): Promise<number>
  /** Resident set size now, in bytes. */
  rss (): Promise<number>
  stop (): Promise<void>
}

export async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  await new Promise<void>(resolve => server.close(() => resolve()))
  return port
}

const TICKS_PER_SECOND = Number(spawnSync('getconf', ['CLK_TCK']).stdout?.toString().trim() ?? '100') || 100

async function cpuMicrosOf (pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
  // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  const ticks = Number(fields[11]) + Number(fields[12])
  return ticks * 1_000_000 / TICKS_PER_SECOND
}

async function rssOf (pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const match = /VmRSS:\s+(\d+) kB/.exec(status)
  return match === null ? 0 : Number(match[1]) * 1024
}

/**
 * Starts `node <script> ...args`, pinned to `cpu` when taskset exists, and waits until it
 * prints its port on a line of its own (the peers do) or `readyPort` answers.
 */
export async function startNode (name: string, script: string, opts: { args?: string[], nodeArgs?: string[], env?: NodeJS.ProcessEnv, cpu?: number, port?: number, onLine?: (line: string) => void } = {}): Promise<Running> {
  const port = opts.port ?? await freePort()
  const node = [process.execPath, ...(opts.nodeArgs ?? []), script, ...(opts.args ?? [])]
  const command = HAS_TASKSET && opts.cpu !== undefined ? ['taskset', '-c', String(opts.cpu), ...node] : node
  const child = spawn(command[0] as string, command.slice(1), {
    cwd: ROOT,
    env: { ...process.env, PORT: String(port), NODE_ENV: 'production', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  // Only the start-up output is kept (for error messages); later lines go to `onLine`.
  let output = ''
  let partial = ''
  let started = false
  child.stderr?.on('data', (d: Buffer) => { if (!started) output += d.toString() })
  child.stdout?.on('data', (d: Buffer) => {
    if (!started) output += d.toString()
    if (opts.onLine === undefined) return
    const lines = (partial + d.toString()).split('\n')
    partial = lines.pop() ?? ''
    for (const line of lines) opts.onLine(line)
  })
  const deadline = Date.now() + 20_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}:\n${output}`)
    if (await answers(port)) { started = true; break }
    if (Date.now() > deadline) { child.kill('SIGKILL'); throw new Error(`${name} did not start:\n${output}`) }
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  const pid = child.pid as number
  return {
    name,
    port,
    url: `http://127.0.0.1:${port}`,
    child,
    cpuMicros: async () => await cpuMicrosOf(pid),
    rss: async () => await rssOf(pid),
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return
      const exited = new Promise(resolve => child.once('exit', resolve))
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000)
      await exited
      clearTimeout(timer)
    }
  }
}

async function answers (port: number): Promise<boolean> {
  const { Socket } = await import('node:net')
  return await new Promise(resolve => {
    const socket = new Socket()
    socket.once('connect', () => { socket.destroy(); resolve(true) })
    socket.once('error', () => resolve(false))
    socket.connect(port, '127.0.0.1')
  })
}

/**
 * Writes a Junction config to a temp dir and starts the real `junction start` on it.
 * `cli`: another build's dist/src/cli.js (a before/after comparison in one run).
 */
export async function startJunction (name: string, yaml: string, opts: { cpu?: number, env?: NodeJS.ProcessEnv, nodeArgs?: string[], logLevel?: string, onLine?: (line: string) => void, cli?: string, workers?: number } = {}): Promise<Running> {
  const dir = await mkdtemp(join(tmpdir(), 'junction-bench-'))
  const file = join(dir, 'junction.yaml')
  const port = await freePort()
  const workers = opts.workers === undefined ? '' : `, workers: ${opts.workers}`
  await writeFile(file, `server: { port: ${port}, host: 127.0.0.1, logLevel: ${opts.logLevel ?? 'warn'}${workers} }\nstore: { kind: embedded, dir: ${JSON.stringify(join(dir, 'data'))} }\n${yaml}`)
  const { cli, workers: _workers, ...rest } = opts
  return await startNode(name, cli ?? join(ROOT, 'dist/src/cli.js'), { args: ['start', '--config', file], port, ...rest })
}

export const hasTaskset = HAS_TASKSET

/**
 * BENCH_PROFILE_DIR=<dir>: node arguments making a gateway write a CPU profile
 * (node --cpu-prof) named `<name>.cpuprofile` there when it stops; none without it.
 */
export function profileArgs (name: string): string[] {
  const dir = process.env.BENCH_PROFILE_DIR
  if (dir === undefined || dir === '') return []
  return ['--cpu-prof', `--cpu-prof-dir=${dir}`, `--cpu-prof-name=${name.replace(/[^\w.-]+/g, '-')}.cpuprofile`]
}
