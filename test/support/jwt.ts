/**
 * Signs JWTs for tests with node:crypto alone, so the tokens do not come from the library
 * that verifies them (a shared bug would cancel out). Keys are generated per test run.
 */
import { createHmac, generateKeyPairSync, sign as cryptoSign, type KeyObject } from 'node:crypto'

export type TestAlgorithm = 'HS256' | 'RS256' | 'PS256' | 'ES256' | 'ES384' | 'EdDSA' | 'none'

export interface SignOptions {
  readonly alg: TestAlgorithm
  /** A secret (HS*) or a private key. */
  readonly key?: string | KeyObject
  readonly kid?: string
}

const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')

export function signJwt (payload: Record<string, unknown>, opts: SignOptions): string {
  const header: Record<string, unknown> = { alg: opts.alg, typ: 'JWT' }
  if (opts.kid !== undefined) header.kid = opts.kid
  const input = `${b64(header)}.${b64(payload)}`
  const key = opts.key
  let signature: Buffer
  switch (opts.alg) {
    case 'none':
      return `${input}.`
    case 'HS256':
      signature = createHmac('sha256', key as string | KeyObject).update(input).digest()
      break
    case 'RS256':
      signature = cryptoSign('sha256', Buffer.from(input), key as KeyObject)
      break
    case 'PS256':
      signature = cryptoSign('sha256', Buffer.from(input), { key: key as KeyObject, padding: 6 /* RSA_PKCS1_PSS_PADDING */, saltLength: 32 })
      break
    case 'ES256':
      signature = cryptoSign('sha256', Buffer.from(input), { key: key as KeyObject, dsaEncoding: 'ieee-p1363' })
      break
    case 'ES384':
      signature = cryptoSign('sha384', Buffer.from(input), { key: key as KeyObject, dsaEncoding: 'ieee-p1363' })
      break
    case 'EdDSA':
      signature = cryptoSign(null, Buffer.from(input), key as KeyObject)
      break
  }
  return `${input}.${signature.toString('base64url')}`
}

/** Seconds since the epoch, as JWT times are. */
export const now = (): number => Math.floor(Date.now() / 1000)

export interface TestKeyPair {
  readonly privateKey: KeyObject
  readonly publicKey: KeyObject
  /** SPKI PEM of the public key. */
  readonly publicPem: string
}

export function keyPair (type: 'rsa' | 'ec-p256' | 'ec-p384' | 'ed25519'): TestKeyPair {
  const pair = type === 'rsa'
    ? generateKeyPairSync('rsa', { modulusLength: 2048 })
    : type === 'ed25519'
      ? generateKeyPairSync('ed25519')
      : generateKeyPairSync('ec', { namedCurve: type === 'ec-p256' ? 'P-256' : 'P-384' })
  return { ...pair, publicPem: pair.publicKey.export({ type: 'spki', format: 'pem' }).toString() }
}

/** A public key as a JWK, with the given extra members (kid, alg, use). */
export function jwk (pair: TestKeyPair, extra: Record<string, string> = {}): Record<string, unknown> {
  return { ...pair.publicKey.export({ format: 'jwk' }), ...extra }
}
