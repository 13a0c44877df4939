/**
 * The admin dashboard in a real browser (chromium through playwright-core) against a real
 * gateway, owner and dependent on 127.0.0.1: a write whose copy the dependent refuses with
 * 400 dead-letters; the page, after logging in, shows it with the dependent's last answer;
 * once the dependent is healthy, Replay delivers it and the list empties. Discard drops a
 * letter without delivering it. Without a valid session or token nothing shows any data,
 * a change needs the page's CSRF token, and the token never reaches a URL or a log line.
 */
import { Writable } from 'node:stream'
import t, { type Test } from 'tap'
import pino from 'pino'
import { request } from 'undici'
import type { Page } from 'playwright-core'
import { startGateway, type TestGateway } from './support/gateway.js'
import { startDependent, until, type Dependent } from './support/outbox-harness.js'
import { startOrigin } from './support/origin.js'
import { FAST_OUTBOX } from './support/writes.js'
import { launchBrowser, newContext } from './support/browser.js'

const TOKEN = 'dashboard-token-7f3a91'
/** HTML in a service's answer must show as text, never as markup. */
const REFUSAL = '{"detail":"customer record lacks field tier","hint":"<b>tier</b> is required"}'

interface Setup { gw: TestGateway, dependent: Dependent, healthy: { value: boolean }, logs: string[] }

/** An owner that accepts every PUT (version 1, 2, ... per user), a dependent refusing copies with 400 until healthy. */
async function setup (t: Test): Promise<Setup> {
  const versions = new Map<string, number>()
  const owner = await startOrigin(t, (req, res) => {
    const id = (req.url ?? '').split('/').pop() ?? ''
    req.resume()
    req.on('end', () => {
      const version = (versions.get(id) ?? 0) + 1
      versions.set(id, version)
      res.writeHead(200, { 'content-type': 'application/json', etag: `"${version}"` }).end(JSON.stringify({ id, name: `user ${id}` }))
    })
  })
  const healthy = { value: false }
  const dependent = await startDependent(t, () => healthy.value ? undefined : { status: 400, body: REFUSAL })
  const logs: string[] = []
  const sink = new Writable({ write (chunk, _enc, done) { logs.push(String(chunk)); done() } })
  // Load shedding off: the browser shares this process, and a busy CI machine must not turn the writes into 503s.
  const gw = await startGateway(t, `${FAST_OUTBOX}
server: { overload: { enabled: false } }
services:
  users: { urls: [${owner.url}] }
  orders: { urls: [${dependent.url}] }
routes:
  - put: /api/users/:id
    write:
      owner: { service: users, path: "/users/{params.id}", version: { etag: true } }
      requireIfMatch: false
      propagate:
        - { service: orders, path: "/customers/{params.id}" }
`, { env: { JUNCTION_ADMIN_TOKEN: TOKEN }, logger: pino({ level: 'info' }, sink), adminDashboard: { sampleIntervalMs: 200, refreshMs: 300 } })
  return { gw, dependent, healthy, logs }
}

async function writeUser (gw: TestGateway, id: string): Promise<void> {
  const res = await request(`${gw.url}/api/users/${id}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: `user ${id}` }) })
  await res.body.dump()
  if (res.statusCode !== 200) throw new Error(`write of user ${id} answered ${res.statusCode}`)
}

async function deadCount (gw: TestGateway): Promise<number> {
  return (await gw.app.outbox.stats()).find(s => s.dependent === 'orders')?.dead ?? -1
}

async function logIn (page: Page, gw: TestGateway, token = TOKEN): Promise<void> {
  await page.goto(`${gw.url}/admin`)
  await page.fill('#token', token)
  await page.click('button[type=submit]')
}

t.test('dashboard', { timeout: 120_000 }, async t => {
  const browser = await launchBrowser(t)

  t.test('a dead letter with its last response; replay delivers it and the list empties', async t => {
    const { gw, dependent, healthy, logs } = await setup(t)
    await writeUser(gw, '7')
    await until('the copy dead-lettered', async () => await deadCount(gw) === 1)

    const context = await newContext(t, browser)
    const page = await context.newPage()
    await logIn(page, gw)
    await page.waitForSelector('#panel')
    t.equal(page.url(), `${gw.url}/admin`, 'after login, the plain page: no token in the URL')

    const [cookie] = await context.cookies()
    t.match(cookie, { name: 'junction_admin', path: '/admin', httpOnly: true, sameSite: 'Strict', secure: false })
    t.notOk(cookie?.value.includes(TOKEN), 'the cookie is not the token')

    const services = await page.textContent('#services')
    t.match(services, /users/)
    t.match(services, /orders/)
    t.match(services, /in rotation/)
    t.match(await page.textContent('#routes'), /PUT \/api\/users\/:id/)

    const rows = page.locator('article[data-dependent="orders"] tr.dead-letter')
    t.equal(await rows.count(), 1, 'one dead letter listed')
    const row = await rows.first().textContent()
    t.match(row, /PUT \/customers\/7/)
    t.match(row, /HTTP 400/)
    t.match(row, /customer record lacks field tier/, 'the dependent\'s last answer')
    t.match(row, '"hint":"<b>tier</b> is required"', 'shown as text')
    t.equal(await page.locator('#panel b').count(), 0, 'not as markup')
    t.match(await page.textContent('article[data-dependent="orders"] dd.dead'), '1')

    // The panel refreshes itself: the lag chart appears once the sampler has two samples.
    // 'attached', not 'visible': with nothing pending the line is flat at zero, a box of no height.
    await page.waitForSelector('article[data-dependent="orders"] svg polyline.oldest', { state: 'attached' })
    t.ok((await page.getAttribute('article[data-dependent="orders"] svg polyline.oldest', 'points'))?.includes(' '), 'the chart has two points or more')

    const seenBefore = dependent.seen.length
    healthy.value = true
    await page.click('article[data-dependent="orders"] button[data-action="replay"]')
    await until('the replayed copy reached the dependent', () => dependent.held.get('7') === 1)
    t.ok(dependent.seen.length > seenBefore, 'the dependent server received the replayed copy')
    await page.waitForSelector('article[data-dependent="orders"] .no-dead')
    t.equal(await rows.count(), 0, 'the list is empty')
    t.match(await page.textContent('#status'), 'Replayed 1 dead letter of orders.')
    t.equal(await deadCount(gw), 0)

    t.notOk(logs.some(line => line.includes(TOKEN)), 'the token is in no log line')
    t.ok(logs.some(line => line.includes('"path":"/admin/login"')), 'the login request was logged (without its body)')
  })

  t.test('discard drops the dead letter without delivering it', async t => {
    const { gw, dependent, healthy } = await setup(t)
    await writeUser(gw, '8')
    await writeUser(gw, '9')
    await until('both copies dead-lettered', async () => await deadCount(gw) === 2)
    healthy.value = true

    const context = await newContext(t, browser)
    const page = await context.newPage()
    const dialogs: string[] = []
    page.on('dialog', dialog => {
      dialogs.push(dialog.message())
      dialog.accept().catch(() => {})
    })
    await logIn(page, gw)
    const rows = page.locator('article[data-dependent="orders"] tr.dead-letter')
    await page.waitForSelector('article[data-dependent="orders"] tr.dead-letter')
    t.equal(await rows.count(), 2)

    const seenBefore = dependent.seen.length
    await page.click('article[data-dependent="orders"] tr.dead-letter:has-text("/customers/8") button[data-action="discard"]')
    await until('one dead letter left', async () => await deadCount(gw) === 1)
    t.match(dialogs, [/^Discard this dead letter of orders\?/], 'asked before discarding')
    await until('the page lists one dead letter', async () => await rows.count() === 1)
    t.match(await rows.first().textContent(), /\/customers\/9/, 'the other letter stays')
    t.match(await page.textContent('#status'), 'Discarded 1 dead letter of orders.')

    // The remaining one through "Discard all".
    await page.click('article[data-dependent="orders"] button[data-action="discard-all"]')
    await page.waitForSelector('article[data-dependent="orders"] .no-dead')
    t.equal(await deadCount(gw), 0)
    const stats = (await gw.app.outbox.stats()).find(s => s.dependent === 'orders')
    t.match(stats, { dependent: 'orders', pending: 0, retrying: 0, inFlight: 0, dead: 0 })
    t.equal(dependent.seen.length, seenBefore, 'nothing was delivered')
    t.notOk(dependent.held.has('8') || dependent.held.has('9'))
  })

  t.test('auth: a wrong token, no cookie or a forged one shows no data; changes need the CSRF token', async t => {
    const { gw, logs } = await setup(t)
    await writeUser(gw, '5')
    await until('the copy dead-lettered', async () => await deadCount(gw) === 1)

    const context = await newContext(t, browser)
    const page = await context.newPage()

    // Before logging in: the login form, and nothing else.
    await page.goto(`${gw.url}/admin`)
    t.equal(await page.locator('#panel').count(), 0)
    t.notMatch(await page.content(), /orders|customers|HTTP 400/, 'the login page shows no data')

    // A wrong token: refused, no cookie.
    await logIn(page, gw, `${TOKEN}-wrong`)
    await page.waitForSelector('.error')
    t.match(await page.textContent('.error'), 'That is not the admin token.')
    t.equal(await page.locator('#panel').count(), 0)
    t.same(await context.cookies(), [], 'no session cookie')
    t.equal(page.url(), `${gw.url}/admin/login`, 'the token was posted, not put in the URL')

    // No cookie: the page's data endpoints refuse the browser.
    const fetchStatus = async (path: string, method = 'GET', headers: Record<string, string> = {}): Promise<{ status: number, text: string }> =>
      await page.evaluate(async ([path, method, headers]) => {
        const res = await fetch(path as string, { method: method as string, headers: headers as Record<string, string>, credentials: 'same-origin' })
        return { status: res.status, text: await res.text() }
      }, [path, method, headers] as const)
    for (const path of ['/admin/panel', '/admin/dashboard', '/admin/outbox', '/admin/outbox/orders/dead']) {
      const res = await fetchStatus(path)
      t.equal(res.status, 401, `${path} without a session`)
      t.notMatch(res.text, /customers/)
    }

    // A forged or expired cookie is no session.
    const url = new URL(gw.url)
    for (const value of ['9999999999999.bm9uY2U.forged', `${Date.now() - 1000}.x.y`, 'junk']) {
      await context.addCookies([{ name: 'junction_admin', value, domain: url.hostname, path: '/admin' }])
      await page.goto(`${gw.url}/admin`)
      t.equal(await page.locator('#panel').count(), 0, `cookie ${value} shows the login form`)
      t.equal((await fetchStatus('/admin/panel')).status, 401)
    }
    await context.clearCookies()

    // Logged in: the page reads, but a change without the page's CSRF token is refused.
    await logIn(page, gw)
    await page.waitForSelector('#panel')
    t.equal((await fetchStatus('/admin/panel')).status, 200)
    const noCsrf = await fetchStatus('/admin/outbox/orders/replay', 'POST')
    t.equal(noCsrf.status, 403)
    t.match(JSON.parse(noCsrf.text), { code: 'JUNCTION_ADMIN_CSRF' })
    t.equal((await fetchStatus('/admin/outbox/orders/dead', 'DELETE', { 'x-csrf-token': 'guess' })).status, 403)
    t.equal(await deadCount(gw), 1, 'nothing changed')
    const csrf = await page.getAttribute('meta[name="csrf-token"]', 'content')
    t.equal((await fetchStatus('/admin/outbox/orders/dead', 'DELETE', { 'x-csrf-token': csrf ?? '' })).status, 200, 'with it, the change goes through')
    t.equal(await deadCount(gw), 0)

    // A bearer header is judged alone: a wrong one is refused even with a valid session.
    t.equal((await fetchStatus('/admin/outbox', 'GET', { authorization: 'Bearer nope' })).status, 401)

    // Logging out drops the cookie.
    await page.click('header button[type=submit]')
    await page.waitForSelector('#token')
    t.same(await context.cookies(), [])
    t.equal((await fetchStatus('/admin/panel')).status, 401)

    t.notOk(logs.some(line => line.includes(TOKEN)), 'the token is in no log line')
  })
})
