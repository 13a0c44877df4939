/**
 * Compose routes (`get:`) in the config pipeline: what `junction check` reports, word for
 * word, and the normalised form the runtime reads.
 */
import t from 'tap'
import { parseConfig } from '../src/config/load.js'
import { formatRouteTable } from '../src/config/route-table.js'
import { refusal } from './support/config-problems.js'

const SERVICES = 'services:\n  users: { urls: [http://127.0.0.1:3001] }\n  orders: { urls: [http://127.0.0.1:3002] }\n  catalog: { urls: [http://127.0.0.1:3003] }\n'
const GRAMMAR = 'write {params.<name>}, {query.<name>}, {headers.<name>}, {<part>.<field>} or {each <part>.<field>}'
const NOT_COLLECTION = 'applies to collection parts only (a path with {each <part>.<field>}); remove it, or make the path a collection'

const problems = (routes: string): string[] => refusal(SERVICES + 'routes:\n  ' + routes + '\n')

t.test('unknown services: did you mean, or the list', async t => {
  t.same(problems(`- get: /p/:id
    compose:
      user: { service: usr, path: "/users/{params.id}" }
      x: { service: billing, path: /x }`), [
    'routes[0].compose.user.service: unknown service "usr" (did you mean "users"?)',
    'routes[0].compose.x.service: unknown service "billing"; define it under "services" or use one of: "users", "orders", "catalog"'
  ])
})

t.test('unknown route params and parts, with did-you-mean', async t => {
  t.same(problems(`- get: /p/:id
    compose:
      user: { service: users, path: "/users/{params.idd}" }
      company: { service: catalog, path: "/companies/{usr.companyId}" }
      other: { service: catalog, path: "/x/{zzz.a}" }
      q: { service: catalog, path: "/x/{parms.a}" }`), [
    'routes[0].compose.user.path: {params.idd}: the route path has no parameter ":idd" (did you mean {params.id}?)',
    'routes[0].compose.company.path: {usr.companyId}: no part is named "usr" (did you mean "user"?)',
    'routes[0].compose.other.path: {zzz.a}: no part is named "zzz"; the parts are "user", "company", "other", "q", and {params.…}, {query.…}, {headers.…} read the request',
    'routes[0].compose.q.path: {parms.a}: no part is named "parms" (did you mean "params"?)'
  ])
  t.same(problems(`- get: /p
    compose: { a: { service: users, path: "/u/{params.id}" } }`), [
    'routes[0].compose.a.path: {params.id}: the route path has no parameter ":id"; it has no parameters'
  ])
})

t.test('cycles are spelled out', async t => {
  t.same(problems(`- get: /p/:id
    compose:
      user: { service: users, path: "/users/{company.ownerId}" }
      company: { service: catalog, path: "/companies/{user.companyId}" }`), [
    'routes[0].compose: parts read each other in a cycle: user → company → user; no order can run them. A part may read only parts that do not read it back'
  ])
  t.same(problems(`- get: /p
    compose:
      user: { service: users, path: "/users/{user.id}" }`), [
    'routes[0].compose: parts read each other in a cycle: user → user; no order can run them. A part may read only parts that do not read it back'
  ])
})

t.test('placeholder syntax', async t => {
  t.same(problems(`- get: /p
    compose:
      a: { service: users, path: "/users/{params.id" }
      b: { service: users, path: "/users/{}" }
      c: { service: users, path: "/users/{user}" }
      d: { service: users, path: "/users/}" }
      e: { service: users, path: "/a/{each params.id}" }
      f: { service: users, path: "/a/{each a.x}/{each a.y}" }
      g: { service: users, path: "users" }
      h: { service: users, path: "/a/{a..x}" }`), [
    `routes[0].compose.a.path: unclosed "{" in "/users/{params.id"; ${GRAMMAR}`,
    `routes[0].compose.b.path: empty placeholder "{}"; ${GRAMMAR}`,
    'routes[0].compose.c.path: "{user}" names a whole part; name one of its fields, e.g. {user.id}',
    `routes[0].compose.d.path: unmatched "}" in "/users/}"; ${GRAMMAR}`,
    'routes[0].compose.e.path: "{each params.id}": {each ...} takes a part\'s field, e.g. {each orders.items.productId}; params values are single values',
    'routes[0].compose.f.path: "/a/{each a.x}/{each a.y}" has 2 {each ...} placeholders; a part can run once per element of one collection only',
    'routes[0].compose.g.path: must start with "/" (found "users"); write "/users"',
    `routes[0].compose.h.path: malformed placeholder "{a..x}"; ${GRAMMAR}`
  ])
})

t.test('gateway paths: syntax, reserved, duplicates (param names aside), a proxy answering GET there', async t => {
  t.same(problems(`- get: /p/:id
    compose: { a: { service: users, path: /a } }
  - get: /p/:name/
    compose: { a: { service: users, path: /a } }
  - { proxy: /q, service: users }
  - get: /q
    compose: { a: { service: users, path: /a } }
  - get: /health/x
    compose: { a: { service: users, path: /a } }
  - get: "/p/:id/:id"
    compose: { a: { service: users, path: /a } }
  - get: p
    compose: { a: { service: users, path: /a } }
  - get: "/p?x=1"
    compose: { a: { service: users, path: /a } }
  - get: "/p/a:b"
    compose: { a: { service: users, path: /a } }`), [
    'routes[1].get: GET "/p/:name/" is already composed by routes[0]; a path (parameter names aside) can have one compose route',
    'routes[3].get: GET "/q" is also answered by the proxy route routes[2]; compose under another path, or leave GET and HEAD out of that route\'s methods',
    'routes[4].get: "/health" is reserved for the gateway\'s own endpoints (/health, /ready, /metrics, /admin); choose another path, e.g. "/api/health/x"',
    'routes[5].get: names the parameter ":id" twice; give each parameter its own name',
    'routes[6].get: must start with "/" (found "p"); write "/p"',
    'routes[7].get: must be a path with ":name" parameters only, without "?", "#", "*" or braces (found "/p?x=1"), e.g. "/api/users/:id/profile"',
    'routes[8].get: a path parameter is a whole segment ":name" (letters, digits and "_"); found "a:b" in "/p/a:b"'
  ])
  t.doesNotThrow(() => parseConfig(SERVICES + `routes:
  - { proxy: /q, service: users, methods: [POST] }
  - { proxy: /api/users, service: users }
  - get: /q
    compose: { a: { service: users, path: /a } }
  - get: /api/users/:id/profile
    compose: { a: { service: users, path: /a } }
`, { env: {} }), 'a proxy without GET at the same path, or a proxy prefix above the compose path, is fine')
})

t.test('optional parts: what reads them must be optional; collections cannot be read', async t => {
  t.same(problems(`- get: /p/:id
    compose:
      orders: { service: orders, path: "/orders?userId={params.id}", optional: true }
      first: { service: catalog, path: "/products/{orders.0.productId}" }
      product: { service: catalog, path: "/products/{each orders.items.productId}", optional: true }
      again: { service: catalog, path: "/x/{product.id}", optional: true }`), [
    'routes[0].compose.first.path: {orders.0.productId}: part "first" is required but reads the optional part "orders", and is skipped whenever that one fails; mark "first" optional: true as well, or make "orders" required',
    'routes[0].compose.again.path: {product.id}: part "product" is a collection; its results are placed inside the part it iterates over, so no part can read it'
  ])
})

t.test('collection settings on a part that is not a collection', async t => {
  t.same(problems(`- get: /p
    compose:
      a: { service: users, path: /a, maxConcurrency: 2, as: x, maxCalls: 3 }
      b: { service: users, path: "/b/{each a.ids}", as: "bad name" }`), [
    `routes[0].compose.a.maxConcurrency: ${NOT_COLLECTION}`,
    `routes[0].compose.a.as: ${NOT_COLLECTION}`,
    `routes[0].compose.a.maxCalls: ${NOT_COLLECTION}`,
    'routes[0].compose.b.as: "bad name" is not a field name; use letters, digits, "_", "-" and "$"'
  ])
})

t.test('shape: merge names parts; paths start with a part name, or anything once a part is merged', async t => {
  t.same(problems(`- get: /p
    compose:
      user: { service: users, path: /u }
      orders: { service: orders, path: /o }
      product: { service: catalog, path: "/p/{each orders.items.productId}" }
    shape:
      merge: [usr, product]
      pick: [user.name, usre.id, product.name, "a..b"]
      omit: [nope]
      rename: { user.name: "display..name" }`), [
    'routes[0].shape.merge[0]: no part is named "usr" (did you mean "user"?)',
    'routes[0].shape.merge[1]: part "product" is a collection: its results are placed inside the part it iterates over, not at the root',
    'routes[0].shape.pick[1]: "usre.id" starts with no part name (did you mean "user"?)',
    'routes[0].shape.pick[2]: part "product" is a collection: its results are inside the part it iterates over; address them through that part',
    'routes[0].shape.pick[3]: "a..b" is not a dotted path; write e.g. "user.name"',
    'routes[0].shape.omit[0]: "nope" starts with no part name; the document\'s root keys are the parts "user", "orders"',
    'routes[0].shape.rename["user.name"]: "display..name" is not a dotted path; write e.g. "displayName" or "user.displayName"'
  ])
  t.same(problems(`- get: /p
    compose:
      user: { service: users, path: /u }
      orders: { service: orders, path: /o }
    shape:
      merge: [user]
      pick: [user.name, anything, orders.id]`), [
    'routes[0].shape.pick[0]: part "user" is merged into the root, so its fields have no "user." prefix; write "name"'
  ])
})

t.test('part names, empty compose, forwarded headers', async t => {
  t.same(problems(`- get: /p
    compose:
      "my-part": { service: users, path: /a }
      params: { service: users, path: /a }
      each: { service: users, path: /a }`), [
    'routes[0].compose.my-part: invalid part name; use letters, digits and "_", starting with a letter: placeholders name parts as {<part>.<field>}',
    'routes[0].compose.params: "params" cannot name a part: {params.…} reads the client\'s request; choose another name',
    'routes[0].compose.each: "each" cannot name a part: {each …} starts a collection placeholder; choose another name'
  ])
  t.same(problems(`- get: /p
    compose: {}`), ['routes[0].compose: has no parts; add one, e.g. user: { service: users, path: /users/{params.id} }'])
  t.same(problems(`- get: /p
    compose: { a: { service: users, path: /a } }
    forwardHeaders: [authorization, Host, "bad header", Connection]`), [
    'routes[0].forwardHeaders[1]: "Host" cannot be forwarded to parts: it describes the client\'s connection or message, not its request',
    'routes[0].forwardHeaders[2]: "bad header" is not a header name; write the name only, e.g. "authorization"',
    'routes[0].forwardHeaders[3]: "Connection" cannot be forwarded to parts: it describes the client\'s connection or message, not its request'
  ])
})

t.test('schema errors inside parts and shape; units', async t => {
  t.same(problems(`- get: /p
    compose:
      a: { sevice: users, path: /a }
      b: { service: users, path: /b, timeout: soon, maxBodySize: 0 }
    shape: { merg: [a] }`), [
    'routes[0].compose.a.sevice: unknown key (did you mean "service"?)',
    'routes[0].compose.b.timeout: "soon" is not a duration; write a number with a unit, e.g. "500ms", "2s" or "5m", or an integer of milliseconds',
    'routes[0].compose.b.maxBodySize: must be greater than 0 (found 0); e.g. "512kb", "1mb" or "100mb"',
    'routes[0].shape.merg: unknown key (did you mean "merge"?)'
  ])
  t.same(problems(`- get: /p
    proxy: /p
    service: users
    compose: { a: { service: users, path: /a } }`), [
    'routes[0]: a route needs exactly one of "proxy" (forward a path prefix to a service), "put"/"post"/"patch"/"delete" (write to the owning service and propagate to its copies), "get" (compose one response from several services); found "proxy" and "get"; split it into one route per kind'
  ])
})

t.test('the normalised route, and its rows in the route table', async t => {
  const config = parseConfig(SERVICES + `routes:
  - get: /api/users/:id/profile/
    compose:
      user:    { service: users,   path: "/users/{params.id}" }
      orders:  { service: orders,  path: "/orders?userId={params.id}", optional: true, timeout: 300ms }
      company: { service: catalog, path: "/companies/{user.companyId}" }
      items:   { service: catalog, path: "/products/{each orders.items.productId}", optional: true, maxConcurrency: 4, maxBodySize: 64kb, as: product }
    shape: { pick: [user.id, user.name, company.name, orders], rename: { user.name: displayName } }
    forwardHeaders: [Authorization, accept-language]
`, { env: {} })
  t.same(config.routes[0], {
    kind: 'compose',
    index: 0,
    path: '/api/users/:id/profile',
    methods: ['GET', 'HEAD'],
    parts: [
      { name: 'user', service: 'users', path: '/users/{params.id}', optional: false, timeoutMs: undefined, maxBodySize: 1048576, as: 'user', maxConcurrency: 8, maxCalls: 100 },
      { name: 'orders', service: 'orders', path: '/orders?userId={params.id}', optional: true, timeoutMs: 300, maxBodySize: 1048576, as: 'orders', maxConcurrency: 8, maxCalls: 100 },
      { name: 'company', service: 'catalog', path: '/companies/{user.companyId}', optional: false, timeoutMs: undefined, maxBodySize: 1048576, as: 'company', maxConcurrency: 8, maxCalls: 100 },
      { name: 'items', service: 'catalog', path: '/products/{each orders.items.productId}', optional: true, timeoutMs: undefined, maxBodySize: 65536, as: 'product', maxConcurrency: 4, maxCalls: 100 }
    ],
    shape: { merge: [], pick: ['user.id', 'user.name', 'company.name', 'orders'], omit: [], rename: [['user.name', 'displayName']] },
    forwardHeaders: ['authorization', 'accept-language']
  })
  t.ok(Object.isFrozen(config.routes[0]))
  t.equal(formatRouteTable(config), [
    'METHODS   GATEWAY PATH            →  SERVICE  UPSTREAM PATH                                               UPSTREAM URLS',
    'GET,HEAD  /api/users/:id/profile  →  users    /users/{params.id}  [user]                                  http://127.0.0.1:3001',
    '                                  +  orders   /orders?userId={params.id}  [orders, optional]              http://127.0.0.1:3002',
    '                                  +  catalog  /companies/{user.companyId}  [company]                      http://127.0.0.1:3003',
    '                                  +  catalog  /products/{each orders.items.productId}  [items, optional]  http://127.0.0.1:3003'
  ].join('\n'))
})
