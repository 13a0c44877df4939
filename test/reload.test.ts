/**
 * Hot reload in process (src/gateway-host.ts): POST /admin/reload re-reads the config file
 * and switches to it, or keeps the running config and answers 422 problem+json listing
 * every error as `junction check` words it. Real origins, real embedded store, real
 * listening socket; the SIGHUP path through the real CLI is in reload-sighup.test.ts.
 */
import { Writable } from 'node:stream'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import pino from 'pino'
import { request } from 'undici'
import { ConfigError } from '../src/config/config-error.js'
import { loadConfig } from '../src/config/load.js'
import { GatewayHost } from '../src/gateway-host.js'
import { startOrigin } from './support/origin.js'
import { startHeldOrigin } from './support/held-origin.js'
import { tempDir } from './support/gateway.js'
import { startRedis } from './support/redis-server.js'
import { call, eventually, startDemo, writeConfig } from './support/writes.js'
import { captureLog } from './support/log-capture.js'

const TOKEN = 'reload-test-token'
const AUTH = { authorization: `Bearer ${TOKEN}` }

interface Teardown { teardown (fn: () => unknown): void }

interface Running { host: GatewayHost, url: string, file: string, dir: string, logs: () => string, text: (yaml: string) => string }

/**
 * Writes `yaml` (plus host, port 0, the admin token and the store: by default embedded in a
 * temp dir) and starts a host on it; `text` makes a file with the same additions.
 */
async function startHost (t: Teardown, yaml: string, redisUrl?: string): Promise<Running> {
  const dir = await tempDir(t, 'junction-reload-')
  const file = join(dir, 'junction.yaml')
  const store = redisUrl === undefined ? undefined : `store: { kind: redis, url: "${redisUrl}", prefix: "reload-test:" }`
  const text = (body: string): string => withBase(dir, body, undefined, store)
  await writeFile(file, text(yaml))
  let logs = ''
  const sink = new Writable({ write (chunk: Buffer, _enc, done) { logs += chunk.toString(); done() } })
  const host = await GatewayHost.start(await loadConfig(file), { logger: pino({ level: 'info' }, sink) })
  t.teardown(() => host.close())
  const address = await host.listen()
  return { host, url: `http://127.0.0.1:${address.port}`, file, dir, logs: () => logs, text }
}

function withBase (dir: string, yaml: string, server = 'server: { host: 127.0.0.1, port: 0 }', store = `store: { kind: embedded, dir: ${JSON.stringify(join(dir, 'data'))} }`): string {
  return `${server}
${store}
admin: { token: ${TOKEN} }
${yaml}`
}

async function reload (url: string): Promise<{ status: number, type: string | undefined, body: any }> {
  const res = await request(`${url}/admin/reload`, { method: 'POST', headers: AUTH })
  return { status: res.statusCode, type: res.headers['content-type'] as string | undefined, body: await res.body.json() }
}

async function get (url: string): Promise<{ status: number, text: string }> {
  const res = await request(url)
  return { status: res.statusCode, text: await res.body.text() }
}

t.test('POST /admin/reload switches routes and services; a request in flight finishes on the old config', async t => {
  const a = await startOrigin(t, (req, res) => { res.end(`a ${req.url ?? ''}`) })
  const b = await startOrigin(t, (req, res) => { res.end(`b ${req.url ?? ''}`) })
  const slow = await startHeldOrigin(t)
  const gw = await startHost(t, `
services:
  a: { urls: ["${a.url}"] }
  slow: { urls: ["${slow.url}"] }
routes:
  - { proxy: /old, service: a }
  - { proxy: /slow, service: slow }
`)
  t.equal((await get(`${gw.url}/old/x`)).text, 'a /old/x')

  const unauthorized = await request(`${gw.url}/admin/reload`, { method: 'POST' })
  t.equal(unauthorized.statusCode, 401, 'behind the admin token')
  await unauthorized.body.dump()

  const inFlight = get(`${gw.url}/slow/1`)
  await slow.arrived
  const first = gw.host.app

  await writeFile(gw.file, withBase(gw.dir, `
services:
  b: { urls: ["${b.url}"] }
routes:
  - { proxy: /new, service: b, rewrite: /moved }
`))
  const answer = await reload(gw.url)
  t.equal(answer.status, 200)
  t.same(answer.body, { status: 'reloaded', file: gw.file, routes: 1 })
  t.not(gw.host.app, first, 'a new generation answers')

  t.equal((await get(`${gw.url}/new/y`)).text, 'b /moved/y', 'the new route is live')
  const gone = await get(`${gw.url}/old/x`)
  t.equal(gone.status, 404, 'the old route is gone')
  t.match(JSON.parse(gone.text), { code: 'JUNCTION_NOT_FOUND' })

  slow.release()
  t.same(await inFlight, { status: 200, text: 'slow done' }, 'the request in flight on the old config completed')
  await gw.host.retired()
  t.ok(first.upstreams !== gw.host.app.upstreams, 'the old generation had its own pools')
  t.match(gw.logs(), /config reloaded/)
})

t.test('a reload from logLevel warn to info starts the request log lines (the new generation has the hook a warn one goes without)', async t => {
  const origin = await startOrigin(t, (_req, res) => { res.end('ok') })
  const dir = await tempDir(t, 'junction-reload-')
  const file = join(dir, 'junction.yaml')
  const at = (level: string): string => withBase(dir, `
services:
  a: { urls: ["${origin.url}"] }
routes:
  - { proxy: /a, service: a }
`, `server: { host: 127.0.0.1, port: 0, logLevel: ${level} }`)
  await writeFile(file, at('warn'))
  const config = await loadConfig(file)
  const { lines, logger } = captureLog(config.server.logLevel)
  const host = await GatewayHost.start(config, { logger })
  t.teardown(() => host.close())
  const url = `http://127.0.0.1:${(await host.listen()).port}`
  const requestLines = (): Array<Record<string, unknown>> => lines.filter(l => l.msg === 'request')

  t.equal((await get(`${url}/a/1`)).status, 200)
  t.equal(requestLines().length, 0, 'at warn: no request line')
  await writeFile(file, at('info'))
  t.equal((await reload(url)).status, 200)
  t.equal((await get(`${url}/a/2`)).status, 200)
  t.ok(await eventually(async () => requestLines().some(l => l.path === '/a/2')), 'at info after the reload: the request is logged')
  t.match(requestLines().find(l => l.path === '/a/2'), { method: 'GET', route: '/a/*', status: 200, service: 'a' })
})

t.test('the host offers requests to the current generation\'s cache-hit shortcut; after a reload, the new one answers from its own L1 once filled', async t => {
  let calls = 0
  const origin = await startOrigin(t, (_req, res) => { calls++; res.setHeader('content-type', 'text/plain'); res.end(`v${calls}`) })
  const yaml = (ttl: string): string => `
services:
  a: { urls: ["${origin.url}"] }
routes:
  - { proxy: /api, service: a, cache: { ttl: ${ttl} } }
`
  const gw = await startHost(t, yaml('1h'))
  const cached = async (): Promise<{ body: string, xCache: unknown }> => {
    const res = await request(`${gw.url}/api/x`)
    return { body: await res.body.text(), xCache: res.headers['x-cache'] }
  }
  t.same(await cached(), { body: 'v1', xCache: 'MISS' })
  t.same(await cached(), { body: 'v1', xCache: 'HIT' }, 'the router\'s hit teaches the shortcut the URL')
  t.same(await cached(), { body: 'v1', xCache: 'HIT' })
  const first = gw.host.app.hitShortcut
  t.equal(first?.answered, 1, 'the third request was answered by the shortcut, before Fastify')

  await writeFile(gw.file, gw.text(yaml('2h')))
  t.equal((await reload(gw.url)).status, 200)
  t.not(gw.host.app.hitShortcut, first, 'a new generation, a new shortcut')
  t.equal(gw.host.app.hitShortcut?.answered, 0)
  t.same(await cached(), { body: 'v1', xCache: 'HIT' }, 'from the store, which outlives generations (the new L1 starts empty)')
  t.same(await cached(), { body: 'v1', xCache: 'HIT' }, 'from the new L1, through the router')
  t.same(await cached(), { body: 'v1', xCache: 'HIT' })
  t.equal(gw.host.app.hitShortcut?.answered, 1, 'from the new shortcut')
  t.equal(first?.answered, 1, 'the replaced generation\'s shortcut is no longer offered requests')
  t.equal(calls, 1)
})

t.test('an invalid file is refused: every error listed as `junction check` words it, the old config kept', async t => {
  const a = await startOrigin(t, (req, res) => { res.end(`a ${req.url ?? ''}`) })
  const gw = await startHost(t, `
services:
  users: { urls: ["${a.url}"] }
routes:
  - { proxy: /api/users, service: users }
`)
  const running = gw.host.app
  await writeFile(gw.file, withBase(gw.dir, `
services:
  users: { urls: ["${a.url}"], timeot: 2s }
routes:
  - { proxy: /api/users, service: usr }
  - { proxy: /api/users, service: users }
`))
  const expected = await loadConfig(gw.file).then(() => [], (err: unknown) => (err as ConfigError).issues)
  t.ok(expected.length >= 2, `the file has several errors (${expected.length})`)

  const answer = await reload(gw.url)
  t.equal(answer.status, 422)
  t.match(answer.type, /^application\/problem\+json/)
  t.equal(answer.body.code, 'JUNCTION_CONFIG_REFUSED')
  t.match(answer.body.detail, `${gw.file} was not loaded (${expected.length} errors); the running config is kept.`)
  t.same(answer.body.errors, expected.map(i => ({ key: i.path, message: i.message })), 'each key and message, as junction check prints them')
  t.match(answer.body.errors, [{ key: 'services.users.timeot' }], 'names the misspelt key')

  t.equal(gw.host.app, running, 'the running generation stays')
  t.equal((await get(`${gw.url}/api/users/1`)).text, 'a /api/users/1', 'the old config still serves')
  const refused = gw.logs().split('\n').filter(line => line !== '').map(line => JSON.parse(line) as { level: number, msg: string }).find(line => line.msg.startsWith('reload refused'))
  t.equal(refused?.level, 50, 'logged as an error')
  for (const issue of expected) t.ok(refused?.msg.includes(`  ${issue.path}: ${issue.message}`), `logged: ${issue.path}`)
})

t.test('a change to a restart-only key is refused naming the key; the rest of the file is not applied', async t => {
  const a = await startOrigin(t, (req, res) => { res.end(`a ${req.url ?? ''}`) })
  const gw = await startHost(t, `
services:
  a: { urls: ["${a.url}"] }
routes:
  - { proxy: /a, service: a }
`)
  const running = gw.host.app
  const otherDir = join(gw.dir, 'elsewhere')
  await writeFile(gw.file, withBase(gw.dir, `
services:
  a: { urls: ["${a.url}"] }
routes:
  - { proxy: /a, service: a }
  - { proxy: /b, service: a }
`, 'server: { host: 127.0.0.1, port: 0, maxHeaders: 50, headersTimeout: 5s }').replace(JSON.stringify(join(gw.dir, 'data')), JSON.stringify(otherDir)))
  const answer = await reload(gw.url)
  t.equal(answer.status, 422)
  t.same(answer.body.errors.map((e: { key: string }) => e.key), ['server.maxHeaders', 'server.headersTimeout', 'store.dir'])
  t.match(answer.body.errors[1].message, 'takes effect only on restart; the running value is kept (running 10000 ms, file 5000 ms)')
  t.equal(gw.host.app, running)
  t.equal((await get(`${gw.url}/b/1`)).status, 404, 'the new route was not applied')
})

for (const storeKind of ['embedded', 'redis'] as const) {
  t.test(`under load with writes (${storeKind} store): several reloads, no answer other than 2xx, every acknowledged write reaches both copies`, { timeout: 120_000 }, async t => {
    await underLoad(t, storeKind === 'redis' ? (await startRedis(t)).url : undefined)
  })
}

async function underLoad (t: Test, redisUrl: string | undefined): Promise<void> {
  const demo = await startDemo(t)
  const base = writeConfig(demo, { extra: 'outbox: { pollInterval: 100ms }\n' })
  const gw = await startHost(t, base, redisUrl)
  // Each reload alternates between the base config and one with an extra route and a shorter timeout.
  const variant = base.replace('timeout: 2s', 'timeout: 3s') + '  - { proxy: /api/more-users, service: users, rewrite: /users }\n'

  const run = { stop: false }
  const failures: string[] = []
  const created: string[] = []
  let reads = 0
  const deadline = Date.now() + 60_000
  const reader = async (): Promise<void> => {
    for (let i = 0; i < 5000 && !run.stop && Date.now() < deadline; i++) {
      const res = await request(`${gw.url}/api/users/1`)
      await res.body.dump()
      reads++
      if (res.statusCode !== 200) failures.push(`GET ${res.statusCode}`)
    }
  }
  const writer = async (n: number): Promise<void> => {
    for (let i = 0; i < 2000 && !run.stop && Date.now() < deadline; i++) {
      const res = await call(`${gw.url}/api/users`, 'POST', { name: `w${n}-${i}`, email: `w${n}-${i}@example.com` })
      if (res.status !== 201) failures.push(`POST ${res.status} ${JSON.stringify(res.body)}`)
      else created.push(String(res.body.id))
    }
  }
  const load = Promise.all([reader(), reader(), reader(), writer(1), writer(2)])

  const reloads = 4
  let reloaded = 0
  for (let i = 0; i < reloads; i++) {
    await new Promise(resolve => setTimeout(resolve, 300))
    await writeFile(gw.file, gw.text(i % 2 === 0 ? variant : base))
    const answer = await reload(gw.url)
    if (answer.status === 200) reloaded++
    else failures.push(`reload ${answer.status} ${JSON.stringify(answer.body)}`)
  }
  await new Promise(resolve => setTimeout(resolve, 300))
  run.stop = true
  await load
  await gw.host.retired()

  t.equal(reloaded, reloads, 'every reload applied')
  t.same(failures, [], `no answer other than 2xx (${reads} reads, ${created.length} writes)`)
  t.ok(reads > 0 && created.length > 0, 'load ran during the reloads')
  const missing = async (): Promise<string[]> => {
    const out: string[] = []
    for (const id of created) {
      const [copy, owner] = await Promise.all([request(`${demo.urls.orders}/customers/${id}`), request(`${demo.urls.catalog}/owners/${id}`)])
      await copy.body.dump()
      await owner.body.dump()
      if (copy.statusCode !== 200 || owner.statusCode !== 200) out.push(id)
    }
    return out
  }
  t.ok(await eventually(async () => (await missing()).length === 0, 30_000), 'every acknowledged write reached both dependents')
  t.same(await missing(), [])
}
