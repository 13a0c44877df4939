import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { request } from 'undici'
import { freePort } from './support/origin.js'
import { tempDir } from './support/gateway.js'
import { runCli } from './support/cli.js'

t.test('check prints the route table of a valid config and exits 0', async t => {
  const dir = await tempDir(t)
  const file = join(dir, 'ok.yaml')
  await writeFile(file, `
services:
  users: { urls: [http://127.0.0.1:3001, http://127.0.0.1:3011] }
routes:
  - { proxy: /api/users, service: users, rewrite: /users }
`)
  const res = await runCli(['check', file])
  t.equal(res.code, 0, res.stderr)
  t.match(res.stdout, 'is valid')
  t.match(res.stdout, '/api/users')
  t.match(res.stdout, '/users')
  t.match(res.stdout, 'http://127.0.0.1:3011')
})

t.test('check reports every error with its path and exits 1', async t => {
  const dir = await tempDir(t)
  const file = join(dir, 'bad.yaml')
  await writeFile(file, `
services:
  users: { urls: [http://127.0.0.1:3001], timeout: soon }
routes:
  - { proxy: /api/users, service: usr }
  - { proxy: /api/orders, service: orders }
`)
  const res = await runCli(['check', file])
  t.equal(res.code, 1)
  t.equal(res.stdout, '')
  t.match(res.stderr, 'routes[0].service: unknown service "usr" (did you mean "users"?)')
  t.match(res.stderr, 'routes[1].service: unknown service "orders"')
  t.match(res.stderr, 'services.users.timeout')
})

t.test('start with a bad config exits 1 before listening', async t => {
  const dir = await tempDir(t)
  const port = await freePort()
  const file = join(dir, 'bad.yaml')
  await writeFile(file, `
store: { kind: embedded, dir: ${JSON.stringify(join(dir, 'data'))} }
services:
  users: { urls: ["\${USERS_URL}"] }
routes:
  - { proxy: /api/users, service: users, sevice: users }
`)
  const res = await runCli(['start', '--config', file], { env: { JUNCTION_PORT: String(port) } })
  t.equal(res.code, 1)
  t.match(res.stderr, 'USERS_URL')
  t.match(res.stderr, 'routes[0].sevice')
  await t.rejects(request(`http://127.0.0.1:${port}/health`), 'nothing was started')
})

t.test('a missing file and a missing command are clear', async t => {
  const missing = await runCli(['check', '/nonexistent/junction.yaml'])
  t.equal(missing.code, 1)
  t.match(missing.stderr, '/nonexistent/junction.yaml')
  const unknown = await runCli(['serve'])
  t.equal(unknown.code, 1)
  t.match(unknown.stderr, 'unknown command "serve"')
  const noFile = await runCli(['start'])
  t.equal(noFile.code, 1)
  t.match(noFile.stderr, '--config FILE')
})
