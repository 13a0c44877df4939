/**
 * Guessing the admin token: wrong credentials are counted per client address; past the
 * limit every attempt from that address is refused with 429 (the right token too) until
 * the window ends, while other addresses and operators with the right token carry on.
 */
import t from 'tap'
import { Agent, request } from 'undici'
import { CredentialGuard } from '../src/admin/credential-guard.js'
import { startGateway } from './support/gateway.js'
import { startOrigin } from './support/origin.js'

const TOKEN = 'admin-token-for-the-guard-test-0123456789'

t.test('the guard counts failures per address and forgets them after the window', async t => {
  const guard = new CredentialGuard({ maxFailures: 3, windowMs: 10_000 })
  const at = 1_000_000
  for (let i = 0; i < 3; i++) {
    t.equal(guard.waitSeconds('a', at), 0, `attempt ${i + 1} may be made`)
    guard.failed('a', at)
  }
  t.equal(guard.waitSeconds('a', at), 10, 'the fourth waits for the window')
  t.equal(guard.waitSeconds('a', at + 9_001), 1, 'rounded up, never 0 while refused')
  t.equal(guard.waitSeconds('b', at), 0, 'another address is not affected')
  t.equal(guard.waitSeconds('a', at + 10_000), 0, 'the window ended')
  guard.failed('a', at + 10_000)
  t.equal(guard.waitSeconds('a', at + 10_000), 0, 'and counting starts over')
})

t.test('the guard holds a bounded number of addresses', async t => {
  const guard = new CredentialGuard({ maxFailures: 1, maxClients: 100 })
  for (let i = 0; i < 1000; i++) guard.failed(`10.0.${i >> 8}.${i & 255}`)
  t.equal(guard.waitSeconds('10.0.0.0'), 0, 'the least recently seen were forgotten')
  t.ok(guard.waitSeconds('10.0.3.231') > 0, 'the most recent is remembered')
})

t.test('through the gateway: bearer and login form share the count; the right token stays usable elsewhere', async t => {
  const origin = await startOrigin(t, (_req, res) => { res.end('{}') })
  const gw = await startGateway(t, `
services:
  users: { urls: [${origin.url}] }
routes:
  - { proxy: /api/users, service: users }
`, { env: { JUNCTION_ADMIN_TOKEN: TOKEN } })
  // A second client address: Linux answers all of 127.0.0.0/8 on the loopback interface.
  const other = new Agent({ localAddress: '127.0.0.2' })
  t.teardown(() => other.close())

  for (let i = 0; i < 50; i++) {
    const ok = await request(`${gw.url}/admin/outbox`, { headers: { authorization: `Bearer ${TOKEN}` } })
    await ok.body.dump()
    if (ok.statusCode !== 200) t.fail(`a right token was refused (${ok.statusCode})`)
  }
  t.pass('50 requests with the right token: never counted')

  for (let i = 0; i < 9; i++) {
    const res = await request(`${gw.url}/admin/outbox`, { headers: { authorization: `Bearer wrong-${i}` } })
    await res.body.dump()
    t.equal(res.statusCode, 401, `wrong bearer token ${i + 1}: 401`)
  }
  const form = await request(`${gw.url}/admin/login`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'token=wrong-form' })
  t.equal(form.statusCode, 401, 'the tenth, through the login form: 401')
  await form.body.dump()

  const locked = await request(`${gw.url}/admin/outbox`, { headers: { authorization: `Bearer ${TOKEN}` } })
  t.equal(locked.statusCode, 429, 'then even the right token is refused from this address')
  t.match(locked.headers['content-type'], /^application\/problem\+json/)
  const retryAfter = Number(locked.headers['retry-after'])
  t.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After ${retryAfter} s`)
  t.match(await locked.body.json(), { status: 429, code: 'JUNCTION_ADMIN_LOCKED_OUT', detail: /try again in \d+ s/ })

  const page = await request(`${gw.url}/admin/login`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `token=${TOKEN}` })
  t.equal(page.statusCode, 429, 'the login form too')
  t.ok(Number(page.headers['retry-after']) >= 1)
  t.match(await page.body.text(), /Too many wrong tokens from this address; try again in \d+ s\./)

  const elsewhere = await request(`${gw.url}/admin/outbox`, { headers: { authorization: `Bearer ${TOKEN}` }, dispatcher: other })
  t.equal(elsewhere.statusCode, 200, 'another address with the right token is not affected')
  await elsewhere.body.dump()

  const noCredentials = await request(`${gw.url}/admin/outbox`, { dispatcher: other })
  t.equal(noCredentials.statusCode, 401)
  await noCredentials.body.dump()
  const proxied = await request(`${gw.url}/api/users/1`)
  t.equal(proxied.statusCode, 200, 'routes are not affected')
  await proxied.body.dump()
})
