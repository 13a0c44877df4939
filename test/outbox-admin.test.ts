/**
 * The admin API of the outbox through a real gateway: bearer-token auth (absent token →
 * no admin API at all; wrong token → 401 problem+json) and every route.
 */
import t from 'tap'
import { request } from 'undici'
import { startGateway } from './support/gateway.js'
import { delivery, startDependent, until } from './support/outbox-harness.js'
import type { DeliveryEvent } from '../src/outbox/types.js'

const TOKEN = 's3cret-admin-token'

const yaml = (url: string): string => `
services:
  orders: { urls: [${url}] }
routes:
  - { proxy: /api/orders, service: orders }
`

t.test('without an admin token the admin API does not exist', async t => {
  const dependent = await startDependent(t)
  const gw = await startGateway(t, yaml(dependent.url))
  const res = await request(`${gw.url}/admin/outbox`, { headers: { authorization: `Bearer ${TOKEN}` } })
  t.equal(res.statusCode, 404)
  t.match(await res.body.json(), { code: 'JUNCTION_NOT_FOUND' })
})

t.test('token checks and every admin route', { timeout: 30_000 }, async t => {
  const dependent = await startDependent(t, r => r.id === 'bad' || r.id === 'worse' ? { status: 422, body: '{"detail":"no such customer field"}' } : undefined)
  const gw = await startGateway(t, yaml(dependent.url), { env: { JUNCTION_ADMIN_TOKEN: TOKEN } })
  const call = async (method: 'GET' | 'POST' | 'DELETE', path: string, token: string | null = TOKEN): Promise<{ status: number, type: string | undefined, body: any, headers: Record<string, unknown> }> => {
    const res = await request(`${gw.url}${path}`, { method, headers: token === null ? {} : { authorization: `Bearer ${token}` } })
    const text = await res.body.text()
    return { status: res.statusCode, type: res.headers['content-type'] as string | undefined, body: text === '' ? undefined : JSON.parse(text), headers: res.headers }
  }

  for (const token of [null, 'wrong', `${TOKEN}x`, TOKEN.slice(0, -1), '']) {
    const res = await call('GET', '/admin/outbox', token)
    t.equal(res.status, 401, `token ${JSON.stringify(token)} is refused`)
    t.match(res.type, /^application\/problem\+json/)
    t.match(res.body, { code: 'JUNCTION_UNAUTHORIZED', status: 401 })
    t.equal(res.headers['www-authenticate'], 'Bearer realm="junction-admin"')
  }
  const basic = await request(`${gw.url}/admin/outbox`, { headers: { authorization: `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}` } })
  t.equal(basic.statusCode, 401, 'only the Bearer scheme')
  await basic.body.dump()
  t.equal((await call('DELETE', '/admin/outbox/orders/dead', 'wrong')).status, 401, 'every admin route is guarded')

  const empty = await call('GET', '/admin/outbox')
  t.equal(empty.status, 200)
  t.same(empty.body, { dependents: [{ dependent: 'orders', pending: 0, inFlight: 0, retrying: 0, dead: 0, oldestAgeMs: 0 }] })

  const events: DeliveryEvent[] = []
  gw.app.outbox.onOutcome(e => events.push(e))
  await gw.app.outbox.enqueue([delivery('bad', 2), delivery('worse', 4), delivery('good', 1)])
  await until('three outcomes', () => events.length === 3)

  const stats = await call('GET', '/admin/outbox')
  t.match(stats.body.dependents[0], { dependent: 'orders', dead: 2, pending: 0, lagMs: Number })

  const dead = await call('GET', '/admin/outbox/orders/dead')
  t.equal(dead.status, 200)
  t.equal(dead.body.dependent, 'orders')
  t.equal(dead.body.deadLetters.length, 2)
  t.match(dead.body.deadLetters[0], {
    id: String,
    attempts: 1,
    reason: 'HTTP 422: not retryable',
    lastResponse: { status: 422, body: '{"detail":"no such customer field"}' },
    request: { dependent: 'orders', method: 'PUT' }
  })
  const page = await call('GET', '/admin/outbox/orders/dead?limit=1')
  t.equal(page.body.deadLetters.length, 1)
  t.equal(page.body.next, page.body.deadLetters[0].id)
  const rest = await call('GET', `/admin/outbox/orders/dead?limit=1&after=${encodeURIComponent(page.body.next)}`)
  t.equal(rest.body.deadLetters[0].id, dead.body.deadLetters[1].id)
  t.equal((await call('GET', '/admin/outbox/orders/dead?limit=0')).status, 400, 'limit is validated')

  t.match(await call('GET', '/admin/outbox/nope/dead'), { status: 404, type: /^application\/problem\+json/, body: { code: 'JUNCTION_UNKNOWN_DEPENDENT' } })
  t.match(await call('POST', '/admin/outbox/nope/replay'), { status: 404, body: { code: 'JUNCTION_UNKNOWN_DEPENDENT' } })
  t.match(await call('DELETE', '/admin/outbox/nope/dead'), { status: 404, body: { code: 'JUNCTION_UNKNOWN_DEPENDENT' } })
  t.match(await call('POST', '/admin/outbox/orders/dead/1-0/replay'), { status: 404, body: { code: 'JUNCTION_DEAD_LETTER_NOT_FOUND' } })
  t.match(await call('DELETE', '/admin/outbox/orders/dead/1-0'), { status: 404, body: { code: 'JUNCTION_DEAD_LETTER_NOT_FOUND' } })

  // Fix the dependent for one entity, replay that letter alone.
  const [first, second] = dead.body.deadLetters as Array<{ id: string, request: { path: string } }>
  const firstId = first!.request.path.split('/').pop()
  dependent.behaviour = r => r.id === firstId ? undefined : { status: 422 }
  t.same((await call('POST', `/admin/outbox/orders/dead/${encodeURIComponent(first!.id)}/replay`)).body, { dependent: 'orders', replayed: 1 })
  await until('replayed letter delivered', () => dependent.held.has(firstId!))

  // Discard one, then replay all (none left), then discard all.
  t.same((await call('DELETE', `/admin/outbox/orders/dead/${encodeURIComponent(second!.id)}`)).body, { dependent: 'orders', discarded: 1 })
  t.same((await call('POST', '/admin/outbox/orders/replay')).body, { dependent: 'orders', replayed: 0 })
  dependent.behaviour = () => ({ status: 400 })
  await gw.app.outbox.enqueue([delivery('x1', 1), delivery('x2', 1)])
  await until('two more dead', async () => (await gw.app.outbox.stats())[0]!.dead === 2)
  dependent.behaviour = () => undefined
  t.same((await call('POST', '/admin/outbox/orders/replay')).body, { dependent: 'orders', replayed: 2 })
  await until('replayed all delivered', () => dependent.held.has('x1') && dependent.held.has('x2'))
  dependent.behaviour = () => ({ status: 400 })
  await gw.app.outbox.enqueue([delivery('y1', 1), delivery('y2', 1), delivery('y3', 1)])
  await until('three dead', async () => (await gw.app.outbox.stats())[0]!.dead === 3)
  t.same((await call('DELETE', '/admin/outbox/orders/dead')).body, { dependent: 'orders', discarded: 3 })
  t.match((await call('GET', '/admin/outbox')).body.dependents[0], { dead: 0, pending: 0, retrying: 0, inFlight: 0 })
})
