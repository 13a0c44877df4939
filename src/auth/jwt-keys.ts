/**
 * The keys a JWT authenticator verifies with, read once at config load: an HMAC secret, a
 * PEM public key, or a JWKS file (RFC 7517) whose keys tokens select by `kid`. Public keys
 * are parsed with node:crypto and stored as SPKI PEM text, which is what @fastify/jwt
 * (fast-jwt) takes; a JWK becomes PEM through `createPublicKey({ key, format: 'jwk' })`.
 *
 * Each key carries the algorithms it can verify, derived from its type (an RSA key verifies
 * RS* and PS*, a P-256 key ES256...) and narrowed by the JWK's `alg` when it has one: a token
 * can never pick an algorithm its key was not meant for (no HS256-with-a-public-key confusion).
 *
 * Plain functions returning a result or a reason: the config stage turns reasons into issues.
 */
import { createPublicKey, type KeyObject } from 'node:crypto'

export const JWT_ALGORITHMS = [
  'HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'
] as const
export type JwtAlgorithm = typeof JWT_ALGORITHMS[number]

export const HMAC_ALGORITHMS: readonly JwtAlgorithm[] = ['HS256', 'HS384', 'HS512']
const RSA_ALGORITHMS: readonly JwtAlgorithm[] = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512']
const CURVE_ALGORITHMS: Readonly<Record<string, JwtAlgorithm>> = { prime256v1: 'ES256', secp384r1: 'ES384', secp521r1: 'ES512' }

/** A key ready for a verifier: the secret or SPKI PEM, and what it may verify. */
export interface JwtKey {
  /** The JWK's `kid`; undefined for a secret, a PEM key, or a JWK without one. */
  readonly kid: string | undefined
  readonly type: 'secret' | 'public'
  /** The HMAC secret, or the public key as SPKI PEM. */
  readonly material: string
  readonly algorithms: readonly JwtAlgorithm[]
  /** What the key is, for messages: "an RSA public key", "an EC P-256 public key". */
  readonly description: string
}

export type KeyResult = { readonly ok: true, readonly key: JwtKey } | { readonly ok: false, readonly reason: string }
export type KeySetResult = { readonly ok: true, readonly keys: readonly JwtKey[] } | { readonly ok: false, readonly reasons: readonly string[] }

/** RFC 7518 §3.2: an HMAC key must be at least as long as the hash output; 32 bytes for HS256. */
export const MIN_SECRET_BYTES = 32

export function secretKey (secret: string): JwtKey {
  return { kid: undefined, type: 'secret', material: secret, algorithms: HMAC_ALGORITHMS, description: 'an HMAC secret' }
}

/** A PEM public key (SPKI "PUBLIC KEY", PKCS#1 "RSA PUBLIC KEY" or an X.509 certificate). */
export function pemKey (text: string): KeyResult {
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) {
    return { ok: false, reason: 'is a private key; give the public key only (e.g. openssl pkey -in key.pem -pubout)' }
  }
  if (!text.includes('-----BEGIN ')) return { ok: false, reason: 'is not a PEM public key: expected text starting with -----BEGIN PUBLIC KEY-----' }
  let key: KeyObject
  try {
    key = createPublicKey(text)
  } catch (err) {
    return { ok: false, reason: `is not a PEM public key (${(err as Error).message})` }
  }
  return described(key, undefined, undefined)
}

/**
 * A JWKS document: `{ "keys": [ ... ] }`. Keys for encryption (`"use": "enc"`) are skipped;
 * private and symmetric keys are refused (a JWKS file is public material). With more than
 * one key, every key needs a distinct `kid`, since that is how a token picks its key.
 */
export function jwksKeys (text: string): KeySetResult {
  let doc: unknown
  try {
    doc = JSON.parse(text)
  } catch (err) {
    return { ok: false, reasons: [`is not JSON (${(err as Error).message})`] }
  }
  if (!isObject(doc) || !Array.isArray(doc.keys)) return { ok: false, reasons: ['is not a JWKS: expected { "keys": [ ... ] }'] }
  const reasons: string[] = []
  const keys: JwtKey[] = []
  const kids = new Map<string, number>()
  doc.keys.forEach((jwk: unknown, i) => {
    const at = `keys[${i}]`
    if (!isObject(jwk)) {
      reasons.push(`${at} is not a JSON object`)
      return
    }
    if (jwk.use === 'enc') return
    const kid = typeof jwk.kid === 'string' && jwk.kid !== '' ? jwk.kid : undefined
    const label = kid === undefined ? at : `${at} (kid ${JSON.stringify(kid)})`
    if (jwk.kty === 'oct') {
      reasons.push(`${label} is a symmetric key; a JWKS file holds public keys (use "secret" for HS256)`)
      return
    }
    if ('d' in jwk) {
      reasons.push(`${label} contains a private key ("d"); publish only the public part`)
      return
    }
    let key: KeyObject
    try {
      key = createPublicKey({ key: jwk as import('node:crypto').JsonWebKey, format: 'jwk' })
    } catch (err) {
      reasons.push(`${label} is not a usable public key (${(err as Error).message})`)
      return
    }
    const alg = typeof jwk.alg === 'string' ? jwk.alg : undefined
    const result = described(key, kid, alg)
    if (!result.ok) {
      reasons.push(`${label} ${result.reason}`)
      return
    }
    if (kid !== undefined) {
      const first = kids.get(kid)
      if (first !== undefined) {
        reasons.push(`${label} repeats the kid of keys[${first}]; each key needs its own kid`)
        return
      }
      kids.set(kid, i)
    }
    keys.push(result.key)
  })
  if (reasons.length > 0) return { ok: false, reasons }
  if (keys.length === 0) return { ok: false, reasons: ['has no signing keys'] }
  if (keys.length > 1 && keys.some(key => key.kid === undefined)) {
    return { ok: false, reasons: ['has several keys, so each needs a "kid": tokens select their key by it'] }
  }
  return { ok: true, keys }
}

function described (key: KeyObject, kid: string | undefined, alg: string | undefined): KeyResult {
  const type = key.asymmetricKeyType
  let algorithms: readonly JwtAlgorithm[]
  let description: string
  switch (type) {
    case 'rsa':
      algorithms = RSA_ALGORITHMS
      description = 'an RSA public key'
      break
    case 'rsa-pss':
      algorithms = ['PS256', 'PS384', 'PS512']
      description = 'an RSA-PSS public key'
      break
    case 'ec': {
      const curve = key.asymmetricKeyDetails?.namedCurve ?? 'unknown'
      const algorithm = CURVE_ALGORITHMS[curve]
      if (algorithm === undefined) return { ok: false, reason: `uses the curve ${curve}; JWT signatures use P-256, P-384 or P-521` }
      algorithms = [algorithm]
      description = `an EC ${algorithm === 'ES256' ? 'P-256' : algorithm === 'ES384' ? 'P-384' : 'P-521'} public key`
      break
    }
    case 'ed25519':
    case 'ed448':
      algorithms = ['EdDSA']
      description = `an ${type === 'ed25519' ? 'Ed25519' : 'Ed448'} public key`
      break
    default:
      return { ok: false, reason: `is a ${type ?? 'unknown'} key; JWT signatures use RSA, EC or Ed25519 keys` }
  }
  if (alg !== undefined) {
    if (!algorithms.includes(alg as JwtAlgorithm)) {
      return { ok: false, reason: `says "alg": ${JSON.stringify(alg)}, which ${description} cannot verify (it can verify ${algorithms.join(', ')})` }
    }
    algorithms = [alg as JwtAlgorithm]
  }
  const material = key.export({ type: 'spki', format: 'pem' }).toString()
  return { ok: true, key: { kid, type: 'public', material, algorithms, description } }
}

function isObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
