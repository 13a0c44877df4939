/**
 * `npm run cluster`: the demo as a scale-out deployment on this machine — the three demo
 * services, one redis-server, N `junction start` processes (examples/junction.yaml on the
 * Redis store) and nginx in front of them with the shipped config (nginx/, rendered by
 * nginx/render.sh as an operator would). Ctrl-C (or SIGTERM) stops everything.
 *
 * Settings (environment):
 *   CLUSTER_PORT       nginx's port on 127.0.0.1 (8080)
 *   CLUSTER_INSTANCES  how many Junction processes (3)
 *   REDIS_URL          use this Redis instead of starting a redis-server
 *   NGINX              the nginx binary (/usr/sbin/nginx)
 * Everything else listens on free ports of 127.0.0.1, printed at start.
 *
 * Needs redis-server (unless REDIS_URL) and nginx on this machine: see README.md.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { chmod, mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { request } from 'undici'
import { startDemoServices, type DemoServices } from './services/run.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const CLI = join(ROOT, 'dist/src/cli.js')
const CONFIG = join(ROOT, 'examples/junction.yaml')
const run = promisify(execFile)

const nginxPort = Number(process.env.CLUSTER_PORT ?? 8080)
const instances = Number(process.env.CLUSTER_INSTANCES ?? 3)
const nginxBin = process.env.NGINX ?? '/usr/sbin/nginx'

async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  await new Promise<void>(resolve => server.close(() => resolve()))
  return typeof address === 'object' && address !== null ? address.port : 0
}

async function waitFor (what: string, url: string, child: ChildProcess | undefined, output: () => string): Promise<void> {
  const deadline = Date.now() + 20_000
  for (;;) {
    if (child !== undefined && child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode}:\n${output()}`)
    try {
      const res = await request(url, { headersTimeout: 1000, bodyTimeout: 1000 })
      await res.body.dump()
      if (res.statusCode < 500) return
    } catch {}
    if (Date.now() > deadline) throw new Error(`${what} did not answer on ${url}:\n${output()}`)
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}

/** A child whose output is kept for error messages, and prefixed on the terminal once running. */
function launch (name: string, command: string, args: string[], env: NodeJS.ProcessEnv = {}, detached = false): { child: ChildProcess, output: () => string } {
  const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached })
  let text = ''
  const collect = (d: Buffer): void => {
    text += d.toString()
    if (text.length > 20_000) text = text.slice(-20_000)
  }
  child.stdout?.on('data', collect)
  child.stderr?.on('data', collect)
  children.push({ name, child, detached })
  return { child, output: () => text }
}

const children: Array<{ name: string, child: ChildProcess, detached: boolean }> = []
let services: DemoServices | undefined
const dirs: string[] = []

async function stopAll (): Promise<void> {
  // Reverse start order: nginx first, then the instances (they finish in-flight requests
  // and deliveries), then Redis, then the services.
  for (const { child, detached } of children.reverse()) {
    if (child.exitCode !== null || child.signalCode !== null) continue
    const exited = new Promise(resolve => child.once('exit', resolve))
    const pid = child.pid as number
    // nginx runs in its own process group with its workers.
    const kill = (signal: NodeJS.Signals): void => { try { process.kill(detached ? -pid : pid, signal) } catch {} }
    kill('SIGTERM')
    const timer = setTimeout(() => kill('SIGKILL'), 10_000)
    await exited
    clearTimeout(timer)
  }
  await services?.close()
  for (const dir of dirs) await rm(dir, { recursive: true, force: true })
}

async function main (): Promise<void> {
  services = await startDemoServices({ host: '127.0.0.1' })

  let redisUrl = process.env.REDIS_URL
  if (redisUrl === undefined || redisUrl === '') {
    const dir = await mkdtemp(join(tmpdir(), 'junction-cluster-redis-'))
    dirs.push(dir)
    const port = await freePort()
    // The outbox's settings (docs/deployment.md): AOF fsynced every second, no eviction.
    const redis = launch('redis-server', 'redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--appendfsync', 'everysec', '--maxmemory-policy', 'noeviction', '--dir', dir])
    redisUrl = `redis://127.0.0.1:${port}`
    const deadline = Date.now() + 10_000
    for (;;) {
      try {
        await run('redis-cli', ['-p', String(port), 'ping'])
        break
      } catch {}
      if (redis.child.exitCode !== null || Date.now() > deadline) throw new Error(`redis-server did not start:\n${redis.output()}`)
      await new Promise(resolve => setTimeout(resolve, 100))
    }
  }

  const ports: number[] = []
  for (let i = 0; i < instances; i++) ports.push(await freePort())
  await Promise.all(ports.map(async (port, i) => {
    const instance = launch(`junction ${i + 1}`, process.execPath, [CLI, 'start', '--config', CONFIG], {
      JUNCTION_PORT: String(port),
      JUNCTION_HOST: '127.0.0.1',
      JUNCTION_STORE_URL: redisUrl,
      USERS_URL: services!.urls.users,
      ORDERS_URL: services!.urls.orders,
      CATALOG_URL: services!.urls.catalog
    })
    await waitFor(`junction ${i + 1}`, `http://127.0.0.1:${port}/health`, instance.child, instance.output)
  }))

  const prefix = await mkdtemp(join(tmpdir(), 'junction-cluster-nginx-'))
  dirs.push(prefix)
  // Started as root, nginx's workers run as nobody and must reach the prefix.
  await chmod(prefix, 0o755)
  await run('sh', [join(ROOT, 'nginx/render.sh'), prefix, `127.0.0.1:${nginxPort}`, ...ports.map(p => `127.0.0.1:${p}`)])
  const nginx = launch('nginx', nginxBin, ['-p', prefix, '-c', join(prefix, 'nginx.conf'), '-e', 'stderr', '-g', 'daemon off;'], {}, true)
  const base = `http://127.0.0.1:${nginxPort}`
  await waitFor('nginx', `${base}/health`, nginx.child, nginx.output)

  process.stdout.write(`
Junction cluster is running: nginx ${base} → ${instances} instances (${ports.map(p => `127.0.0.1:${p}`).join(', ')})
Store: ${redisUrl}; services ${Object.values(services.urls).join(' ')}
Config: ${CONFIG}; nginx prefix: ${prefix}

Try:
  curl -i ${base}/api/users/1/profile      # composed and cached in Redis: every instance shares it
  curl -i -X PUT ${base}/api/users/1 -H 'content-type: application/json' -d '{"name":"Ada L.","email":"ada@example.com","companyId":"1"}'
  curl -s ${services.urls.orders}/customers/1   # the copy in orders, delivered by whichever instance got there
  tail -f ${join(prefix, 'logs/junction.access.log')}   # which instance served what

Ctrl-C to stop.
`)
}

let stopping = false
const shutdown = (code: number): void => {
  if (stopping) return
  stopping = true
  stopAll().then(() => process.exit(code), (err: unknown) => {
    process.stderr.write(`junction cluster: stopping: ${String(err)}\n`)
    process.exit(1)
  })
}
process.on('SIGINT', () => shutdown(0))
process.on('SIGTERM', () => shutdown(0))

main().catch((err: unknown) => {
  process.stderr.write(`junction cluster: ${(err as Error).message}\n`)
  shutdown(1)
})
