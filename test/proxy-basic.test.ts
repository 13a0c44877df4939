import t, { type Test } from 'tap'
import { request } from 'undici'
import { readBody, startOrigin } from './support/origin.js'
import { startGateway } from './support/gateway.js'

async function setup (tt: Test): Promise<string> {
  const origin = await startOrigin(tt, (req, res) => {
    readBody(req).then(body => {
      res.setHeader('content-type', 'application/json')
      res.setHeader('x-origin', 'users')
      res.statusCode = req.url?.startsWith('/users/missing') === true ? 404 : 200
      res.end(JSON.stringify({ method: req.method, url: req.url, body: body.toString() }))
    }, () => res.destroy())
  })
  const gw = await startGateway(tt, `
services:
  users: { urls: [${origin.url}] }
routes:
  - { proxy: /api/users, service: users, rewrite: /users }
  - { proxy: /api/readonly, service: users, methods: [GET] }
`)
  return gw.url
}

t.test('rewrites the prefix and keeps the rest of the path and the query string byte for byte', async t => {
  const url = await setup(t)
  for (const [path, expected] of [
    ['/api/users', '/users'],
    ['/api/users/', '/users/'],
    ['/api/users/7?expand=orders&x=%20a+b', '/users/7?expand=orders&x=%20a+b'],
    ['/api/users?limit=2', '/users?limit=2'],
    ['/api/users/a%2Fb/c', '/users/a%2Fb/c']
  ] as const) {
    const res = await request(url + path)
    t.equal(res.statusCode, 200, path)
    t.equal(((await res.body.json()) as { url: string }).url, expected, path)
  }
})

t.test('passes every method, status code, body and response header through', async t => {
  const url = await setup(t)
  for (const method of ['POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const) {
    const res = await request(`${url}/api/users/1`, { method, body: `payload-${method}`, headers: { 'content-type': 'text/plain' } })
    t.equal(res.statusCode, 200, method)
    t.equal(res.headers['x-origin'], 'users')
    t.same(await res.body.json(), { method, url: '/users/1', body: `payload-${method}` }, method)
  }
  const head = await request(`${url}/api/users/1`, { method: 'HEAD' })
  t.equal(head.statusCode, 200)
  t.equal(head.headers['x-origin'], 'users')
  t.equal((await head.body.text()), '')

  const missing = await request(`${url}/api/users/missing`)
  t.equal(missing.statusCode, 404, 'an upstream 404 is passed through as is')
  t.equal(missing.headers['content-type'], 'application/json')
  await missing.body.dump()

  const json = await request(`${url}/api/users/1`, { method: 'POST', body: '{"not":"parsed', headers: { 'content-type': 'application/json' } })
  t.same(await json.body.json(), { method: 'POST', url: '/users/1', body: '{"not":"parsed' }, 'bodies are not parsed, even invalid JSON passes')

  const bare = await request(`${url}/api/users/1`, { method: 'PUT', body: 'no content type' })
  t.same(await bare.body.json(), { method: 'PUT', url: '/users/1', body: 'no content type' }, 'a body without content-type passes')
})

t.test('paths outside every route are a 404 problem', async t => {
  const url = await setup(t)
  for (const path of ['/nope', '/api/usersX', '/api']) {
    const res = await request(url + path)
    t.equal(res.statusCode, 404, path)
    t.match(res.headers['content-type'], /^application\/problem\+json/)
    const body = await res.body.json() as Record<string, unknown>
    t.match(body, { status: 404, code: 'JUNCTION_NOT_FOUND', title: 'Not Found', detail: `No route matches GET ${path}.` })
    t.type(body.requestId, 'string')
  }
})

t.test('a method the route does not allow is a 405 problem with Allow', async t => {
  const url = await setup(t)
  const res = await request(`${url}/api/readonly/1`, { method: 'DELETE' })
  t.equal(res.statusCode, 405)
  t.equal(res.headers.allow, 'GET')
  t.match(await res.body.json(), { code: 'JUNCTION_METHOD_NOT_ALLOWED', detail: 'DELETE is not allowed on /api/readonly.' })
  const ok = await request(`${url}/api/readonly/1`)
  t.equal(ok.statusCode, 200)
  await ok.body.dump()
})

t.test('a route on "/" forwards everything, and the gateway\'s endpoints still answer', async t => {
  const origin = await startOrigin(t, (req, res) => res.end(req.url))
  const gw = await startGateway(t, `
services:
  all: { urls: [${origin.url}] }
routes:
  - { proxy: /, service: all }
`)
  for (const path of ['/', '/users/1?x=2', '/healthcheck']) {
    const res = await request(gw.url + path)
    t.equal(await res.body.text(), path, path)
  }
  const health = await request(`${gw.url}/health`)
  t.same(await health.body.json(), { status: 'ok' })
})
