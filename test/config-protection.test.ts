/**
 * The `auth:` and `rateLimit:` blocks and the routes' protection keys: every message
 * `junction check` can print about them (pinned), key material read and parsed at load,
 * and the normalised result (who may call each route, claim headers, defaults).
 */
import { generateKeyPairSync } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { parseConfig } from '../src/config/load.js'
import { tempDir } from './support/gateway.js'
import { refusal } from './support/config-problems.js'

const SERVICES = 'services:\n  s: { urls: [http://127.0.0.1:3001] }\n'
const ENV = { SECRET: 'x'.repeat(40) }
const KEY16 = '0123456789abcdef'

const problems = (yaml: string, source?: string): string[] => refusal(SERVICES + yaml, source === undefined ? { env: ENV } : { env: ENV, source })

const publicRoute = 'routes:\n  - { proxy: /a, service: s, public: true }\n'

t.test('authenticator names', async t => {
  t.same(problems(`auth:
  jwt:
    "bad name": { secret: "\${SECRET}" }
    hs: { secret: "\${SECRET}" }
  apiKeys:
    hs: { keys: [{ name: a, key: ${KEY16} }] }
    public: { keys: [{ name: a, key: ${KEY16} }] }
${publicRoute}`), [
    'auth.jwt["bad name"]: invalid authenticator name; use letters, digits, "-" and "_", starting with a letter (^[A-Za-z][A-Za-z0-9_-]*$)',
    'auth.apiKeys.hs: the name "hs" is already used by auth.jwt.hs; routes refer to authenticators by name, so give each its own',
    'auth.apiKeys.public: "public" is reserved (routes write "public: true", and auth.default may be "public"); choose another name'
  ])
})

t.test('JWT key sources: exactly one, and each one checked', async t => {
  const dir = await tempDir(t)
  const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 })
  await writeFile(join(dir, 'garbage.pem'), 'hello')
  t.same(problems(`auth:
  jwt:
    none: { issuer: x }
    two: { secret: "\${SECRET}", jwksFile: keys.json }
    short: { secret: abc }
    priv: { publicKey: ${JSON.stringify(rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }))} }
    junk: { publicKey: hello }
    missing: { publicKeyFile: nope.pem }
    garbage: { publicKeyFile: garbage.pem }
${publicRoute}`, join(dir, 'junction.yaml')), [
    'auth.jwt.none: needs exactly one key source: "secret", "publicKey", "publicKeyFile", "jwksFile"; found none',
    'auth.jwt.two: needs exactly one key source: "secret", "publicKey", "publicKeyFile", "jwksFile"; found "secret" and "jwksFile"',
    'auth.jwt.short.secret: is 3 bytes long; an HMAC secret needs at least 32 (RFC 7518 §3.2), e.g. openssl rand -base64 48',
    'auth.jwt.priv.publicKey: is a private key; give the public key only (e.g. openssl pkey -in key.pem -pubout)',
    'auth.jwt.junk.publicKey: is not a PEM public key: expected text starting with -----BEGIN PUBLIC KEY-----',
    `auth.jwt.missing.publicKeyFile: cannot read "nope.pem" (${join(dir, 'nope.pem')}): it does not exist; paths are relative to the config file`,
    'auth.jwt.garbage.publicKeyFile: "garbage.pem" is not a PEM public key: expected text starting with -----BEGIN PUBLIC KEY-----'
  ])
})

t.test('JWKS files: public signing keys only, each with its own kid', async t => {
  const dir = await tempDir(t)
  const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 })
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const k1 = generateKeyPairSync('ec', { namedCurve: 'secp256k1' })
  const pub = (pair: { publicKey: import('node:crypto').KeyObject }): Record<string, unknown> => pair.publicKey.export({ format: 'jwk' }) as Record<string, unknown>
  await writeFile(join(dir, 'not.json'), 'nope')
  await writeFile(join(dir, 'notjwks.json'), '{"x":1}')
  await writeFile(join(dir, 'bad.json'), JSON.stringify({
    keys: [
      { kty: 'oct', k: 'abc', kid: 'h' },
      { ...rsa.privateKey.export({ format: 'jwk' }), kid: 'p' },
      { ...pub(ec), kid: 'a', alg: 'RS256' },
      { ...pub(ec), kid: 'e' },
      { ...pub(rsa), kid: 'e' },
      { ...pub(k1), kid: 'k1' },
      7
    ]
  }))
  await writeFile(join(dir, 'nokid.json'), JSON.stringify({ keys: [pub(ec), pub(rsa)] }))
  await writeFile(join(dir, 'enc.json'), JSON.stringify({ keys: [{ ...pub(rsa), use: 'enc' }] }))
  await writeFile(join(dir, 'ec.json'), JSON.stringify({ keys: [{ ...pub(ec), kid: 'e' }] }))
  t.same(problems(`auth:
  jwt:
    notjson: { jwksFile: not.json }
    notjwks: { jwksFile: notjwks.json }
    bad: { jwksFile: bad.json }
    nokid: { jwksFile: nokid.json }
    enc: { jwksFile: enc.json }
    algs: { jwksFile: ec.json, algorithms: [ES256, RS256, HS256] }
${publicRoute}`, join(dir, 'junction.yaml')), [
    'auth.jwt.notjson.jwksFile: "not.json" is not JSON (Unexpected token \'o\', "nope" is not valid JSON)',
    'auth.jwt.notjwks.jwksFile: "notjwks.json" is not a JWKS: expected { "keys": [ ... ] }',
    'auth.jwt.bad.jwksFile: "bad.json" keys[0] (kid "h") is a symmetric key; a JWKS file holds public keys (use "secret" for HS256)',
    'auth.jwt.bad.jwksFile: "bad.json" keys[1] (kid "p") contains a private key ("d"); publish only the public part',
    'auth.jwt.bad.jwksFile: "bad.json" keys[2] (kid "a") says "alg": "RS256", which an EC P-256 public key cannot verify (it can verify ES256)',
    'auth.jwt.bad.jwksFile: "bad.json" keys[4] (kid "e") repeats the kid of keys[3]; each key needs its own kid',
    'auth.jwt.bad.jwksFile: "bad.json" keys[5] (kid "k1") uses the curve secp256k1; JWT signatures use P-256, P-384 or P-521',
    'auth.jwt.bad.jwksFile: "bad.json" keys[6] is not a JSON object',
    'auth.jwt.nokid.jwksFile: "nokid.json" has several keys, so each needs a "kid": tokens select their key by it',
    'auth.jwt.enc.jwksFile: "enc.json" has no signing keys',
    'auth.jwt.algs.algorithms: "RS256", "HS256" cannot be verified with an EC P-256 public key; it verifies "ES256"'
  ])
})

t.test('JWT options and claim headers', async t => {
  t.same(problems(`auth:
  jwt:
    hs: { secret: "\${SECRET}", algorithms: [RS256], clockTolerance: soon, forwardClaims: { sub: "x user", tenant: host, a: x-a, b: X-A } }
    shape: { secret: "\${SECRET}", algorithms: [HS1], issuer: [], audence: x, requiredClaims: [exp, exp] }
  defualt: x
${publicRoute}`), [
    'auth.jwt.hs.algorithms: "RS256" cannot be verified with an HMAC secret; it verifies "HS256", "HS384", "HS512"',
    'auth.jwt.hs.clockTolerance: "soon" is not a duration; write a number with a unit, e.g. "5s" or "30s", or an integer of milliseconds (0 for none)',
    'auth.jwt.hs.forwardClaims.sub: "x user" is not a header name; write the name only, e.g. "x-user-id"',
    'auth.jwt.hs.forwardClaims.tenant: "host" cannot carry a claim (it has another meaning in HTTP or is set by the gateway); use e.g. "x-user-id"',
    'auth.jwt.hs.forwardClaims.b: "X-A" already carries the claim "a"; one header per claim',
    'auth.jwt.shape.algorithms[0]: must be one of "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA" (found "HS1"; did you mean "HS512"?)',
    'auth.jwt.shape.issuer: must not be an empty list',
    'auth.jwt.shape.audence: unknown key (did you mean "audience"?)',
    'auth.jwt.shape.requiredClaims: lists "exp" twice ([0] and [1]); list each value once',
    'auth.defualt: unknown key (did you mean "default"?)'
  ])
})

t.test('API keys', async t => {
  t.same(problems(`auth:
  apiKeys:
    k: { header: "x key", keys: [{ name: a, key: short }, { name: a, key: ${KEY16} }, { name: b, key: ${KEY16} }], forwardClaims: { sub: content-length } }
    k2: { header: authorization, keys: [] }
    k3: { keys: [{ nam: a, key: ${KEY16} }] }
${publicRoute}`), [
    'auth.apiKeys.k.header: "x key" is not a header name; write the name only, e.g. "x-api-key"',
    'auth.apiKeys.k.keys[0].key: is 5 characters long; an API key needs at least 16 (e.g. openssl rand -hex 24)',
    'auth.apiKeys.k.keys[1].name: "a" already names keys[0]; give each key its own name',
    'auth.apiKeys.k.keys[2].key: is the same key as keys[1]; each key must be distinct, or a caller cannot be told apart',
    'auth.apiKeys.k.forwardClaims.sub: "content-length" cannot carry a claim (it has another meaning in HTTP or is set by the gateway); use e.g. "x-user-id"',
    'auth.apiKeys.k2.header: "authorization" cannot carry an API key (it has another meaning in HTTP or is set by the gateway); use e.g. "x-api-key"',
    'auth.apiKeys.k2.keys: must not be an empty list',
    'auth.apiKeys.k3.keys[0].nam: unknown key (did you mean "name"?)'
  ])
})

t.test('with authenticators declared, every route says who may call it', async t => {
  const auth = `auth:
  jwt: { staff: { secret: "\${SECRET}" } }
  apiKeys: { partners: { keys: [{ name: a, key: ${KEY16} }] } }
`
  t.same(problems(`${auth}routes:
  - { proxy: /a, service: s }
  - get: /b/:id
    compose: { a: { service: s, path: /a } }
  - put: /c/:id
    write: { owner: { service: s, path: "/c/{params.id}", version: { etag: true } } }
  - { proxy: /d, service: s, public: false }
  - { proxy: /e, service: s, public: true }
  - { proxy: /f, service: s, auth: staff }
  - { proxy: /g, service: s, public: yes }
`), [
    'routes[0]: the route "/a" needs "auth: <authenticator>" ("staff", "partners") or "public: true": with authenticators declared, no route is public by omission (or set auth.default)',
    'routes[1]: the route "GET /b/:id" needs "auth: <authenticator>" ("staff", "partners") or "public: true": with authenticators declared, no route is public by omission (or set auth.default)',
    'routes[2]: the route "PUT /c/:id" needs "auth: <authenticator>" ("staff", "partners") or "public: true": with authenticators declared, no route is public by omission (or set auth.default)',
    'routes[3]: the route "/d" needs "auth: <authenticator>" ("staff", "partners") or "public: true": with authenticators declared, no route is public by omission (or set auth.default)',
    'routes[6].public: expected a boolean (true or false), found a string ("yes")'
  ])
  t.same(problems(`auth:
  default: [staff, public]
  jwt: { staff: { secret: "\${SECRET}" } }
  apiKeys: { partners: { keys: [{ name: a, key: ${KEY16} }] } }
routes:
  - { proxy: /a, service: s }
  - { proxy: /b, service: s, auth: staf }
  - { proxy: /c, service: s, auth: [billing, public] }
  - { proxy: /d, service: s, auth: staff, public: true }
  - { proxy: /e, service: s, auth: [] }
`), [
    'auth.default[1]: "public" is the whole default, not one of a list; write default: public',
    'routes[1].auth: unknown authenticator "staf" (did you mean "staff"?)',
    'routes[2].auth[0]: unknown authenticator "billing"; declared: "staff", "partners"',
    'routes[2].auth[1]: a public route says "public: true" instead of naming an authenticator',
    'routes[3]: the route "/d" has both "auth" and "public: true"; a route is either authenticated or public: keep one',
    'routes[4].auth: must not be an empty list'
  ])
  t.same(problems('routes:\n  - { proxy: /a, service: s, auth: staff, scopes: [x] }\n'), [
    'routes[0].auth: unknown authenticator "staff": none are declared; declare it under auth.jwt or auth.apiKeys'
  ])
})

t.test('scopes and rate-limit keys need a caller to look at', async t => {
  t.same(problems(`auth:
  jwt: { staff: { secret: "\${SECRET}" } }
  apiKeys: { partners: { keys: [{ name: a, key: ${KEY16} }] } }
routes:
  - { proxy: /d, service: s, public: true, scopes: [x], rateLimit: { max: 1, window: 1m, key: sub } }
  - { proxy: /e, service: s, auth: staff, rateLimit: { max: 1, window: 1m, key: apiKey } }
  - { proxy: /f, service: s, auth: [partners, staff], rateLimit: { max: 1, window: 1m, key: apiKey } }
  - { proxy: /g, service: s, auth: partners, rateLimit: { max: 1, window: 1m, key: apiKey }, scopes: [a, a] }
`), [
    'routes[0].scopes: the route "/d" is public, so there is no caller whose scopes to check; add "auth: <authenticator>" or remove "scopes"',
    'routes[0].rateLimit.key: "sub" counts authenticated callers, and the route "/d" is public: every request would be counted by address; use key: ip, or add "auth:"',
    'routes[1].rateLimit.key: "apiKey" counts each API key, and the route "/e" is not authenticated by API keys only; use key: sub to count callers whichever authenticator accepted them',
    'routes[2].rateLimit.key: "apiKey" counts each API key, and the route "/f" is not authenticated by API keys only; use key: sub to count callers whichever authenticator accepted them',
    'routes[3].scopes: lists "a" twice ([0] and [1]); list each value once'
  ])
  t.same(problems('routes:\n  - { proxy: /a, service: s, scopes: [x], rateLimit: { max: 1, window: 1m, key: sub } }\n'), [
    'routes[0].scopes: needs an authenticated route, and no authenticators are declared; declare one under auth.jwt or auth.apiKeys and add "auth:" to this route',
    'routes[0].rateLimit.key: "sub" counts authenticated callers, and the route "/a" is public: every request would be counted by address; use key: ip, or add "auth:"'
  ])
})

t.test('rateLimit blocks', async t => {
  t.same(problems(`rateLimit: { max: 0, window: 0 }
routes:
  - { proxy: /h, service: s, rateLimit: true }
  - { proxy: /i, service: s, rateLimit: { max: 1.5, window: 2 sex, key: user, burst: 3 } }
  - { proxy: /j, service: s, rateLimit: { max: 1 } }
  - { proxy: /k, service: s, rateLimit: 5 }
`), [
    'rateLimit.max: must be at least 1 (found 0)',
    'rateLimit.window: must be greater than 0 (found 0); e.g. "500ms", "2s" or "5m"',
    'routes[0].rateLimit: true is not a limit; write one, e.g. { max: 100, window: 1m }, or false to turn the top-level rateLimit off on this route',
    'routes[1].rateLimit.max: expected an integer, found a number (1.5)',
    'routes[1].rateLimit.window: "2 sex" is not a duration; write a number with a unit, e.g. "500ms", "2s" or "5m", or an integer of milliseconds',
    'routes[1].rateLimit.key: must be one of "ip", "sub", "apiKey" (found "user")',
    'routes[1].rateLimit.burst: unknown key; allowed keys here: "max", "window", "key"',
    'routes[2].rateLimit.window: required key is missing. The length of a window. A duration: a string with a unit ("500ms", "2s", "5m") or an integer of milliseconds.',
    'routes[3].rateLimit: expected an object or a boolean (true or false), found an integer (5)'
  ])
})

t.test('a missing key variable is reported once, not also as a short secret', async t => {
  t.same(problems(`auth:\n  jwt: { staff: { secret: "\${JWT_SECRET}" } }\n${publicRoute}`), [
    // eslint-disable-next-line no-template-curly-in-string -- the message shows env-substitution syntax
    'auth.jwt.staff.secret: environment variable JWT_SECRET is not set; set it, or give a default with ${JWT_SECRET:-default}'
  ])
})

t.test('normalised: who may call each route, limits, claim headers', async t => {
  const config = parseConfig(SERVICES + `auth:
  default: staff
  jwt:
    staff: { secret: "\${SECRET}", issuer: https://id.example.com, audience: junction, clockTolerance: 5s, forwardClaims: { sub: X-User-Id } }
  apiKeys:
    partners: { keys: [{ name: acme, key: ${KEY16}, scopes: [a] }], forwardClaims: { sub: x-user-id, tenant: x-tenant } }
rateLimit: { max: 100, window: 1m }
routes:
  - { proxy: /a, service: s }
  - { proxy: /b, service: s, public: true, rateLimit: false }
  - { proxy: /c, service: s, auth: [partners, staff], scopes: [a], rateLimit: { max: 5, window: 1s, key: sub } }
  - get: /d/:id
    compose: { one: { service: s, path: /one } }
    forwardHeaders: [accept-language]
    auth: partners
`, { env: ENV })
  const p = config.protection
  t.same(p.routes, [
    { authenticators: ['staff'], scopes: [], rateLimit: { max: 100, windowMs: 60_000, key: 'ip' } },
    { authenticators: [], scopes: [], rateLimit: undefined },
    { authenticators: ['partners', 'staff'], scopes: ['a'], rateLimit: { max: 5, windowMs: 1000, key: 'sub' } },
    { authenticators: ['partners'], scopes: [], rateLimit: { max: 100, windowMs: 60_000, key: 'ip' } }
  ])
  t.same(p.claimHeaders, ['x-user-id', 'x-tenant'])
  t.match(p.authenticators.staff, { kind: 'jwt', issuer: ['https://id.example.com'], audience: ['junction'], clockToleranceMs: 5000, requiredClaims: ['exp'], scopeClaim: 'scope', forwardClaims: [{ claim: 'sub', header: 'x-user-id' }] })
  t.match(p.authenticators.partners, { kind: 'apiKey', header: 'x-api-key', keys: [{ name: 'acme', subject: 'acme', scopes: ['a'] }] })
  const compose = config.routes[3]
  t.same(compose?.kind === 'compose' ? compose.forwardHeaders : undefined, ['accept-language', 'x-user-id', 'x-tenant'], 'a compose route\'s parts get its claim headers')
  t.ok(Object.isFrozen(p.routes[0]))
})

t.test('without authenticators every route is public, as before', async t => {
  const config = parseConfig(SERVICES + 'routes:\n  - { proxy: /a, service: s }\n  - { proxy: /b, service: s, public: true }\n', { env: {} })
  t.same(config.protection, { authenticators: {}, routes: [{ authenticators: [], scopes: [], rateLimit: undefined }, { authenticators: [], scopes: [], rateLimit: undefined }], claimHeaders: [] })
  // eslint-disable-next-line no-template-curly-in-string -- env-substitution syntax in the YAML
  const open = parseConfig(SERVICES + 'auth:\n  default: public\n  jwt: { staff: { secret: "${SECRET}" } }\nroutes:\n  - { proxy: /a, service: s }\n', { env: ENV })
  t.same(open.protection.routes, [{ authenticators: [], scopes: [], rateLimit: undefined }], 'auth.default: public')
})
