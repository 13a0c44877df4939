/**
 * The shipped nginx config (nginx/) in front of two real `junction start` processes.
 *
 * In production every instance has the same config; here each instance routes /api to
 * its own origin so the origin that answers tells which instance served the request.
 */
import t, { type Test } from 'tap'
import http, { type IncomingHttpHeaders } from 'node:http'
import http2 from 'node:http2'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Agent, request } from 'undici'
import { freePort, readBody, startOrigin, type Origin } from './support/origin.js'
import { startCliGateway, type RunningGateway } from './support/cli.js'
import { NGINX_DIR as NGINX_RENDER_DIR, checkConfig, selfSignedCertificate, startNginx, type RunningNginx } from './support/nginx.js'

interface Seen { method: string, url: string, headers: IncomingHttpHeaders, bytes: number }

interface EchoOrigin {
  origin: Origin
  seen: Seen[]
  /** Called when a request arrives at a holding origin. */
  onArrive?: () => void
}

/** Answers every request with `x-origin: <name>` and records what it received, also in `all`. */
async function echoOrigin (t: Test, name: string, all: Seen[], hold = false): Promise<EchoOrigin> {
  const seen: Seen[] = []
  const echo: EchoOrigin = { origin: undefined as unknown as Origin, seen }
  echo.origin = await startOrigin(t, (req, res) => {
    if (hold) {
      // Never answers: the request stays in flight until the test acts.
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, bytes: 0 })
      all.push(seen.at(-1)!)
      echo.onArrive?.()
      return
    }
    readBody(req).then(body => {
      const entry = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, bytes: body.length }
      seen.push(entry)
      all.push(entry)
      res.setHeader('x-origin', name)
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify({ origin: name, bytes: body.length }))
    }, () => res.destroy())
  })
  return echo
}

/** /api goes to `serviceUrl`; /down to a service nothing listens for. */
function gatewayYaml (serviceUrl: string, deadUrl: string): string {
  return `
server: { trustProxy: true, logLevel: warn }
services:
  app: { urls: [${serviceUrl}] }
  gone: { urls: [${deadUrl}] }
routes:
  - { proxy: /api, service: app }
  - { proxy: /down, service: gone }
`
}

interface Front {
  nginx: RunningNginx
  gateways: RunningGateway[]
  origins: EchoOrigin[]
  /** Every request either origin received, in arrival order. */
  all: Seen[]
}

/** Two instances, A and B, each with its own origin, behind one nginx. */
async function front (t: Test, opts: { holdA?: boolean, tls?: { cert: string, key: string } } = {}): Promise<Front> {
  const all: Seen[] = []
  const a = await echoOrigin(t, 'a', all, opts.holdA === true)
  const b = await echoOrigin(t, 'b', all)
  const dead = `http://127.0.0.1:${await freePort()}`
  const gateways = await Promise.all([startCliGateway(t, gatewayYaml(a.origin.url, dead)), startCliGateway(t, gatewayYaml(b.origin.url, dead))])
  const upstreams = gateways.map(g => `127.0.0.1:${g.port}`)
  const nginx = await startNginx(t, opts.tls === undefined ? { upstreams } : { upstreams, tls: opts.tls })
  return { nginx, gateways, origins: [a, b], all }
}

async function get (url: string, headers: Record<string, string> = {}): Promise<{ status: number, headers: IncomingHttpHeaders, body: string }> {
  const res = await request(url, { headers, headersTimeout: 10_000, bodyTimeout: 10_000 })
  return { status: res.statusCode, headers: res.headers as IncomingHttpHeaders, body: await res.body.text() }
}

/** A GET with node:http from a chosen local address, so the client and nginx differ in X-Forwarded-For. */
async function getFrom (localAddress: string, url: string, headers: Record<string, string>): Promise<number> {
  return await new Promise((resolve, reject) => {
    http.get(url, { localAddress, headers, agent: false }, res => {
      res.resume()
      res.on('end', () => resolve(res.statusCode ?? 0))
    }).on('error', reject)
  })
}

t.test('the rendered config passes nginx -t and leaves no marker behind', async t => {
  const nginx = await startNginx(t, { upstreams: ['127.0.0.1:1', '127.0.0.1:2'] })
  t.match(await checkConfig(nginx.dir), /test is successful/)
  const conf = await readFile(join(nginx.dir, 'junction.conf'), 'utf8')
  const active = conf.split('\n').filter(line => !line.trimStart().startsWith('#')).join('\n')
  t.notMatch(active, /__[A-Z_]+__/)
  t.match(active, /server 127\.0\.0\.1:1 max_fails=1 fail_timeout=10s; server 127\.0\.0\.1:2 /)
  t.match(active, new RegExp(`listen 127\\.0\\.0\\.1:${nginx.port};`))
  const tls = await readFile(join(nginx.dir, 'junction-tls.conf'), 'utf8')
  t.notMatch(tls, /^\s*server\s*\{/m, 'no HTTPS server unless asked for')
  const res = await get(`${nginx.url}/health`)
  t.equal(res.status, 502, 'nginx answers itself when no instance is up')
  t.match(res.headers['x-request-id'], /^[0-9a-f]{32}$/, 'its own answers carry the request id too')
})

t.test('requests are spread over both instances', async t => {
  const { nginx, all } = await front(t)
  const served: Record<string, number> = { a: 0, b: 0 }
  for (let i = 0; i < 20; i++) {
    const res = await get(`${nginx.url}/api/items/${i}`)
    t.equal(res.status, 200)
    const who = res.headers['x-origin'] as string
    served[who] = (served[who] ?? 0) + 1
  }
  // One shared round-robin (upstream zone) over two healthy instances: strict alternation.
  t.same(served, { a: 10, b: 10 })
  t.equal(all[0]?.url, '/api/items/0', 'the URI reaches the service unchanged')
  const health = await get(`${nginx.url}/health`)
  t.equal(health.status, 200)
  t.match(JSON.parse(health.body), { status: 'ok' })
})

t.test('reload with a new instance list takes effect without a restart', async t => {
  const { nginx, gateways } = await front(t)
  await nginx.reload({ upstreams: [`127.0.0.1:${gateways[1]!.port}`] })
  for (let i = 0; i < 4; i++) t.equal((await get(`${nginx.url}/api/x`)).headers['x-origin'], 'b')
  await nginx.reload({ upstreams: gateways.map(g => `127.0.0.1:${g.port}`) })
  const who = new Set<string>()
  for (let i = 0; i < 4; i++) who.add((await get(`${nginx.url}/api/x`)).headers['x-origin'] as string)
  t.same([...who].sort(), ['a', 'b'])
})

t.test('X-Request-Id passes through nginx and Junction to the service and back', async t => {
  const { nginx, all } = await front(t)

  const given = await get(`${nginx.url}/api/x`, { 'x-request-id': 'client-id-123' })
  t.equal(given.headers['x-request-id'], 'client-id-123', 'back to the client')
  t.equal(all.at(-1)?.headers['x-request-id'], 'client-id-123', 'at the service')

  const none = await get(`${nginx.url}/api/x`)
  const id = none.headers['x-request-id']
  t.match(id, /^[0-9a-f]{32}$/, 'without one, nginx\'s $request_id')
  t.equal(all.at(-1)?.headers['x-request-id'], id, 'the service sees the same id')

  const hostile = await get(`${nginx.url}/api/x`, { 'x-request-id': 'a b' + 'x'.repeat(200) })
  t.match(hostile.headers['x-request-id'], /^[0-9a-f]{32}$/, 'an id Junction would reject is replaced by nginx already')
  t.equal(all.at(-1)?.headers['x-request-id'], hostile.headers['x-request-id'])

  const ids = (await nginx.accessLogThrough(hostile.headers['x-request-id'])).map(line => line.requestId)
  t.same(ids.slice(-3), ['client-id-123', id, hostile.headers['x-request-id']], 'nginx logs the same ids')
})

t.test('X-Forwarded-* at the service: client, then nginx', async t => {
  const { nginx, all } = await front(t)
  // The client connects from 127.0.0.2; nginx connects to Junction from 127.0.0.1.
  t.equal(await getFrom('127.0.0.2', `${nginx.url}/api/x`, { host: 'api.example.com' }), 200)
  let h = all.at(-1)!.headers
  t.equal(h['x-forwarded-for'], '127.0.0.2, 127.0.0.1', 'nginx adds the client, Junction adds nginx')
  t.equal(h['x-forwarded-proto'], 'http')
  t.equal(h['x-forwarded-host'], 'api.example.com')

  t.equal(await getFrom('127.0.0.2', `${nginx.url}/api/x`, { 'x-forwarded-for': '203.0.113.9' }), 200)
  h = all.at(-1)!.headers
  t.equal(h['x-forwarded-for'], '203.0.113.9, 127.0.0.2, 127.0.0.1', 'a chain from further out is extended')
})

t.test('an instance killed with SIGKILL: idempotent GETs keep succeeding on the other', async t => {
  const { nginx, gateways } = await front(t)
  // Warm both keep-alive pools so the dead instance leaves idle connections behind too.
  for (let i = 0; i < 4; i++) t.equal((await get(`${nginx.url}/api/warm`)).status, 200)
  const victim = gateways[0]!
  victim.child.kill('SIGKILL')
  await victim.exited
  const served: Record<string, number> = {}
  let lastId: unknown
  for (let i = 0; i < 20; i++) {
    const res = await get(`${nginx.url}/api/after/${i}`)
    t.equal(res.status, 200, `GET ${i} succeeds`)
    const who = res.headers['x-origin'] as string
    served[who] = (served[who] ?? 0) + 1
    lastId = res.headers['x-request-id']
  }
  t.same(served, { b: 20 }, 'all served by the surviving instance')
  const upstreams = (await nginx.accessLogThrough(lastId)).slice(-20).map(line => String(line.upstream))
  t.ok(upstreams.some(u => u.includes(',')), 'nginx logged a passed-on attempt (two upstream addresses)')
  t.match(await nginx.errors(), /Connection refused|reset by peer|prematurely closed/)
})

/**
 * Instance A's origin holds every request it gets, and A is SIGKILLed the moment one
 * arrives: nginx has sent the request and sees the connection reset. Requests that land
 * on B first are answered normally; the next one goes to A (round-robin).
 */
async function killMidRequest (t: Test, method: 'GET' | 'POST'): Promise<{ status: number, body: string, origin: string | undefined, requestId: unknown, answeredBefore: number, front: Front }> {
  const f = await front(t, { holdA: true })
  const a = f.gateways[0]!
  f.origins[0]!.onArrive = () => { a.child.kill('SIGKILL') }
  for (let i = 0; i < 2; i++) {
    const res = await request(`${f.nginx.url}/api/orders`, { method, ...(method === 'POST' ? { body: '{"n":1}', headers: { 'content-type': 'application/json' } } : {}) })
    const body = await res.body.text()
    if (f.origins[0]!.seen.length > 0) return { status: res.statusCode, body, origin: res.headers['x-origin'] as string | undefined, requestId: res.headers['x-request-id'], answeredBefore: i, front: f }
  }
  throw new Error('no request reached instance A')
}

t.test('an instance killed mid-request: a GET is passed to the other instance', async t => {
  const { status, origin, requestId, front } = await killMidRequest(t, 'GET')
  t.equal(status, 200)
  t.equal(origin, 'b', 'answered by B after A died with the request')
  t.match(String((await front.nginx.accessLogThrough(requestId)).at(-1)?.upstream), /, /, 'two attempts logged')
})

t.test('an instance killed mid-request: a POST is not replayed on the other', async t => {
  const { status, body, requestId, answeredBefore, front } = await killMidRequest(t, 'POST')
  t.equal(status, 502, 'nginx answers 502 itself')
  t.match(body, /Bad Gateway/)
  t.equal(front.origins[0]!.seen.length, 1, 'the POST reached A\'s service once')
  t.equal(front.origins[1]!.seen.length, answeredBefore, 'B saw only the POSTs B answered: no replay')
  t.equal(String((await front.nginx.accessLogThrough(requestId)).at(-1)?.upstream).includes(','), false, 'one attempt only')
})

t.test('a service down behind every instance: Junction\'s 502 is not retried and no instance leaves the rotation', async t => {
  const { nginx } = await front(t)
  const down = await get(`${nginx.url}/down/x`)
  t.equal(down.status, 502)
  t.match(JSON.parse(down.body), { code: 'JUNCTION_UPSTREAM_UNAVAILABLE' })
  t.notMatch(String((await nginx.accessLogThrough(down.headers['x-request-id'])).at(-1)?.upstream), /,/, 'one attempt only')
  const served: Record<string, number> = {}
  for (let i = 0; i < 10; i++) {
    const who = (await get(`${nginx.url}/api/x`)).headers['x-origin'] as string
    served[who] = (served[who] ?? 0) + 1
  }
  t.same(served, { a: 5, b: 5 }, 'both instances still serve')
  t.notMatch(await nginx.errors(), /temporarily disabled/)
})

t.test('a body over 1m is refused by nginx with 413; 1m exactly goes through', async t => {
  const { nginx, all } = await front(t)
  const limit = 1024 * 1024
  const ok = await request(`${nginx.url}/api/upload`, { method: 'PUT', body: Buffer.alloc(limit, 97) })
  t.equal(ok.statusCode, 200)
  t.match(await ok.body.json(), { bytes: limit })

  const before = all.length
  const big = await request(`${nginx.url}/api/upload`, { method: 'PUT', body: Buffer.alloc(limit + 1, 97) })
  t.equal(big.statusCode, 413)
  t.match(big.headers['x-request-id'], /^[0-9a-f]{32}$/)
  t.match(await big.body.text(), /nginx|413/)
  t.equal(all.length, before, 'no service saw it')
  const logged = await nginx.accessLogThrough(big.headers['x-request-id'])
  t.equal(logged.at(-1)?.upstream, '', 'nor did any Junction instance', { logged: logged.slice(-3) })
})

t.test('HTTPS: nginx ends TLS with a certificate made at run time; Junction hears https', async t => {
  const tls = await selfSignedCertificate(t)
  const { nginx, all } = await front(t, { tls })
  const conf = await readFile(join(nginx.dir, 'junction-tls.conf'), 'utf8')
  t.notMatch(conf.split('\n').filter(line => !line.trimStart().startsWith('#')).join('\n'), /__[A-Z_]+__/, 'every TLS marker filled in')
  t.match(await checkConfig(nginx.dir), /test is successful/)

  // Verified against the self-signed certificate as trust anchor, not with verification off.
  const agent = new Agent({ connect: { ca: tls.pem } })
  t.teardown(() => agent.close())
  const res = await request(`${nginx.httpsUrl!}/api/secure`, { dispatcher: agent, headers: { 'x-request-id': 'tls-id-1' } })
  t.equal(res.statusCode, 200)
  t.equal(res.headers['x-request-id'], 'tls-id-1')
  await res.body.dump()
  const seen = all.at(-1)!
  t.equal(seen.url, '/api/secure')
  t.equal(seen.headers['x-forwarded-proto'], 'https', 'Junction (trustProxy) tells the service the client used https')

  // An untrusted certificate is refused by a verifying client: TLS really is on.
  await t.rejects(request(`${nginx.httpsUrl!}/api/secure`), /self[- ]signed|certificate/i)

  // Clients that offer h2 get HTTP/2 from nginx; nginx still speaks HTTP/1.1 to Junction.
  const session = http2.connect(nginx.httpsUrl!, { ca: tls.pem })
  t.teardown(() => session.close())
  const h2 = await new Promise<{ status: number, body: string }>((resolve, reject) => {
    const stream = session.request({ ':path': '/api/h2', ':method': 'GET' })
    let status = 0
    let body = ''
    stream.on('response', headers => { status = Number(headers[':status']) })
    stream.setEncoding('utf8')
    stream.on('data', (chunk: string) => { body += chunk })
    stream.on('end', () => resolve({ status, body }))
    stream.on('error', reject)
    stream.end()
  })
  t.equal(h2.status, 200)
  t.match(JSON.parse(h2.body), { origin: /^[ab]$/ })
  t.equal(all.at(-1)!.url, '/api/h2')
})

t.test('render.sh refuses half a TLS setup and unsafe TLS paths', async t => {
  const { execFile } = await import('node:child_process')
  const render = async (env: Record<string, string>): Promise<{ code: number, stderr: string }> => await new Promise(resolve => {
    execFile('sh', [join(NGINX_RENDER_DIR, 'render.sh'), '/tmp/junction-render-refused', '8080', '127.0.0.1:1'], { env: { ...process.env, ...env } }, (err, _stdout, stderr) => {
      resolve({ code: err === null ? 0 : (err as { code?: number }).code ?? 1, stderr })
    })
  })
  let r = await render({ TLS_LISTEN: '8443' })
  t.equal(r.code, 2)
  t.match(r.stderr, /HTTPS needs all of TLS_LISTEN, TLS_CERT and TLS_KEY/)
  r = await render({ TLS_LISTEN: '8443', TLS_CERT: 'cert.pem', TLS_KEY: '/k.pem' })
  t.equal(r.code, 2)
  t.match(r.stderr, /must be absolute paths/)
  r = await render({ TLS_LISTEN: '8443', TLS_CERT: '/etc/x;evil', TLS_KEY: '/k.pem' })
  t.equal(r.code, 2)
  t.match(r.stderr, /bad TLS path/)
})
