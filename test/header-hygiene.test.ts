/**
 * Header hygiene end to end (docs/hygiene.md): what a client sends that no service may see,
 * checked at real origins that record what they received, on every route kind: proxy,
 * compose parts, the write's owner and its dependents.
 */
import t, { type Test } from 'tap'
import type { IncomingHttpHeaders } from 'node:http'
import { startGateway } from './support/gateway.js'
import { startHostileOrigins } from './support/hostile-origins.js'
import { rawHttp, rawRequest } from './support/raw-http.js'

/** What a hostile client adds to every request below. */
const SPOOFED: Array<[string, string]> = [
  ['X-Entity-Version', '999999'],
  ['Junction-Claim-Sub', 'admin'],
  ['X-Junction-Role', 'admin'],
  ['X-HTTP-Method-Override', 'DELETE'],
  ['X-Method-Override', 'DELETE'],
  ['X-Original-URL', '/admin'],
  ['X-Rewrite-URL', '/admin'],
  ['X-Forwarded-For', '6.6.6.6'],
  ['X-Forwarded-Host', 'evil.example'],
  ['X-Forwarded-Proto', 'https'],
  ['X-Forwarded-Port', '443'],
  ['X-Forwarded-Prefix', '/admin'],
  ['Forwarded', 'for=6.6.6.6;host=evil.example'],
  ['X-Real-IP', '6.6.6.6'],
  ['True-Client-IP', '6.6.6.6'],
  ['Proxy-Authorization', 'Basic Zm9vOmJhcg=='],
  ['TE', 'trailers'],
  ['Upgrade', 'websocket'],
  ['Keep-Alive', 'timeout=600'],
  ['Connection', 'close, X-Drop-Me'],
  ['X-Drop-Me', 'listed in Connection']
]
const NEVER = ['x-entity-version', 'junction-claim-sub', 'x-junction-role', 'x-http-method-override', 'x-method-override', 'x-original-url',
  'x-rewrite-url', 'x-forwarded-port', 'x-forwarded-prefix', 'forwarded', 'x-real-ip', 'true-client-ip', 'proxy-authorization', 'te', 'upgrade',
  'keep-alive', 'x-drop-me']

function assertClean (t: Test, h: IncomingHttpHeaders | undefined, what: string): void {
  if (h === undefined) {
    t.fail(`${what}: no request arrived`)
    return
  }
  for (const name of NEVER) t.equal(h[name], undefined, `${what}: ${name} is not forwarded`)
  t.equal(h['x-forwarded-for'], '127.0.0.1', `${what}: X-Forwarded-For is the gateway's peer, not the client's claim`)
  t.equal(h['x-forwarded-proto'], 'http', `${what}: X-Forwarded-Proto is how the client reached the gateway`)
  t.equal(h['x-forwarded-host'], 'gateway.test', `${what}: X-Forwarded-Host is the client's Host`)
}

t.test('proxy routes: internal, forwarding and hop-by-hop headers of the client never reach the service', async t => {
  const services = await startHostileOrigins(t)
  const gw = await startGateway(t, services.config())
  const port = Number(new URL(gw.url).port)
  const res = await rawRequest(port, rawHttp('GET', '/api/users/7', [...SPOOFED, ['Idempotency-Key', 'client-key'], ['Authorization', 'Bearer t']]))
  t.equal(res.status, 200)
  const seen = services.origins.users.received[0]
  t.equal(seen?.method, 'GET', 'the method stays GET whatever the override headers say')
  t.equal(seen?.url, '/users/7', 'the path is the rewritten one, whatever X-Original-URL says')
  assertClean(t, seen?.headers, 'proxy')
  t.equal(seen?.headers['idempotency-key'], 'client-key', 'the client\'s own Idempotency-Key goes to the service it addresses')
  t.equal(seen?.headers.authorization, 'Bearer t', 'end-to-end headers pass')
})

t.test('compose routes: parts get the declared headers and the gateway\'s, nothing the client spoofed', async t => {
  const services = await startHostileOrigins(t)
  const gw = await startGateway(t, services.config())
  const port = Number(new URL(gw.url).port)
  const res = await rawRequest(port, rawHttp('GET', '/api/profile/7', [...SPOOFED, ['Authorization', 'Bearer t']]))
  t.equal(res.status, 200, res.body)
  for (const name of ['users', 'orders'] as const) {
    const h = services.origins[name].received[0]?.headers ?? {}
    for (const header of [...NEVER, 'x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto']) t.equal(h[header], undefined, `${name}: ${header} is not forwarded`)
    t.equal(h.authorization, 'Bearer t', `${name}: a forwardHeaders header passes`)
    t.ok(h['x-request-id'], `${name}: the request id is attached`)
  }
})

t.test('write routes: the owner gets the client\'s write without internal headers; dependents get only the gateway\'s', async t => {
  const services = await startHostileOrigins(t)
  const gw = await startGateway(t, services.config())
  const port = Number(new URL(gw.url).port)
  const body = JSON.stringify({ name: 'lamp' })
  const res = await rawRequest(port, rawHttp('PUT', '/api/items/7', [...SPOOFED, ['If-Match', '"1"'], ['Content-Type', 'application/json'], ['Idempotency-Key', 'client-key']], body))
  t.equal(res.status, 200, res.body)

  const owner = services.origins.catalog.received.find(r => r.method === 'PUT')
  t.equal(owner?.url, '/items/7')
  assertClean(t, owner?.headers, 'owner')
  t.equal(owner?.headers['if-match'], '"1"', 'the owner decides the precondition')
  t.equal(owner?.headers['idempotency-key'], 'client-key', 'the client\'s Idempotency-Key is for the owner it writes to')

  // The outbox delivers asynchronously: wait, bounded, for the copy.
  const deadline = Date.now() + 5000
  while (services.origins.copies.received.length === 0 && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 20))
  const copy = services.origins.copies.received[0]
  t.equal(copy?.url, '/item-copies/7')
  t.equal(copy?.headers['x-entity-version'], '1', 'the dependent gets the owner\'s committed version, not the client\'s 999999')
  t.match(copy?.headers['idempotency-key'], /^[0-9a-f-]{36}:copies$/, 'the dependent gets the outbox\'s Idempotency-Key, never the client\'s')
  for (const name of [...NEVER.filter(n => n !== 'x-entity-version'), 'authorization', 'x-forwarded-for', 'if-match']) {
    t.equal(copy?.headers[name], undefined, `dependent: ${name} is not sent`)
  }
})

t.test('trustProxy lists the proxies whose X-Forwarded-* are believed; other peers are not', async t => {
  for (const [setting, trusted] of [['[127.0.0.0/8]', true], ['["::1", 127.0.0.1]', true], ['[10.0.0.0/8]', false]] as const) {
    const services = await startHostileOrigins(t)
    const gw = await startGateway(t, services.config(`server: { trustProxy: ${setting} }`))
    const port = Number(new URL(gw.url).port)
    const res = await rawRequest(port, rawHttp('GET', '/api/users/1', [['X-Forwarded-For', '203.0.113.9'], ['X-Forwarded-Proto', 'https'], ['X-Forwarded-Host', 'api.example.com'], ['X-Real-IP', '203.0.113.9'], ['X-Entity-Version', '5']]))
    t.equal(res.status, 200)
    const h = services.origins.users.received[0]?.headers ?? {}
    if (trusted) {
      t.equal(h['x-forwarded-for'], '203.0.113.9, 127.0.0.1', `${setting}: the chain is extended`)
      t.equal(h['x-forwarded-proto'], 'https', `${setting}: the proxy's protocol is kept`)
      t.equal(h['x-forwarded-host'], 'api.example.com', `${setting}: the proxy's host is kept`)
      t.equal(h['x-real-ip'], '203.0.113.9', `${setting}: the proxy's other claims are kept`)
    } else {
      t.equal(h['x-forwarded-for'], '127.0.0.1', `${setting}: an untrusted peer's chain is replaced`)
      t.equal(h['x-forwarded-proto'], 'http')
      t.equal(h['x-forwarded-host'], 'gateway.test')
      t.equal(h['x-real-ip'], undefined)
    }
    t.equal(h['x-entity-version'], undefined, `${setting}: internal headers are dropped even from a trusted proxy`)
  }
})

t.test('a Connection header cannot make the gateway drop what a trusted proxy stated', async t => {
  const services = await startHostileOrigins(t)
  const gw = await startGateway(t, services.config('server: { trustProxy: true }'))
  const port = Number(new URL(gw.url).port)
  const res = await rawRequest(port, rawHttp('GET', '/api/users/1', [['Connection', 'close, X-Forwarded-For, X-Forwarded-Proto'], ['X-Forwarded-For', '203.0.113.9'], ['X-Forwarded-Proto', 'https']]))
  t.equal(res.status, 200)
  const h = services.origins.users.received[0]?.headers ?? {}
  t.equal(h['x-forwarded-for'], '203.0.113.9, 127.0.0.1')
  t.equal(h['x-forwarded-proto'], 'https')
})
