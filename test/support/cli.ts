/**
 * Runs the real `junction` command in a child process, as users run it, for tests that
 * need process-level behaviour: exit codes, signals, graceful shutdown, memory.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { request } from 'undici'
import { freePort } from './origin.js'
import { tempDir } from './gateway.js'

interface Teardown { teardown (fn: () => unknown): void }

/** dist/src/cli.js, compiled next to this file's compiled form. */
export const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url))

export interface RunResult { code: number | null, signal: NodeJS.Signals | null, stdout: string, stderr: string }

/** Runs `junction ...args` to completion (bounded by `timeoutMs`). */
export async function runCli (args: string[], opts: { env?: NodeJS.ProcessEnv, timeoutMs?: number } = {}): Promise<RunResult> {
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000)
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>(resolve => child.once('exit', (c, s) => resolve([c, s])))
  clearTimeout(timer)
  return { code, signal, stdout, stderr }
}

export interface RunningGateway {
  readonly url: string
  readonly port: number
  readonly child: ChildProcess
  readonly dir: string
  output (): string
  /** Resolves with the exit code and signal once the process has exited. */
  exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
}

/**
 * Writes `yaml` (without server.port/store, which are filled in: the embedded store in the
 * temp dir unless `store` is given) to a temp dir and runs
 * `junction start --config` on it; resolves once /health answers.
 */
export async function startCliGateway (t: Teardown, yaml: string, opts: { env?: NodeJS.ProcessEnv, dir?: string, store?: string, startTimeoutMs?: number } = {}): Promise<RunningGateway> {
  const dir = opts.dir ?? await tempDir(t)
  // A free port is only free until the child binds it: another process on this busy
  // machine (a listener, or an outgoing connection's ephemeral port) may take it in
  // between. That refusal is ours, not the gateway's: try another port, a bounded few times.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(t, yaml, dir, await freePort(), opts)
    } catch (err) {
      if (attempt >= 3 || !(err instanceof Error) || !err.message.includes('EADDRINUSE')) throw err
    }
  }
}

async function startOnce (t: Teardown, yaml: string, dir: string, port: number, opts: { env?: NodeJS.ProcessEnv, store?: string, startTimeoutMs?: number }): Promise<RunningGateway> {
  const file = join(dir, 'junction.yaml')
  // `store`: the store block's YAML flow mapping, e.g. `{ kind: redis, url: "…", cluster: true }`.
  await writeFile(file, `store: ${opts.store ?? `{ kind: embedded, dir: ${JSON.stringify(join(dir, 'data'))} }`}\n${yaml}`)
  const child = spawn(process.execPath, [CLI, 'start', '--config', file], {
    env: { ...process.env, JUNCTION_PORT: String(port), JUNCTION_HOST: '127.0.0.1', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let output = ''
  child.stdout?.on('data', (d: Buffer) => { output += d.toString() })
  child.stderr?.on('data', (d: Buffer) => { output += d.toString() })
  const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>(resolve => child.once('exit', (code, signal) => resolve({ code, signal })))
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })

  const url = `http://127.0.0.1:${port}`
  // Generous: a node start takes many seconds on a shared, busy machine.
  const deadline = Date.now() + (opts.startTimeoutMs ?? 45_000)
  for (;;) {
    if (child.exitCode !== null) throw new Error(`gateway exited with ${child.exitCode}:\n${output}`)
    try {
      const res = await request(`${url}/health`)
      await res.body.dump()
      if (res.statusCode === 200) break
    } catch {}
    if (Date.now() > deadline) throw new Error(`gateway did not become healthy:\n${output}`)
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  return { url, port, child, dir, output: () => output, exited }
}

/** Peak resident memory of a process (VmHWM), in bytes. Linux only. */
export async function peakRss (pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises')
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const match = /VmHWM:\s+(\d+) kB/.exec(status)
  if (match === null) throw new Error('no VmHWM in /proc status')
  return Number(match[1]) * 1024
}
