/**
 * The admin API is the gateway's own, never a service's: without ADMIN_TOKEN it does not
 * exist, even under a catch-all proxy route (`proxy: /`), which must not hand /admin/... to
 * its service; with a token, unknown admin paths are 404 there too; and no configured route
 * may claim /admin (junction check refuses it).
 */
import t, { type Test } from 'tap'
import { request } from 'undici'
import { startOrigin } from './support/origin.js'
import { startGateway } from './support/gateway.js'
import { problemsOf } from './support/config-problems.js'

const TOKEN = 'admin-token-for-exposure-test'

async function setup (t: Test, env: NodeJS.ProcessEnv = {}): Promise<{ url: string, served: string[] }> {
  const served: string[] = []
  const origin = await startOrigin(t, (req, res) => {
    served.push(req.url ?? '')
    res.end('from the service')
  })
  const gw = await startGateway(t, `
services:
  site: { urls: [${origin.url}] }
routes:
  - { proxy: /, service: site }
`, { env })
  return { url: gw.url, served }
}

async function get (url: string, headers: Record<string, string> = {}, method = 'GET'): Promise<{ status: number, body: any }> {
  const res = await request(url, { method: method as 'GET', headers })
  const text = await res.body.text()
  return { status: res.statusCode, body: text.startsWith('{') ? JSON.parse(text) : text }
}

t.test('without a token: /admin is 404 from the gateway, even under proxy: /', async t => {
  const { url, served } = await setup(t)
  for (const path of ['/admin', '/admin/', '/admin/outbox', '/admin/cache/purge', '/admin/x/y?z=1']) {
    for (const method of ['GET', 'POST', 'DELETE']) {
      const res = await get(`${url}${path}`, { authorization: `Bearer ${TOKEN}` }, method)
      t.equal(res.status, 404, `${method} ${path}`)
      t.match(res.body, { code: 'JUNCTION_NOT_FOUND' })
    }
  }
  t.same(served, [], 'no admin path reached the service')
  t.equal((await get(`${url}/administrator`)).status, 200, 'a longer name is the service\'s')
  t.equal((await get(`${url}/anything`)).status, 200)
})

t.test('with a token: admin answers, unknown admin paths are 404, nothing is proxied', async t => {
  const { url, served } = await setup(t, { JUNCTION_ADMIN_TOKEN: TOKEN })
  t.equal((await get(`${url}/admin/outbox`)).status, 401)
  t.equal((await get(`${url}/admin/outbox`, { authorization: `Bearer ${TOKEN}` })).status, 200)
  t.equal((await get(`${url}/admin/unknown`)).status, 401, 'guarded before anything is revealed')
  const unknown = await get(`${url}/admin/unknown`, { authorization: `Bearer ${TOKEN}` })
  t.equal(unknown.status, 404)
  t.match(unknown.body, { code: 'JUNCTION_NOT_FOUND' })
  const page = await get(`${url}/admin`)
  t.equal(page.status, 200, 'GET /admin is the dashboard\'s login page')
  t.match(page.body, /<form method="post" action="\/admin\/login">/)
  t.equal((await get(`${url}/admin`, { authorization: `Bearer ${TOKEN}` }, 'POST')).status, 404, 'other methods on /admin are 404')
  t.same(served, [])
})

t.test('no route kind may sit on /admin', async t => {
  const services = 'services:\n  s: { urls: [http://127.0.0.1:3001] }\n'
  const problems = (routes: string): string[] => problemsOf(`${services}routes:\n${routes}`)
  t.match(problems('  - { proxy: /admin, service: s }\n'), [/^routes\[0\]\.proxy: "\/admin" is reserved/])
  t.match(problems('  - { proxy: /admin/x, service: s }\n'), [/^routes\[0\]\.proxy: "\/admin" is reserved/])
  t.match(problems('  - get: /admin/:id\n    compose: { a: { service: s, path: /a } }\n'), [/^routes\[0\]\.get: "\/admin" is reserved/])
  t.match(problems('  - put: /admin/:id\n    write: { owner: { service: s, path: "/x/{params.id}", version: { etag: true } } }\n'), [/^routes\[0\]\.put: "\/admin" is reserved/])
})
