/**
 * JWT authentication through a real gateway and a real origin: HMAC, RSA (RS/PS), EC and
 * Ed25519 keys, from a secret, an inline PEM, a PEM file and a JWKS file (key chosen by
 * kid); issuer, audience, expiry, not-before, clock tolerance, required claims; every
 * refusal a 401 problem+json with an RFC 6750 challenge, and never reaching the service.
 */
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { request } from 'undici'
import { startOrigin } from './support/origin.js'
import { startGateway, tempDir } from './support/gateway.js'
import { jwk, keyPair, now, signJwt, type TestKeyPair } from './support/jwt.js'

const SECRET = 'a-test-secret-that-is-long-enough-for-hs256'
// Generated once per file: RSA key generation is slow, and every test may use the same keys.
const KEYS = {
  rsa: keyPair('rsa'),
  otherRsa: keyPair('rsa'),
  ec: keyPair('ec-p256'),
  jwks: { rsa: keyPair('rsa'), ec: keyPair('ec-p256'), ec384: keyPair('ec-p384'), ed: keyPair('ed25519') }
}

interface Setup {
  readonly call: (path: string, token?: string, headers?: Record<string, string>) => Promise<{ status: number, body: any, headers: Record<string, unknown> }>
  /** Requests the origin received, with their headers. */
  readonly seen: Array<{ url: string, headers: Record<string, unknown> }>
  readonly rsa: TestKeyPair
  readonly ec: TestKeyPair
  readonly jwks: { rsa: TestKeyPair, ec: TestKeyPair, ec384: TestKeyPair, ed: TestKeyPair }
}

async function setup (t: Test): Promise<Setup> {
  const seen: Setup['seen'] = []
  const origin = await startOrigin(t, (req, res) => {
    seen.push({ url: req.url ?? '', headers: req.headers })
    res.setHeader('content-type', 'application/json')
    res.end('{"ok":true}')
  })
  const { rsa, ec, jwks } = KEYS
  const dir = await tempDir(t)
  const ecFile = join(dir, 'ec.pem')
  await writeFile(ecFile, ec.publicPem)
  const jwksFile = join(dir, 'keys.jwks.json')
  await writeFile(jwksFile, JSON.stringify({
    keys: [
      jwk(jwks.rsa, { kid: 'r1', use: 'sig' }),
      jwk(jwks.ec, { kid: 'e1', alg: 'ES256' }),
      jwk(jwks.ec384, { kid: 'e2' }),
      jwk(jwks.ed, { kid: 'd1' }),
      // An encryption key in the same set is skipped, not an error.
      jwk(KEYS.otherRsa, { kid: 'enc1', use: 'enc' })
    ]
  }))
  const gw = await startGateway(t, `
auth:
  jwt:
    hmac: { secret: "\${HS_SECRET}", issuer: https://id.example.com, audience: [junction, other], forwardClaims: { sub: x-user-id, tenant: x-tenant, roles: x-roles } }
    lenient: { secret: "\${HS_SECRET}", clockTolerance: 10s, requiredClaims: [] }
    rsa: { publicKey: "\${RSA_PEM}" }
    ec: { publicKeyFile: ${JSON.stringify(ecFile)}, algorithms: [ES256] }
    set: { jwksFile: ${JSON.stringify(jwksFile)}, forwardClaims: { sub: x-user-id } }
services:
  users: { urls: [${origin.url}] }
routes:
  - { proxy: /hmac, service: users, auth: hmac }
  - { proxy: /lenient, service: users, auth: lenient }
  - { proxy: /rsa, service: users, auth: rsa }
  - { proxy: /ec, service: users, auth: ec }
  - { proxy: /set, service: users, auth: set }
`, { env: { HS_SECRET: SECRET, RSA_PEM: rsa.publicPem } })
  const call: Setup['call'] = async (path, token, headers = {}) => {
    const res = await request(`${gw.url}${path}`, { headers: token === undefined ? headers : { authorization: `Bearer ${token}`, ...headers } })
    const text = await res.body.text()
    return { status: res.statusCode, body: text === '' ? undefined : JSON.parse(text), headers: res.headers }
  }
  return { call, seen, rsa, ec, jwks }
}

const claims = (extra: Record<string, unknown> = {}): Record<string, unknown> =>
  ({ sub: 'ada', iss: 'https://id.example.com', aud: 'junction', exp: now() + 60, ...extra })

function refused (t: Test, res: { status: number, body: any, headers: Record<string, unknown> }, code: string, detail?: RegExp): void {
  t.equal(res.status, 401)
  t.match(res.headers['content-type'], /^application\/problem\+json/)
  t.match(res.body, { status: 401, code })
  if (detail !== undefined) t.match(res.body.detail, detail)
  t.match(res.headers['www-authenticate'], /^Bearer realm="junction"/)
}

t.test('HS256: a good token passes and its claims reach the service as headers', async t => {
  const s = await setup(t)
  const res = await s.call('/hmac/x', signJwt(claims({ tenant: 'acme', roles: ['admin', 'dev'] }), { alg: 'HS256', key: SECRET }), {
    'x-user-id': 'mallory', 'x-tenant': 'evil'
  })
  t.equal(res.status, 200)
  const h = s.seen.at(-1)?.headers ?? {}
  t.equal(h['x-user-id'], 'ada', 'the verified sub, not the client\'s copy')
  t.equal(h['x-tenant'], 'acme')
  t.equal(h['x-roles'], 'admin,dev', 'a list of strings is joined')
  t.match(h.authorization, /^Bearer /, 'the token itself is forwarded')
  const other = await s.call('/hmac/x', signJwt(claims({ aud: ['x', 'other'] }), { alg: 'HS256', key: SECRET }))
  t.equal(other.status, 200, 'one of the accepted audiences is enough')
})

t.test('HS256: every kind of bad token is a 401 that never reaches the service', async t => {
  const s = await setup(t)
  const hs = (payload: Record<string, unknown>, key = SECRET): string => signJwt(payload, { alg: 'HS256', key })
  const missing = await s.call('/hmac/x')
  refused(t, missing, 'JUNCTION_AUTHENTICATION_REQUIRED', /bearer token/)
  t.equal(missing.headers['www-authenticate'], 'Bearer realm="junction"', 'no error attributes when nothing was sent')
  refused(t, await s.call('/hmac/x', undefined, { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` }), 'JUNCTION_AUTHENTICATION_REQUIRED')
  refused(t, await s.call('/hmac/x', hs(claims(), 'another-secret-another-secret-another!')), 'JUNCTION_INVALID_TOKEN', /signature does not verify/)
  const expired = await s.call('/hmac/x', hs(claims({ exp: now() - 5 })))
  refused(t, expired, 'JUNCTION_TOKEN_EXPIRED')
  t.match(expired.headers['www-authenticate'], /error="invalid_token", error_description="The bearer token has expired/)
  refused(t, await s.call('/hmac/x', hs(claims({ aud: 'billing' }))), 'JUNCTION_INVALID_TOKEN', /"aud" claim is not accepted/)
  refused(t, await s.call('/hmac/x', hs(claims({ iss: 'https://evil.example.com' }))), 'JUNCTION_INVALID_TOKEN', /"iss" claim is not accepted/)
  refused(t, await s.call('/hmac/x', hs(claims({ exp: undefined }))), 'JUNCTION_INVALID_TOKEN', /required claim "exp"/)
  refused(t, await s.call('/hmac/x', hs(claims({ nbf: now() + 3600 }))), 'JUNCTION_INVALID_TOKEN', /not valid yet/)
  refused(t, await s.call('/hmac/x', signJwt(claims(), { alg: 'none' })), 'JUNCTION_INVALID_TOKEN')
  refused(t, await s.call('/hmac/x', 'not.a.jwt'), 'JUNCTION_INVALID_TOKEN', /well-formed/)
  refused(t, await s.call('/hmac/x', 'garbage'), 'JUNCTION_INVALID_TOKEN')
  refused(t, await s.call('/hmac/x', signJwt(claims(), { alg: 'RS256', key: s.rsa.privateKey })), 'JUNCTION_INVALID_TOKEN', /algorithm/)
  t.equal(s.seen.length, 0, 'no refused request reached the service')
})

t.test('clock tolerance, and requiredClaims: []', async t => {
  const s = await setup(t)
  t.equal((await s.call('/lenient/x', signJwt({ sub: 'a', exp: now() - 3 }, { alg: 'HS256', key: SECRET }))).status, 200, 'expired 3 s ago, within 10 s of tolerance')
  refused(t, await s.call('/lenient/x', signJwt({ sub: 'a', exp: now() - 60 }, { alg: 'HS256', key: SECRET })), 'JUNCTION_TOKEN_EXPIRED')
  t.equal((await s.call('/lenient/x', signJwt({ sub: 'a' }, { alg: 'HS256', key: SECRET }))).status, 200, 'no exp required here')
})

t.test('RSA public key: RS256 and PS256 pass; another key, and HS256 keyed with the public key, do not', async t => {
  const s = await setup(t)
  t.equal((await s.call('/rsa/x', signJwt(claims(), { alg: 'RS256', key: s.rsa.privateKey }))).status, 200)
  t.equal((await s.call('/rsa/x', signJwt(claims(), { alg: 'PS256', key: s.rsa.privateKey }))).status, 200)
  refused(t, await s.call('/rsa/x', signJwt(claims(), { alg: 'RS256', key: KEYS.otherRsa.privateKey })), 'JUNCTION_INVALID_TOKEN', /signature/)
  // The classic algorithm confusion: an HMAC "signed" with the public key the gateway holds.
  refused(t, await s.call('/rsa/x', signJwt(claims(), { alg: 'HS256', key: s.rsa.publicPem })), 'JUNCTION_INVALID_TOKEN', /algorithm/)
  t.equal(s.seen.length, 2)
})

t.test('EC key from a PEM file: ES256 passes, a token from another EC key does not', async t => {
  const s = await setup(t)
  t.equal((await s.call('/ec/x', signJwt(claims(), { alg: 'ES256', key: s.ec.privateKey }))).status, 200)
  refused(t, await s.call('/ec/x', signJwt(claims(), { alg: 'ES256', key: keyPair('ec-p256').privateKey })), 'JUNCTION_INVALID_TOKEN', /signature/)
})

t.test('JWKS file: the token\'s kid selects the key', async t => {
  const s = await setup(t)
  const k = s.jwks
  for (const [kid, alg, key] of [['r1', 'RS256', k.rsa], ['e1', 'ES256', k.ec], ['e2', 'ES384', k.ec384], ['d1', 'EdDSA', k.ed]] as const) {
    const res = await s.call('/set/x', signJwt(claims({ sub: `by-${kid}` }), { alg, key: key.privateKey, kid }))
    t.equal(res.status, 200, `${alg} with kid ${kid}`)
    t.equal(s.seen.at(-1)?.headers['x-user-id'], `by-${kid}`)
  }
  refused(t, await s.call('/set/x', signJwt(claims(), { alg: 'ES256', key: k.ec.privateKey, kid: 'r1' })), 'JUNCTION_INVALID_TOKEN', /algorithm/)
  refused(t, await s.call('/set/x', signJwt(claims(), { alg: 'RS256', key: KEYS.otherRsa.privateKey, kid: 'r1' })), 'JUNCTION_INVALID_TOKEN', /signature/)
  refused(t, await s.call('/set/x', signJwt(claims(), { alg: 'RS256', key: k.rsa.privateKey, kid: 'nope' })), 'JUNCTION_INVALID_TOKEN', /no key has its "kid" "nope"/)
  refused(t, await s.call('/set/x', signJwt(claims(), { alg: 'RS256', key: k.rsa.privateKey })), 'JUNCTION_INVALID_TOKEN', /no "kid"/)
  refused(t, await s.call('/set/x', signJwt(claims(), { alg: 'RS256', key: KEYS.otherRsa.privateKey, kid: 'enc1' })), 'JUNCTION_INVALID_TOKEN', /no key has its "kid"/)
  t.equal(s.seen.length, 4)
})

t.test('a token without the forwarded claim: the client\'s copy of the header is still removed', async t => {
  const s = await setup(t)
  const token = signJwt({ iss: 'https://id.example.com', aud: 'junction', exp: now() + 60 }, { alg: 'HS256', key: SECRET })
  t.equal((await s.call('/hmac/x', token, { 'x-user-id': 'admin', 'x-roles': 'admin' })).status, 200)
  const h = s.seen.at(-1)?.headers ?? {}
  t.equal(h['x-user-id'], undefined)
  t.equal(h['x-roles'], undefined)
})

t.test('a token verified before is refused once it expires, though it was remembered', async t => {
  const s = await setup(t)
  const token = signJwt(claims({ exp: now() + 1 }), { alg: 'HS256', key: SECRET })
  t.equal((await s.call('/hmac/x', token)).status, 200)
  t.equal((await s.call('/hmac/x', token)).status, 200, 'from the verified-token cache')
  let res = await s.call('/hmac/x', token)
  for (let i = 0; i < 60 && res.status === 200; i++) {
    await new Promise(resolve => setTimeout(resolve, 50))
    res = await s.call('/hmac/x', token)
  }
  refused(t, res, 'JUNCTION_TOKEN_EXPIRED')
})
