/**
 * `server.workers` (docs/deployment.md): real `junction start` processes.
 *
 * - two workers on the Redis store share the port: both serve, a SIGKILLed worker is
 *   replaced with a log line while the port keeps answering, a Redis outage crashes
 *   nobody, and SIGTERM drains an in-flight request before the primary exits 0;
 * - more than one worker on the embedded store is a config error naming server.workers;
 * - Redis down at boot: start refuses, naming Redis, with or without workers.
 */
import { get as httpGet } from 'node:http'
import t from 'tap'
import { startOrigin } from './support/origin.js'
import { runCli, startCliGateway, type RunningGateway } from './support/cli.js'
import { tempDir } from './support/gateway.js'
import { startRedis } from './support/redis-server.js'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'

/** One GET on a fresh connection (so the cluster hands it to the next worker); bounded. */
async function fresh (url: string): Promise<{ status: number, body: string }> {
  return await new Promise((resolve, reject) => {
    const req = httpGet(url, { agent: false, timeout: 10_000 }, res => {
      let body = ''
      res.on('data', (chunk: Buffer) => { body += chunk.toString() })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
      res.on('error', reject)
    })
    req.on('timeout', () => req.destroy(new Error('no answer within 10 s')))
    req.on('error', reject)
  })
}

/** Pids of the processes that logged a request to `path`. */
function servingPids (gw: RunningGateway, path: string): Set<number> {
  const pids = new Set<number>()
  for (const line of gw.output().split('\n')) {
    if (!line.startsWith('{')) continue
    try {
      const entry = JSON.parse(line)
      if (entry.msg === 'request' && entry.path === path) pids.add(entry.pid)
    } catch {}
  }
  return pids
}

function listeningPids (gw: RunningGateway): number[] {
  return gw.output().split('\n').filter(line => line.includes('"msg":"listening at ')).map(line => JSON.parse(line).pid as number)
}

async function until (check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  for (let i = 0; i < 10_000; i++) {
    if (await check()) return true
    if (Date.now() > deadline) return false
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  return false
}

function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

t.test('two workers on Redis: both serve, a killed one is replaced, Redis outages crash nobody, SIGTERM drains', async t => {
  const redis = await startRedis(t, { appendonly: true })
  let release: () => void = () => {}
  let slowArrived = false
  const origin = await startOrigin(t, (req, res) => {
    if (req.url === '/slow') {
      slowArrived = true
      release = () => res.end('finished')
      return
    }
    res.setHeader('content-type', 'application/json')
    res.end('{"ok":true}')
  })
  const gw = await startCliGateway(t, `
server: { workers: 2 }
services:
  api: { urls: [${origin.url}] }
routes:
  - { proxy: /api, service: api, rewrite: / }
`, { env: { JUNCTION_STORE_URL: redis.url } })
  t.ok(await until(() => listeningPids(gw).length === 2, 45_000), 'both workers listen')
  const workers = listeningPids(gw)
  t.notOk(workers.includes(gw.child.pid ?? -1), 'the primary serves nothing itself')

  for (let i = 0; i < 20; i++) t.equal((await fresh(`${gw.url}/api/a`)).status, 200)
  t.same([...servingPids(gw, '/api/a')].sort(), [...workers].sort(), 'connections are spread over both workers')

  const [victim, survivor] = workers as [number, number]
  process.kill(victim, 'SIGKILL')
  t.ok(await until(() => /died \(SIGKILL\); starting a new one/.test(gw.output()), 10_000), 'the primary logs the death')
  t.match(gw.output(), new RegExp(`"workerPid":${victim}`), 'naming the dead worker\'s pid')
  let answered = 0
  for (let i = 0; i < 20; i++) if ((await fresh(`${gw.url}/api/b`)).status === 200) answered++
  t.equal(answered, 20, 'the port keeps answering')
  t.ok(await until(() => listeningPids(gw).length === 3, 45_000), 'a new worker replaces it')
  const replacement = listeningPids(gw)[2] as number
  t.ok(alive(survivor) && alive(replacement), 'two workers again')

  // Redis away under both workers: nobody crashes (no unhandled ioredis error), all come back.
  await redis.kill('SIGKILL')
  t.ok(await until(async () => (await fresh(`${gw.url}/ready`)).status === 503, 10_000), 'not ready while Redis is down')
  for (let i = 0; i < 10; i++) t.equal((await fresh(`${gw.url}/api/c`)).status, 200, 'proxying goes on')
  await new Promise(resolve => setTimeout(resolve, 1500))
  await redis.restart()
  t.ok(await until(async () => {
    for (let i = 0; i < 4; i++) if ((await fresh(`${gw.url}/ready`)).status !== 200) return false
    return true
  }, 15_000), 'ready again on every worker')
  t.ok(alive(survivor) && alive(replacement), 'no worker died during the outage')
  t.equal(gw.output().match(/starting a new one/g)?.length, 1, 'one restart only: the one we caused')

  // Graceful stop: the request in flight is answered in full, then everything exits.
  const inFlight = fresh(`${gw.url}/api/slow`)
  t.ok(await until(() => slowArrived, 10_000), 'the slow request reached the origin')
  gw.child.kill('SIGTERM')
  t.ok(await until(() => /draining the workers/.test(gw.output()), 10_000))
  release()
  t.same(await inFlight, { status: 200, body: 'finished' }, 'the in-flight request finished')
  const exit = await gw.exited
  t.equal(exit.code, 0, `the primary exits 0 (signal ${String(exit.signal)})`)
  t.ok(await until(() => !alive(survivor) && !alive(replacement), 10_000), 'the workers are gone too')
})

t.test('more than one worker on the embedded store is a config error', async t => {
  const dir = await tempDir(t)
  const file = join(dir, 'junction.yaml')
  await writeFile(file, `
server: { workers: 2 }
store: { kind: embedded, dir: ./data }
services:
  users: { urls: [http://127.0.0.1:3001] }
routes:
  - { proxy: /api/users, service: users }
`)
  const check = await runCli(['check', file])
  t.equal(check.code, 1)
  t.match(check.stderr, 'server.workers: more than one process (found 2) needs store kind redis: the embedded store\'s journal has exactly one writer. Use store: { kind: redis, url: ... } (or JUNCTION_STORE_URL), or set server.workers: 1')
  const start = await runCli(['start', '--config', file])
  t.equal(start.code, 1, 'start refuses the same way')
  t.match(start.stderr, 'server.workers: more than one process')
  const redis = await runCli(['check', file], { env: { JUNCTION_STORE_URL: 'redis://127.0.0.1:6379' } })
  t.equal(redis.code, 0, 'valid on Redis')
  t.match(redis.stdout, 'is valid (2 worker processes).')
})

t.test('Redis down at boot: start refuses and names Redis, with and without workers', async t => {
  const redis = await startRedis(t)
  await redis.stop()
  const dir = await tempDir(t)
  for (const workers of [1, 2]) {
    const file = join(dir, `junction-${workers}.yaml`)
    await writeFile(file, `
server: { workers: ${workers}, port: 0, host: 127.0.0.1 }
store: { kind: redis, url: "${redis.url}" }
services:
  users: { urls: [http://127.0.0.1:3001] }
routes:
  - { proxy: /api/users, service: users }
`)
    const start = await runCli(['start', '--config', file], { timeoutMs: 60_000 })
    t.equal(start.code, 1, `${workers} worker(s): exit 1`)
    t.match(start.stderr, `junction: could not start: cannot reach Redis at ${redis.url}`, 'naming Redis and its address')
    if (workers > 1) t.match(start.stdout + start.stderr, /exited during start/, 'the primary stops too')
  }
})
