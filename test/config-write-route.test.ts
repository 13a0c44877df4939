/**
 * Write routes in the config: what a valid one normalises to, and every error message a
 * user can meet writing one (schema and cross-checks), as `path: message` lines.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { parseConfig, loadConfig } from '../src/config/load.js'
import { formatRouteTable } from '../src/config/route-table.js'
import { tempDir } from './support/gateway.js'
import { refusal } from './support/config-problems.js'

const SERVICES = `services:
  users: { urls: [http://127.0.0.1:3001] }
  orders: { urls: [http://127.0.0.1:3002] }
  catalog: { urls: [http://127.0.0.1:3003] }
routes:
  - { proxy: /api/users, service: users, rewrite: /users }
`
const OWNER = 'owner: { service: users, path: "/users/{params.id}", version: { etag: true } }'

const problems = (yaml: string, source?: string): string[] => refusal(SERVICES + yaml, source === undefined ? {} : { source })

t.test('the issue\'s example normalises to a WriteRouteConfig and shows in the route table', async t => {
  const config = parseConfig(SERVICES + `
  - put: /api/users/:id/
    write:
      owner: { service: users, path: "/users/{params.id}", version: { etag: true } }
      requireIfMatch: true
      propagate:
        - { service: orders, path: "/customers/{params.id}", pick: [id, name, email] }
        - { service: catalog, path: "/owners/{params.id}" }
      invalidate: ["user:{params.id}"]
    validate: { body: { type: object, required: [name] } }
  - post: /api/users
    write:
      owner: { service: users, path: /users, version: { field: version } }
      propagate: [{ service: orders, path: "/customers/{id}" }]
    bodyLimit: 10kb
`, { env: {} })
  t.same(config.routes[1], {
    kind: 'write',
    index: 1,
    method: 'PUT',
    path: '/api/users/:id',
    owner: { service: 'users', path: '/users/{params.id}', version: { kind: 'etag' } },
    requireIfMatch: true,
    propagate: [
      { service: 'orders', path: '/customers/{params.id}', pick: ['id', 'name', 'email'] },
      { service: 'catalog', path: '/owners/{params.id}', pick: undefined }
    ],
    invalidate: ['user:{params.id}'],
    bodySchema: { type: 'object', required: ['name'] },
    bodyLimit: 1024 * 1024
  })
  t.match(config.routes[2], { method: 'POST', owner: { version: { kind: 'field', field: 'version' } }, requireIfMatch: false, invalidate: [], bodySchema: undefined, bodyLimit: 10 * 1024 })
  t.equal(formatRouteTable(config), [
    'METHODS  GATEWAY PATH    →  SERVICE  UPSTREAM PATH           UPSTREAM URLS',
    'any      /api/users      →  users    /users                  http://127.0.0.1:3001',
    'PUT      /api/users/:id  →  users    /users/{params.id}      http://127.0.0.1:3001',
    '                         ↳  orders   /customers/{params.id}  http://127.0.0.1:3002',
    '                         ↳  catalog  /owners/{params.id}     http://127.0.0.1:3003',
    'POST     /api/users      →  users    /users                  http://127.0.0.1:3001',
    '                         ↳  orders   /customers/{id}         http://127.0.0.1:3002'
  ].join('\n'))
})

t.test('route kind: exactly one method key', async t => {
  t.same(problems(`  - { put: /a/:id, post: /a, write: { ${OWNER} } }\n`), [
    'routes[1]: a route needs exactly one of "proxy" (forward a path prefix to a service), "put"/"post"/"patch"/"delete" (write to the owning service and propagate to its copies), "get" (compose one response from several services); found "put" and "post"; split it into one route per kind'
  ])
  t.match(problems(`  - { pu: /a/:id, write: { ${OWNER} } }\n`)[0], /found none \(did you mean "put" instead of "pu"\?\)$/)
})

t.test('schema errors inside write', async t => {
  t.same(problems(`  - put: /api/users/:id
    write: { ${OWNER}, requireIfMatch: yes, propagte: [] }
  - patch: /api/users/:id
    write:
      owner: { service: users, version: { etag: true } }
      propagate: [{ service: orders, path: "/customers/{params.id}", pick: [] }, { service: catalog, path: "/o/{params.id}", pick: [a, a] }]
`), [
    'routes[1].write.requireIfMatch: expected a boolean (true or false), found a string ("yes")',
    'routes[1].write.propagte: unknown key (did you mean "propagate"?)',
    'routes[2].write.owner.path: required key is missing. The entity\'s path on the owner, with {params.<name>} placeholders, e.g. /users/{params.id}. For POST: the collection the entity is created in, e.g. /users.',
    'routes[2].write.propagate[0].pick: must not be an empty list',
    'routes[2].write.propagate[1].pick: lists "a" twice ([0] and [1]); list each value once'
  ])
})

t.test('services exist, with did-you-mean; the owner is not a target; one copy per dependent', async t => {
  t.same(problems(`  - put: /api/users/:id
    write:
      owner: { service: usr, path: "/users/{params.id}", version: { etag: true } }
      propagate:
        - { service: ordrs, path: "/customers/{params.id}" }
        - { service: billing, path: "/b/{params.id}" }
  - delete: /api/users/:id
    write:
      ${OWNER}
      propagate:
        - { service: users, path: "/users2/{params.id}" }
        - { service: orders, path: "/customers/{params.id}" }
        - { service: orders, path: "/clients/{params.id}" }
`), [
    'routes[1].write.owner.service: unknown service "usr" (did you mean "users"?)',
    'routes[1].write.propagate[0].service: unknown service "ordrs" (did you mean "orders"?)',
    'routes[1].write.propagate[1].service: unknown service "billing"; define it under "services" or use one of: "users", "orders", "catalog"',
    'routes[2].write.propagate[0].service: "users" is the owner of this entity; propagate only to services keeping a copy',
    'routes[2].write.propagate[2].service: "orders" is already a target (propagate[1]); a service keeps one copy of an entity, so list it once'
  ])
})

t.test('placeholders name params of the route path; {id} only on POST targets', async t => {
  t.same(problems(`  - put: /api/users/:id
    write:
      owner: { service: users, path: "/users/{params.uid}", version: { etag: true } }
      propagate:
        - { service: orders, path: "/customers/{id}" }
        - { service: catalog, path: "/owners/{param.id}" }
      invalidate: ["user:{params.user}", "user:{params.id"]
  - post: /api/users
    write:
      owner: { service: users, path: "/users/{id}", version: { etag: true } }
      propagate: [{ service: orders, path: "/customers/{params.id}" }]
`), [
    'routes[1].write.owner.path: {params.uid} is not a parameter of the route path (did you mean {params.id}?)',
    'routes[1].write.propagate[0].path: {id} (the id a POST created) exists only on post: routes; use {params.<name>} with a parameter of the route path',
    'routes[1].write.propagate[1].path: unknown placeholder "{param.id}" in "/owners/{param.id}"; write {params.<name>} for a path parameter of the route, or {id} for the id a POST created',
    'routes[1].write.invalidate[0]: {params.user} is not a parameter of the route path; its parameters are "{params.id}"',
    'routes[1].write.invalidate[1]: unbalanced "{" or "}" in "user:{params.id"',
    'routes[2].write.owner.path: {id} is the id a POST created, unknown before the owner answers; the owner path names the collection on POST routes and the entity with {params.<name>} otherwise',
    'routes[2].write.propagate[0].path: {params.id} is not a parameter of the route path; the route path has no parameters (on a POST route, {id} is the created id)'
  ])
})

t.test('version source: exactly one of etag and field', async t => {
  t.same(problems(`  - put: /a/:id
    write: { owner: { service: users, path: "/u/{params.id}", version: { etag: true, field: version } } }
  - put: /b/:id
    write: { owner: { service: users, path: "/u/{params.id}", version: {} } }
  - put: /c/:id
    write: { owner: { service: users, path: "/u/{params.id}", version: { etag: false } } }
  - put: /d/:id
    write: { owner: { service: users, path: "/u/{params.id}", version: { tag: 1 } } }
`), [
    'routes[1].write.owner.version: give exactly one version source: { etag: true } or { field: <name> }, not both',
    'routes[2].write.owner.version: say where the owner puts the version: { etag: true } (an integer ETag such as "7") or { field: version } (an integer body field)',
    'routes[3].write.owner.version: with etag: false, say which body field holds the version: { field: version }; or use { etag: true }',
    'routes[4].write.owner.version: say where the owner puts the version: { etag: true } (an integer ETag such as "7") or { field: version } (an integer body field)',
    'routes[4].write.owner.version.tag: unknown key (did you mean "etag"?)'
  ])
})

t.test('route paths: syntax, reserved paths, duplicates of method and path', async t => {
  t.same(problems(`  - { put: api/users/:id, write: { ${OWNER} } }
  - { put: "/api/users/*", write: { owner: { service: users, path: /u, version: { etag: true } } } }
  - { put: /health/:id, write: { ${OWNER} } }
  - { put: "/api/users/user-:id", write: { owner: { service: users, path: /u, version: { etag: true } } } }
  - { put: /api/people/:id/:id, write: { ${OWNER} } }
  - { put: /api/users/:id, write: { ${OWNER} } }
  - { put: /api/users/:uid, write: { owner: { service: users, path: "/users/{params.uid}", version: { etag: true } } } }
  - { patch: /api/users/:id, write: { ${OWNER} } }
`), [
    'routes[1].put: must start with "/" (found "api/users/:id"); write "/api/users/:id"',
    'routes[2].put: must be a path with ":name" parameters only, without "?", "#", "*" or braces (found "/api/users/*"), e.g. "/api/users/:id"',
    'routes[3].put: "/health" is reserved for the gateway\'s own endpoints (/health, /ready, /metrics, /admin); choose another path, e.g. "/api/health/:id"',
    'routes[4].put: a path parameter is a whole segment ":name" (letters, digits and "_"); found "user-:id" in "/api/users/user-:id"',
    'routes[5].put: names the parameter ":id" twice; give each parameter its own name',
    'routes[7].put: PUT "/api/users/:uid" is already a write route (routes[6]); keep one route per method and path'
  ])
})

t.test('validate.body: inline, or a file relative to the config; bad files and bad schemas are config errors', async t => {
  const dir = await tempDir(t)
  await mkdir(join(dir, 'schemas'))
  await writeFile(join(dir, 'schemas', 'user.json'), JSON.stringify({ type: 'object', required: ['name'], properties: { email: { type: 'string', format: 'email' } } }))
  await writeFile(join(dir, 'schemas', 'user.yaml'), 'type: object\nrequired: [email]\n')
  await writeFile(join(dir, 'schemas', 'broken.json'), '{ "type": ')
  await writeFile(join(dir, 'junction.yaml'), SERVICES + `  - { put: /api/users/:id, write: { ${OWNER} }, validate: { body: { $ref: schemas/user.json } } }
  - { patch: /api/users/:id, write: { ${OWNER} }, validate: { body: { $ref: schemas/user.yaml } } }
`)
  const config = await loadConfig(join(dir, 'junction.yaml'), { env: {} })
  t.match(config.routes[1], { bodySchema: { type: 'object', required: ['name'] } })
  t.match(config.routes[2], { bodySchema: { type: 'object', required: ['email'] } })

  t.same(problems(`  - { put: /a/:id, write: { ${OWNER} }, validate: { body: { $ref: schemas/missing.json } } }
  - { put: /b/:id, write: { ${OWNER} }, validate: { body: { $ref: schemas/broken.json } } }
  - { put: /c/:id, write: { ${OWNER} }, validate: { body: { type: objekt } } }
  - { put: /d/:id, write: { ${OWNER} }, validate: { body: "user.json" } }
`, join(dir, 'junction.yaml')).map(line => line.replace(dir, '<dir>')), [
    'routes[1].validate.body: cannot read the schema file "schemas/missing.json" (<dir>/schemas/missing.json): it does not exist; the path is relative to the config file',
    'routes[2].validate.body: the schema file "schemas/broken.json" is not valid JSON: Unexpected end of JSON input',
    'routes[3].validate.body: is not a valid JSON Schema: schema is invalid: data/type must be equal to one of the allowed values, data/type must be array, data/type must match a schema in anyOf',
    'routes[4].validate.body: expected an object, found a string ("user.json")'
  ])
})

t.test('a copy may name its own version header; it must be a header name the delivery does not use', async t => {
  const config = parseConfig(SERVICES + `  - put: /api/users/:id
    write:
      ${OWNER}
      propagate: [{ service: orders, path: "/customers/{params.id}", versionHeader: X-Copy-Version }]
`, { env: {} })
  const route = config.routes[1]
  t.equal(route?.kind === 'write' ? route.propagate[0]?.versionHeader : 'not a write route', 'X-Copy-Version')

  t.same(problems(`  - put: /api/users/:id
    write:
      ${OWNER}
      propagate:
        - { service: orders, path: "/customers/{params.id}", versionHeader: "X Copy Version" }
        - { service: catalog, path: "/owners/{params.id}", versionHeader: Content-Type }
  - delete: /api/users/:id
    write:
      ${OWNER}
      propagate: [{ service: orders, path: "/customers/{params.id}", versionHeader: idempotency-key }]
`), [
    'routes[1].write.propagate[0].versionHeader: "X Copy Version" is not a header name (letters, digits and !#$%&\'*+.^_`|~- only), e.g. X-Copy-Version',
    'routes[1].write.propagate[1].versionHeader: "Content-Type" is a header the delivery or its connection already uses; choose a header of its own, e.g. X-Copy-Version',
    'routes[2].write.propagate[0].versionHeader: "idempotency-key" is a header the delivery or its connection already uses; choose a header of its own, e.g. X-Copy-Version'
  ])
})
