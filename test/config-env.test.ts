/**
 * `${VAR}` / `${VAR:-default}` substitution over the parsed document, and the JUNCTION_*
 * overrides. `env` is always passed in: process.env is never touched.
 */
/* eslint-disable no-template-curly-in-string -- this file is about the ${VAR} syntax in plain strings */
import t from 'tap'
import { substituteEnv, applyEnvOverrides, resolveEnv } from '../src/config/env.js'
import { parseConfig } from '../src/config/load.js'
import { refusal } from './support/config-problems.js'

const BASE = 'services:\n  users: { urls: [http://127.0.0.1:3001] }\nroutes:\n  - { proxy: /api/users, service: users }\n'

const problems = (yaml: string, env: NodeJS.ProcessEnv): string[] => refusal(yaml, { env })

t.test('substitutes every string of the document, at any depth, and leaves the input alone', async t => {
  const input = { a: 'x-${A}-y', list: ['${B}', 3, true, null], nested: { c: '${C:-fallback}', d: '${D:-fallback}' } }
  const { document, issues } = substituteEnv(input, { A: 'alpha', B: 'beta', D: 'delta' })
  t.same(issues, [])
  t.same(document, { a: 'x-alpha-y', list: ['beta', 3, true, null], nested: { c: 'fallback', d: 'delta' } })
  t.equal(input.a, 'x-${A}-y', 'input not mutated')
})

t.test('set-but-empty is a value; :- also replaces empty; $${ is a literal', async t => {
  const { document, issues } = substituteEnv({ a: '${E}', b: '${E:-d}', c: '$${NOT_A_VAR}', d: 'cost: $5 ${X:-a:b}' }, { E: '' })
  t.same(issues, [])
  t.same(document, { a: '', b: 'd', c: '${NOT_A_VAR}', d: 'cost: $5 a:b' })
})

t.test('values keep quotes and colons: substitution is not textual', async t => {
  const config = parseConfig('admin: { token: "${TOKEN}" }\n' + BASE, { env: { TOKEN: 'a"b: c\n- d' } })
  t.equal(config.admin.token, 'a"b: c\n- d')
})

t.test('every missing variable is reported at once, at the path where it is used', async t => {
  t.same(problems(`
admin: { token: "\${ADMIN_SECRET}" }
services:
  users: { urls: ["\${USERS_URL}", "http://\${ORDERS_HOST}:3002"] }
routes:
  - { proxy: /api/users, service: users }
`, {}), [
    'admin.token: environment variable ADMIN_SECRET is not set; set it, or give a default with ${ADMIN_SECRET:-default}',
    'services.users.urls[0]: environment variable USERS_URL is not set; set it, or give a default with ${USERS_URL:-default}',
    'services.users.urls[1]: environment variable ORDERS_HOST is not set; set it, or give a default with ${ORDERS_HOST:-default}'
  ], 'and no follow-up "not a URL" noise for the unsubstituted values')
})

t.test('malformed references', async t => {
  const { issues } = substituteEnv({ a: '${1X}', b: '${OPEN', c: '${}' }, {})
  t.same(issues.map(i => `${i.path}: ${i.message}`), [
    'a: invalid reference "${1X}"; write ${NAME} or ${NAME:-default}, NAME being letters, digits and "_"',
    'b: unclosed "${" in "${OPEN"; write ${NAME}, or $${ for a literal "${"',
    'c: invalid reference "${}"; write ${NAME} or ${NAME:-default}, NAME being letters, digits and "_"'
  ])
})

t.test('a number from a variable becomes the integer the schema wants', async t => {
  const config = parseConfig('server:\n  port: ${PORT}\n' + BASE, { env: { PORT: '9090' } })
  t.equal(config.server.port, 9090)
})

t.test('overrides: JUNCTION_PORT, JUNCTION_HOST', async t => {
  const config = parseConfig('server: { port: 80, host: 10.0.0.1 }\n' + BASE, { env: { JUNCTION_PORT: '0', JUNCTION_HOST: '127.0.0.1' } })
  t.equal(config.server.port, 0)
  t.equal(config.server.host, '127.0.0.1')
  t.same(problems(BASE, { JUNCTION_PORT: 'http' }), [
    'server.port: JUNCTION_PORT must be a port number from 0 to 65535 (found "http")'
  ])
  t.same(problems(BASE, { JUNCTION_PORT: '65536' }), [
    'server.port: JUNCTION_PORT must be a port number from 0 to 65535 (found "65536")'
  ])
})

t.test('overrides: empty variables are ignored', async t => {
  const config = parseConfig('server: { port: 81 }\n' + BASE, { env: { JUNCTION_PORT: '', JUNCTION_HOST: '', JUNCTION_STORE_URL: '', ADMIN_TOKEN: '' } })
  t.equal(config.server.port, 81)
  t.equal(config.server.host, '0.0.0.0')
  t.equal(config.store.kind, 'embedded')
  t.equal(config.admin.token, undefined)
})

t.test('overrides: JUNCTION_STORE_URL switches to redis, keeping a redis prefix', async t => {
  let config = parseConfig('store: { kind: embedded, dir: /tmp/x }\n' + BASE, { env: { JUNCTION_STORE_URL: 'redis://r:6379' } })
  t.same(config.store, { kind: 'redis', url: 'redis://r:6379', prefix: 'junction:' })
  config = parseConfig('store: { kind: redis, url: "redis://old", prefix: "app:" }\n' + BASE, { env: { JUNCTION_STORE_URL: 'redis://new' } })
  t.same(config.store, { kind: 'redis', url: 'redis://new', prefix: 'app:' })
  config = parseConfig('store: { kind: redis, url: "${REDIS_URL}" }\n' + BASE, { env: { JUNCTION_STORE_URL: 'redis://new' } })
  t.same(config.store, { kind: 'redis', url: 'redis://new', prefix: 'junction:' }, 'a missing variable under an overridden path is not an error')
  config = parseConfig('store: { kind: redis, url: "redis://old", timeout: 300ms, cluster: true }\n' + BASE, { env: { JUNCTION_STORE_URL: 'redis://new' } })
  t.same(config.store, { kind: 'redis', url: 'redis://new', prefix: 'junction:', cluster: true, timeoutMs: 300 }, 'timeout and cluster are kept too')
})

t.test('overrides: ADMIN_TOKEN, and JUNCTION_ADMIN_TOKEN wins', async t => {
  t.equal(parseConfig(BASE, { env: { ADMIN_TOKEN: 'a' } }).admin.token, 'a')
  t.equal(parseConfig(BASE, { env: { ADMIN_TOKEN: 'a', JUNCTION_ADMIN_TOKEN: 'j' } }).admin.token, 'j')
  t.equal(parseConfig('admin: { token: "${ADMIN_TOKEN}" }\n' + BASE, { env: { JUNCTION_ADMIN_TOKEN: 'j' } }).admin.token, 'j',
    'the file\'s ${ADMIN_TOKEN} may be unset when JUNCTION_ADMIN_TOKEN replaces it')
  t.equal(parseConfig('admin: { token: "${ADMIN_TOKEN:-}" }\n' + BASE, { env: {} }).admin.token, undefined, 'empty token: admin disabled')
})

t.test('applyEnvOverrides returns a new document and leaves non-objects alone', async t => {
  const input = { server: { port: 1 } }
  const { document } = applyEnvOverrides(input, { JUNCTION_PORT: '2' })
  t.same(document, { server: { port: 2 } })
  t.same(input, { server: { port: 1 } })
  t.same(applyEnvOverrides('text', { JUNCTION_PORT: '2' }), { document: 'text', issues: [] })
})

t.test('resolveEnv defaults to process.env without changing it', async t => {
  const before = { ...process.env }
  resolveEnv({ a: '${PATH:-x}' })
  t.same(process.env, before)
})
