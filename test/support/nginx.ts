/**
 * Runs the real nginx with the shipped config (nginx/nginx.conf + nginx/junction.conf,
 * rendered by nginx/render.sh exactly as an operator would) in a temporary prefix.
 *
 * nginx is a master plus workers that do not die with their parent, so the master is
 * started in its own process group and every way out kills that whole group: the test's
 * teardown (graceful, then SIGKILL), a process 'exit' hook, and a tiny watchdog process
 * that kills the group when the test process disappears without running either (SIGKILL
 * from the runner on timeout).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { chmod, readFile, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { request } from 'undici'
import { freePort } from './origin.js'
import { tempDir } from './gateway.js'

interface Teardown { teardown (fn: () => unknown): void }

const run = promisify(execFile)

/** The nginx binary: $NGINX, else the Debian location, else whatever is on the PATH. */
export const NGINX = process.env.NGINX ?? '/usr/sbin/nginx'
/** The repository's nginx/ folder (this file is compiled to dist/test/support/). */
export const NGINX_DIR = fileURLToPath(new URL('../../../nginx/', import.meta.url))
const RENDER = join(NGINX_DIR, 'render.sh')

export interface StartNginxOptions {
  /** Junction instances as host:port. */
  upstreams: string[]
  /** Port to listen on (127.0.0.1); a free one by default. */
  port?: number
  /** Also serve HTTPS (127.0.0.1, a free port) with this certificate chain and key (PEM files). */
  tls?: { cert: string, key: string }
}

export interface RunningNginx {
  readonly url: string
  readonly port: number
  /** `https://127.0.0.1:<port>` when started with `tls`. */
  readonly httpsUrl: string | undefined
  /** The prefix directory: nginx.conf, junction.conf, logs/, tmp/. */
  readonly dir: string
  readonly child: ChildProcess
  /** nginx's stderr so far, then logs/error.log. */
  errors (): Promise<string>
  /** Parsed lines of logs/junction.access.log (the `junction` JSON log_format). */
  accessLog (): Promise<Array<Record<string, unknown>>>
  /**
   * The parsed lines up to the one of the request with this X-Request-Id. nginx writes a
   * request's line in its log phase, after the answer has left: a client that has its answer
   * may read the file before the line is there, so this polls (5 s at most, then throws).
   */
  accessLogThrough (requestId: unknown): Promise<Array<Record<string, unknown>>>
  /** Re-renders the config (new upstreams, if given), checks it with `nginx -t`, sends SIGHUP and waits for new workers. */
  reload (opts?: { upstreams?: string[] }): Promise<void>
  /** Fast shutdown (SIGTERM), SIGKILL to the group after 5s; resolves once nginx has exited. */
  stop (): Promise<void>
}

/** Every process group started here, for the exit hook. */
const groups = new Set<number>()
let hooked = false

function killGroup (pgid: number, signal: NodeJS.Signals): void {
  try { process.kill(-pgid, signal) } catch {}
}

function hookExit (): void {
  if (hooked) return
  hooked = true
  process.on('exit', () => { for (const pgid of groups) killGroup(pgid, 'SIGKILL') })
}

/**
 * A detached node process that holds the read end of a pipe from us: when this process
 * dies, however it dies, the pipe closes and the watchdog SIGKILLs the nginx group.
 * It also exits on its own once the nginx master is gone.
 */
function startWatchdog (pgid: number): ChildProcess {
  const script = `
    const pgid = Number(process.argv[1])
    const kill = () => { try { process.kill(-pgid, 'SIGKILL') } catch {} process.exit(0) }
    process.stdin.on('end', kill); process.stdin.on('error', kill); process.stdin.resume()
    setInterval(() => { try { process.kill(pgid, 0) } catch { process.exit(0) } }, 1000)
  `
  const dog = spawn(process.execPath, ['-e', script, String(pgid)], { detached: true, stdio: ['pipe', 'ignore', 'ignore'] })
  dog.unref()
  const stdin = dog.stdin as unknown as { unref?: () => void } | null
  stdin?.unref?.()
  return dog
}

/** Child pids of `pid`, from /proc (nginx's workers). */
async function childrenOf (pid: number): Promise<number[]> {
  const out: number[] = []
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8')
      // pid (comm) state ppid ...; comm may contain spaces, so parse after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      if (ppid === pid) out.push(Number(entry))
    } catch {}
  }
  return out
}

interface RenderTls { port: number, cert: string, key: string }

async function render (dir: string, port: number, upstreams: string[], tls: RenderTls | undefined): Promise<void> {
  if (upstreams.length === 0) throw new Error('startNginx: at least one upstream')
  const env = tls === undefined ? process.env : { ...process.env, TLS_LISTEN: `127.0.0.1:${tls.port}`, TLS_CERT: tls.cert, TLS_KEY: tls.key }
  await run('sh', [RENDER, dir, `127.0.0.1:${port}`, ...upstreams], { env })
}

/**
 * A self-signed certificate for 127.0.0.1 and localhost (P-256), made with openssl at run
 * time: nothing secret is committed. Returns the paths and the certificate's PEM (a
 * client's trust anchor).
 */
export async function selfSignedCertificate (t: Teardown): Promise<{ cert: string, key: string, pem: string }> {
  const dir = await tempDir(t, 'junction-tls-')
  await chmod(dir, 0o755)
  const cert = join(dir, 'cert.pem')
  const key = join(dir, 'key.pem')
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'])
  return { cert, key, pem: await readFile(cert, 'utf8') }
}

/** `nginx -t` on the rendered config; throws with nginx's output if it fails. */
export async function checkConfig (dir: string): Promise<string> {
  try {
    const { stderr } = await run(NGINX, ['-t', '-p', dir, '-c', join(dir, 'nginx.conf'), '-e', 'stderr'])
    return stderr
  } catch (err) {
    const e = err as { stderr?: string, message: string }
    throw new Error(`nginx -t failed:\n${e.stderr ?? e.message}`)
  }
}

export async function startNginx (t: Teardown, opts: StartNginxOptions): Promise<RunningNginx> {
  const dir = await tempDir(t, 'junction-nginx-')
  // Started as root, nginx's workers run as nobody and must reach the prefix.
  await chmod(dir, 0o755)
  const port = opts.port ?? await freePort()
  const tls = opts.tls === undefined ? undefined : { ...opts.tls, port: await freePort() }
  await render(dir, port, opts.upstreams, tls)
  await checkConfig(dir)

  hookExit()
  const child = spawn(NGINX, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', 'stderr', '-g', 'daemon off;'], {
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe']
  })
  const pgid = child.pid
  if (pgid === undefined) throw new Error('nginx did not start')
  groups.add(pgid)
  const watchdog = startWatchdog(pgid)
  let stderr = ''
  child.stderr?.on('data', (d: Buffer) => { stderr += d.toString() })
  const exited = new Promise<void>(resolve => child.once('exit', () => resolve()))

  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      killGroup(pgid, 'SIGTERM')
      const timer = setTimeout(() => killGroup(pgid, 'SIGKILL'), 5000)
      await exited
      clearTimeout(timer)
    }
    // Workers that outlived their master (they should not) go with the group.
    killGroup(pgid, 'SIGKILL')
    groups.delete(pgid)
    watchdog.stdin?.end()
  }
  // Registered after tempDir's, so it runs first: nginx stops before its prefix is removed.
  t.teardown(stop)

  const errors = async (): Promise<string> => {
    let log = ''
    try { log = await readFile(join(dir, 'logs', 'error.log'), 'utf8') } catch {}
    return stderr + log
  }

  const url = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 10_000
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`nginx exited:\n${await errors()}`)
    try {
      // Any answer means nginx listens; /health may be 502 if no instance is up yet.
      const res = await request(`${url}/health`, { headersTimeout: 2000, bodyTimeout: 2000 })
      await res.body.dump()
      break
    } catch {}
    if (Date.now() > deadline) throw new Error(`nginx did not answer on ${url}:\n${await errors()}`)
    await new Promise(resolve => setTimeout(resolve, 25))
  }

  const reload = async (next: { upstreams?: string[] } = {}): Promise<void> => {
    if (next.upstreams !== undefined) await render(dir, port, next.upstreams, tls)
    await checkConfig(dir)
    const before = new Set(await childrenOf(pgid))
    process.kill(pgid, 'SIGHUP')
    // Done when the master has started fresh workers and the old ones have finished
    // (they close idle keep-alive connections and exit).
    const until = Date.now() + 10_000
    for (;;) {
      const now = await childrenOf(pgid)
      if (now.length > 0 && now.every(pid => !before.has(pid))) return
      if (Date.now() > until) throw new Error(`nginx reload did not finish:\n${await errors()}`)
      await new Promise(resolve => setTimeout(resolve, 25))
    }
  }

  const accessLog = async (): Promise<Array<Record<string, unknown>>> => {
    let text = ''
    try { text = await readFile(join(dir, 'logs', 'junction.access.log'), 'utf8') } catch {}
    return text.split('\n').filter(line => line.length > 0).map(line => JSON.parse(line) as Record<string, unknown>)
  }

  const accessLogThrough = async (requestId: unknown): Promise<Array<Record<string, unknown>>> => {
    const deadline = Date.now() + 5000
    for (;;) {
      const lines = await accessLog()
      const at = lines.findIndex(line => line.requestId === requestId)
      if (at !== -1) return lines.slice(0, at + 1)
      if (Date.now() > deadline) throw new Error(`nginx logged no request with id ${String(requestId)} within 5 s`)
      await new Promise(resolve => setTimeout(resolve, 20))
    }
  }

  const httpsUrl = tls === undefined ? undefined : `https://127.0.0.1:${tls.port}`
  return { url, port, httpsUrl, dir, child, errors, accessLog, accessLogThrough, reload, stop }
}
