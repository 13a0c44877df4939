/**
 * The top-level `auth:` block: the authenticators routes refer to by name, and the default
 * for routes that name none (docs/security.md).
 *
 *   auth:
 *     default: staff                 # optional: an authenticator (or list), or "public"
 *     jwt:
 *       staff: { jwksFile: keys/staff.jwks.json, issuer: https://id.example.com, audience: junction,
 *                forwardClaims: { sub: x-user-id } }
 *     apiKeys:
 *       partners: { header: x-api-key, keys: [{ name: acme, key: "${ACME_API_KEY}" }] }
 *
 * Everything about the block lives here: its schema (used by ./schema.ts), its checks (key
 * material is read and parsed here, so a bad PEM or JWKS fails `junction check`, not the
 * first request) and its normaliser. Route-side keys (`auth:`, `public:`, `scopes:`) are in
 * ./route-protection.ts.
 */
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { Type, type Static, type TSchema, type TUnsafe } from '@sinclair/typebox'
import { type ConfigIssue, type PathSegment, formatPath, quoteList } from './config-error.js'
import { parseDuration } from './units.js'
import { JWT_ALGORITHMS, MIN_SECRET_BYTES, jwksKeys, pemKey, secretKey, type JwtAlgorithm, type JwtKey } from '../auth/jwt-keys.js'

/** What `auth.default` (and a route's `auth:`) may say instead of naming authenticators. */
export const PUBLIC = 'public'
export const AUTHENTICATOR_NAME_PATTERN = /^[A-Za-z][A-Za-z0-9_-]*$/
export const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/
export const DEFAULT_API_KEY_HEADER = 'x-api-key'
/** Shorter keys can be guessed; 16 characters of a random key are ~95 bits (base64) or 64 (hex). */
export const MIN_API_KEY_LENGTH = 16

/**
 * Headers a claim may not be forwarded as: the message framing and connection, what the
 * gateway sets itself, and credentials.
 */
const RESERVED_HEADERS = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer',
  'transfer-encoding', 'upgrade', 'expect', 'host', 'content-length', 'content-type', 'content-encoding',
  'x-request-id', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'forwarded', 'authorization', 'cookie'
])

const NonEmptyString = (description: string, extra: Record<string, unknown> = {}) => Type.String({ minLength: 1, description, ...extra })

/** A name or a list of names: `auth: staff` or `auth: [staff, partners]`. */
export function authReference (description: string): TUnsafe<string | string[]> {
  return Type.Unsafe<string | string[]>({
    type: ['string', 'array'],
    minLength: 1,
    items: { type: 'string', minLength: 1, description: 'An authenticator name.' },
    minItems: 1,
    uniqueItems: true,
    description
  })
}

const ClaimHeadersSchema = Type.Unsafe<Record<string, string>>({
  type: 'object',
  additionalProperties: { type: 'string', minLength: 1, description: 'The request header the claim is sent in, e.g. x-user-id.' },
  description: 'Claims sent to the service as request headers: { <claim>: <header> }, e.g. { sub: x-user-id, tenant: x-tenant }. A client\'s own copy of these headers is removed from every request, on every route. Default: none.'
})

export const JwtAuthenticatorSchema = Type.Object({
  // eslint-disable-next-line no-template-curly-in-string -- the description shows env-substitution syntax
  secret: Type.Optional(NonEmptyString('HMAC secret (HS256, HS384, HS512), at least 32 bytes. Keep it out of the file: "${JWT_SECRET}". Exactly one of secret, publicKey, publicKeyFile, jwksFile.')),
  publicKey: Type.Optional(NonEmptyString('A PEM public key (RSA, EC or Ed25519: RS*, PS*, ES*, EdDSA), the text itself. Exactly one of secret, publicKey, publicKeyFile, jwksFile.')),
  publicKeyFile: Type.Optional(NonEmptyString('A file holding a PEM public key, relative to the config file. Exactly one of secret, publicKey, publicKeyFile, jwksFile.')),
  jwksFile: Type.Optional(NonEmptyString('A JWKS file ({ "keys": [...] }, RFC 7517), relative to the config file; a token selects its key by "kid". Read at start. Exactly one of secret, publicKey, publicKeyFile, jwksFile.')),
  algorithms: Type.Optional(Type.Array(Type.Unsafe<JwtAlgorithm>({ type: 'string', enum: [...JWT_ALGORITHMS], description: 'A JWS algorithm.' }), {
    minItems: 1,
    uniqueItems: true,
    description: 'Algorithms accepted. Default: every algorithm the key can verify (a secret: HS256/384/512; an RSA key: RS*/PS*; an EC key: its ES*; Ed25519: EdDSA). "none" is never accepted.'
  })),
  issuer: Type.Optional(authList('Accepted "iss" values (one or a list). Default: any issuer; set it.')),
  audience: Type.Optional(authList('Accepted "aud" values (one or a list); a token must carry one of them. Default: any audience; set it, or a token minted for another service is accepted here.')),
  clockTolerance: Type.Optional(Type.Unsafe<string | number>({
    type: ['string', 'integer'],
    description: 'Leeway for "exp" and "nbf", for clocks that differ. A duration: a string with a unit ("500ms", "2s", "5m") or an integer of milliseconds. Default 0.',
    examples: ['5s', '30s']
  })),
  requiredClaims: Type.Optional(Type.Array(NonEmptyString('A claim name, e.g. exp or sub.'), {
    uniqueItems: true,
    description: 'Claims a token must have. Default [exp]: a token without an expiry is refused; [] accepts one.'
  })),
  scopeClaim: Type.Optional(NonEmptyString('The claim routes\' "scopes" are checked against: a space-separated string or a list of strings. Default "scope".')),
  forwardClaims: Type.Optional(ClaimHeadersSchema)
}, { additionalProperties: false, description: 'A JWT authenticator: verifies "Authorization: Bearer <token>".' })

const ApiKeySchema = Type.Object({
  name: NonEmptyString('Names the key in logs and in the "key" claim, e.g. acme.'),
  // eslint-disable-next-line no-template-curly-in-string -- the description shows env-substitution syntax
  key: NonEmptyString('The key itself, at least 16 characters. Keep it out of the file: "${ACME_API_KEY}".'),
  subject: Type.Optional(NonEmptyString('The caller this key stands for: the "sub" claim (forwarded, and the rate-limit key "sub"). Default: the key\'s name.')),
  scopes: Type.Optional(Type.Array(NonEmptyString('A scope, e.g. orders:read.'), { uniqueItems: true, description: 'Scopes this key grants, checked against routes\' "scopes". Default: none.' })),
  claims: Type.Optional(Type.Unsafe<Record<string, string>>({
    type: 'object',
    additionalProperties: { type: 'string', description: 'The claim\'s value.' },
    description: 'More claims of this key, for forwardClaims, e.g. { tenant: acme }.'
  }))
}, { additionalProperties: false, description: 'One API key.' })

export const ApiKeysAuthenticatorSchema = Type.Object({
  header: Type.Optional(NonEmptyString('The request header carrying the key. Default x-api-key. The header is removed before the request reaches a service.')),
  keys: Type.Array(ApiKeySchema, { minItems: 1, description: 'The keys accepted, each compared in constant time.' }),
  forwardClaims: Type.Optional(ClaimHeadersSchema)
}, { additionalProperties: false, description: 'An API-key authenticator. A key\'s claims are "sub" (its subject), "key" (its name), "scope" and its own "claims".' })

function authList (description: string): TUnsafe<string | string[]> {
  return Type.Unsafe<string | string[]>({
    type: ['string', 'array'],
    minLength: 1,
    items: { type: 'string', minLength: 1 },
    minItems: 1,
    uniqueItems: true,
    description
  })
}

/** A map of named entries: `additionalProperties` is the entry schema (names are checked in checkAuthBlock). */
function byName<T extends TSchema> (schema: T, description: string): TUnsafe<Record<string, Static<T>>> {
  return Type.Unsafe<Record<string, Static<T>>>({ type: 'object', additionalProperties: schema, description })
}

export const AuthSchema = Type.Object({
  default: Type.Optional(authReference('What routes without "auth:" or "public:" get: an authenticator name (or a list: any one of them), or "public". Default: none, so with authenticators declared every route must say.')),
  jwt: Type.Optional(byName(JwtAuthenticatorSchema, 'JWT authenticators, by name (letters, digits, "-" and "_").')),
  apiKeys: Type.Optional(byName(ApiKeysAuthenticatorSchema, 'API-key authenticators, by name (letters, digits, "-" and "_").'))
}, { additionalProperties: false, description: 'Authenticators routes refer to by name ("auth: staff"); see docs/security.md.' })

export type RawAuth = Static<typeof AuthSchema>
export type RawJwtAuthenticator = Static<typeof JwtAuthenticatorSchema>
export type RawApiKeysAuthenticator = Static<typeof ApiKeysAuthenticatorSchema>

/** A claim sent to services as a header. */
export interface ClaimHeader {
  readonly claim: string
  /** Lower case. */
  readonly header: string
}

export interface JwtAuthenticatorConfig {
  readonly kind: 'jwt'
  readonly name: string
  /** One key (secret or PEM), or a JWKS's keys, each with a distinct kid. */
  readonly keys: readonly JwtKey[]
  /** The algorithms allowed by config; each key allows those it can verify. */
  readonly algorithms: readonly JwtAlgorithm[] | undefined
  readonly issuer: readonly string[] | undefined
  readonly audience: readonly string[] | undefined
  readonly clockToleranceMs: number
  readonly requiredClaims: readonly string[]
  readonly scopeClaim: string
  readonly forwardClaims: readonly ClaimHeader[]
}

export interface ApiKeyConfig {
  readonly name: string
  readonly key: string
  readonly subject: string
  readonly scopes: readonly string[]
  readonly claims: Readonly<Record<string, string>>
}

export interface ApiKeysAuthenticatorConfig {
  readonly kind: 'apiKey'
  readonly name: string
  /** Lower case. */
  readonly header: string
  readonly keys: readonly ApiKeyConfig[]
  readonly forwardClaims: readonly ClaimHeader[]
}

export type AuthenticatorConfig = JwtAuthenticatorConfig | ApiKeysAuthenticatorConfig

// ---- checks -----------------------------------------------------------------------

/** The authenticators a (possibly malformed) document declares: name → kind. */
export function declaredAuthenticators (auth: unknown): Map<string, 'jwt' | 'apiKey'> {
  const names = new Map<string, 'jwt' | 'apiKey'>()
  if (!isObject(auth)) return names
  if (isObject(auth.jwt)) for (const name of Object.keys(auth.jwt)) names.set(name, 'jwt')
  if (isObject(auth.apiKeys)) for (const name of Object.keys(auth.apiKeys)) if (!names.has(name)) names.set(name, 'apiKey')
  return names
}

/**
 * Checks the `auth:` block: names, one key source per JWT authenticator and its material
 * (files read and parsed here), algorithms against the keys, durations, claim headers,
 * API keys (length, uniqueness). `auth.default` is checked with the routes.
 */
export function checkAuthBlock (auth: unknown, baseDir: string, issues: ConfigIssue[]): void {
  if (!isObject(auth)) return
  const jwtNames = isObject(auth.jwt) ? Object.keys(auth.jwt) : []
  for (const kind of ['jwt', 'apiKeys'] as const) {
    const block = auth[kind]
    if (!isObject(block)) continue
    for (const [name, value] of Object.entries(block)) {
      const at = (...more: PathSegment[]): PathSegment[] => ['auth', kind, name, ...more]
      if (!AUTHENTICATOR_NAME_PATTERN.test(name)) {
        issues.push({ path: formatPath(at()), message: `invalid authenticator name; use letters, digits, "-" and "_", starting with a letter (${AUTHENTICATOR_NAME_PATTERN.source})` })
      } else if (name === PUBLIC) {
        issues.push({ path: formatPath(at()), message: `"${PUBLIC}" is reserved (routes write "public: true", and auth.default may be "public"); choose another name` })
      } else if (kind === 'apiKeys' && jwtNames.includes(name)) {
        issues.push({ path: formatPath(at()), message: `the name "${name}" is already used by auth.jwt.${name}; routes refer to authenticators by name, so give each its own` })
      }
      if (!isObject(value)) continue
      if (kind === 'jwt') checkJwt(value, baseDir, at, issues)
      else checkApiKeys(value, at, issues)
    }
  }
}

const KEY_SOURCES = ['secret', 'publicKey', 'publicKeyFile', 'jwksFile'] as const

function checkJwt (jwt: Record<string, unknown>, baseDir: string, at: (...more: PathSegment[]) => PathSegment[], issues: ConfigIssue[]): void {
  const loaded = loadJwtKeys(jwt, baseDir)
  if (!loaded.ok) {
    for (const issue of loaded.issues) issues.push({ path: formatPath(at(...issue.at)), message: issue.message })
  } else if (Array.isArray(jwt.algorithms)) {
    const usable = new Set(loaded.keys.flatMap(key => key.algorithms))
    const unusable = (jwt.algorithms as unknown[]).filter((a): a is string => typeof a === 'string' && (JWT_ALGORITHMS as readonly string[]).includes(a) && !usable.has(a as JwtAlgorithm))
    if (unusable.length > 0) {
      const what = loaded.keys.length === 1 ? (loaded.keys[0] as JwtKey).description : 'the keys of the JWKS'
      issues.push({ path: formatPath(at('algorithms')), message: `${quoteList(unusable)} cannot be verified with ${what}; it verifies ${quoteList([...usable])}` })
    }
  }
  const tolerance = jwt.clockTolerance
  if (typeof tolerance === 'string' || typeof tolerance === 'number') {
    const ms = parseDuration(tolerance)
    if (ms === undefined || ms < 0) {
      issues.push({ path: formatPath(at('clockTolerance')), message: `${JSON.stringify(tolerance)} is not a duration; write a number with a unit, e.g. "5s" or "30s", or an integer of milliseconds (0 for none)` })
    }
  }
  checkClaimHeaders(jwt.forwardClaims, at('forwardClaims'), issues)
}

function checkApiKeys (block: Record<string, unknown>, at: (...more: PathSegment[]) => PathSegment[], issues: ConfigIssue[]): void {
  if (typeof block.header === 'string' && block.header !== '') {
    const header = block.header
    if (!HEADER_NAME.test(header)) {
      issues.push({ path: formatPath(at('header')), message: `${JSON.stringify(header)} is not a header name; write the name only, e.g. "x-api-key"` })
    } else if (RESERVED_HEADERS.has(header.toLowerCase())) {
      issues.push({ path: formatPath(at('header')), message: `${JSON.stringify(header)} cannot carry an API key (it has another meaning in HTTP or is set by the gateway); use e.g. "x-api-key"` })
    }
  }
  if (Array.isArray(block.keys)) {
    const names = new Map<string, number>()
    const values = new Map<string, number>()
    block.keys.forEach((entry: unknown, i) => {
      if (!isObject(entry)) return
      if (typeof entry.name === 'string' && entry.name !== '') {
        const first = names.get(entry.name)
        if (first !== undefined) issues.push({ path: formatPath(at('keys', i, 'name')), message: `${JSON.stringify(entry.name)} already names keys[${first}]; give each key its own name` })
        else names.set(entry.name, i)
      }
      if (typeof entry.key === 'string' && entry.key !== '') {
        const first = values.get(entry.key)
        if (entry.key.length < MIN_API_KEY_LENGTH) {
          issues.push({ path: formatPath(at('keys', i, 'key')), message: `is ${entry.key.length} character${entry.key.length === 1 ? '' : 's'} long; an API key needs at least ${MIN_API_KEY_LENGTH} (e.g. openssl rand -hex 24)` })
        } else if (first !== undefined) {
          issues.push({ path: formatPath(at('keys', i, 'key')), message: `is the same key as keys[${first}]; each key must be distinct, or a caller cannot be told apart` })
        } else {
          values.set(entry.key, i)
        }
      }
    })
  }
  checkClaimHeaders(block.forwardClaims, at('forwardClaims'), issues)
}

function checkClaimHeaders (claims: unknown, path: PathSegment[], issues: ConfigIssue[]): void {
  if (!isObject(claims)) return
  const seen = new Map<string, string>()
  for (const [claim, header] of Object.entries(claims)) {
    if (typeof header !== 'string' || header === '') continue
    const at = formatPath([...path, claim])
    const lower = header.toLowerCase()
    if (!HEADER_NAME.test(header)) {
      issues.push({ path: at, message: `${JSON.stringify(header)} is not a header name; write the name only, e.g. "x-user-id"` })
    } else if (RESERVED_HEADERS.has(lower)) {
      issues.push({ path: at, message: `${JSON.stringify(header)} cannot carry a claim (it has another meaning in HTTP or is set by the gateway); use e.g. "x-user-id"` })
    } else if (seen.has(lower)) {
      issues.push({ path: at, message: `${JSON.stringify(header)} already carries the claim "${seen.get(lower) as string}"; one header per claim` })
    } else {
      seen.set(lower, claim)
    }
  }
}

type LoadedKeys =
  | { readonly ok: true, readonly keys: readonly JwtKey[] }
  | { readonly ok: false, readonly issues: ReadonlyArray<{ readonly at: PathSegment[], readonly message: string }> }

/** Reads a JWT authenticator's key material (files relative to `baseDir`): used by the check and the normaliser. */
function loadJwtKeys (jwt: Record<string, unknown>, baseDir: string): LoadedKeys {
  const given = KEY_SOURCES.filter(source => typeof jwt[source] === 'string' && jwt[source] !== '')
  if (given.length !== 1) {
    const found = given.length === 0 ? 'found none' : `found ${given.map(s => `"${s}"`).join(' and ')}`
    return { ok: false, issues: [{ at: [], message: `needs exactly one key source: ${quoteList(KEY_SOURCES)}; ${found}` }] }
  }
  const source = given[0] as typeof KEY_SOURCES[number]
  const value = jwt[source] as string
  switch (source) {
    case 'secret': {
      const bytes = Buffer.byteLength(value, 'utf8')
      if (bytes < MIN_SECRET_BYTES) {
        return { ok: false, issues: [{ at: ['secret'], message: `is ${bytes} byte${bytes === 1 ? '' : 's'} long; an HMAC secret needs at least ${MIN_SECRET_BYTES} (RFC 7518 §3.2), e.g. openssl rand -base64 48` }] }
      }
      return { ok: true, keys: [secretKey(value)] }
    }
    case 'publicKey': {
      const key = pemKey(value)
      return key.ok ? { ok: true, keys: [key.key] } : { ok: false, issues: [{ at: ['publicKey'], message: key.reason }] }
    }
    case 'publicKeyFile': {
      const text = readText(value, baseDir)
      if (!text.ok) return { ok: false, issues: [{ at: ['publicKeyFile'], message: text.message }] }
      const key = pemKey(text.text)
      return key.ok ? { ok: true, keys: [key.key] } : { ok: false, issues: [{ at: ['publicKeyFile'], message: `${JSON.stringify(value)} ${key.reason}` }] }
    }
    case 'jwksFile': {
      const text = readText(value, baseDir)
      if (!text.ok) return { ok: false, issues: [{ at: ['jwksFile'], message: text.message }] }
      const set = jwksKeys(text.text)
      return set.ok ? { ok: true, keys: set.keys } : { ok: false, issues: set.reasons.map(reason => ({ at: ['jwksFile'], message: `${JSON.stringify(value)} ${reason}` })) }
    }
  }
}

function readText (file: string, baseDir: string): { ok: true, text: string } | { ok: false, message: string } {
  const path = resolve(baseDir, file)
  try {
    return { ok: true, text: readFileSync(path, 'utf8') }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    const reason = code === 'ENOENT' ? 'it does not exist' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code === 'EISDIR' ? 'it is a directory' : (err as Error).message
    return { ok: false, message: `cannot read ${JSON.stringify(file)} (${path}): ${reason}; paths are relative to the config file` }
  }
}

// ---- normaliser -------------------------------------------------------------------

/** A validated, checked `auth:` block → authenticators by name (a null-prototype map). */
export function normaliseAuthenticators (auth: RawAuth | undefined, baseDir: string): Record<string, AuthenticatorConfig> {
  const out: Record<string, AuthenticatorConfig> = Object.create(null)
  for (const [name, jwt] of Object.entries(auth?.jwt ?? {})) {
    const loaded = loadJwtKeys(jwt as Record<string, unknown>, baseDir)
    if (!loaded.ok) throw new Error(`internal: unchecked keys of auth.jwt.${name}`)
    out[name] = {
      kind: 'jwt',
      name,
      keys: loaded.keys,
      algorithms: jwt.algorithms === undefined ? undefined : [...jwt.algorithms],
      issuer: list(jwt.issuer),
      audience: list(jwt.audience),
      clockToleranceMs: jwt.clockTolerance === undefined ? 0 : parseDuration(jwt.clockTolerance) ?? 0,
      requiredClaims: [...(jwt.requiredClaims ?? ['exp'])],
      scopeClaim: jwt.scopeClaim ?? 'scope',
      forwardClaims: claimHeaders(jwt.forwardClaims)
    }
  }
  for (const [name, block] of Object.entries(auth?.apiKeys ?? {})) {
    out[name] = {
      kind: 'apiKey',
      name,
      header: (block.header ?? DEFAULT_API_KEY_HEADER).toLowerCase(),
      keys: block.keys.map(key => ({
        name: key.name,
        key: key.key,
        subject: key.subject ?? key.name,
        scopes: [...(key.scopes ?? [])],
        claims: { ...(key.claims ?? {}) }
      })),
      forwardClaims: claimHeaders(block.forwardClaims)
    }
  }
  return out
}

function list (value: string | string[] | undefined): string[] | undefined {
  return value === undefined ? undefined : typeof value === 'string' ? [value] : [...value]
}

function claimHeaders (claims: Record<string, string> | undefined): ClaimHeader[] {
  return Object.entries(claims ?? {}).map(([claim, header]) => ({ claim, header: header.toLowerCase() }))
}

function isObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
