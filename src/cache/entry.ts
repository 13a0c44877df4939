/**
 * A stored response and its L2 serialization.
 *
 * Wire format (version 1):
 *   bytes 0-1  "JC"           magic, so a foreign value under our key is detected
 *   byte  2    1              format version
 *   bytes 3-6  uint32 BE      length N of the metadata
 *   bytes 7..  N bytes        metadata, UTF-8 JSON with short field names (below)
 *   rest       the body, raw  (no base64: bodies are most of the bytes)
 *
 * Times are epoch milliseconds of the instance that stored the entry; instances are
 * assumed to have clocks within a second or so of each other (NTP), which is the
 * precision of Age anyway.
 */
import { headerList } from './header-value.js'
import type { HttpHeaders } from './types.js'

export interface CacheEntry {
  readonly status: number
  /** Stored header lines, lowercase names; a repeated header is several lines. */
  readonly headers: ReadonlyArray<readonly [string, string]>
  readonly body: Buffer
  readonly storedAt: number
  /** Age reported by the upstream when it was stored, in ms. */
  readonly initialAgeMs: number
  readonly freshUntil: number
  /** End of the stale-while-revalidate window (≥ freshUntil). */
  readonly staleUntil: number
  /** End of the stale-if-error window (≥ freshUntil). */
  readonly staleIfErrorUntil: number
  /**
   * When the entry leaves both tiers (≥ both stale windows): later than them when the
   * upstream gave a validator, so a stale entry can be revalidated (a conditional request,
   * 304) instead of fetched again.
   */
  readonly keepUntil: number
  readonly etag: string
  /** Every tag, implicit ones (route, URI) included. */
  readonly tags: readonly string[]
  /** The invalidation sequence number read when the fill started (see tag-index.ts). */
  readonly stamp: number
  /** May be served to requests with Authorization (RFC 9111 §3.5). */
  readonly authorizedOk: boolean
}

interface Meta {
  s: number
  h: Array<[string, string]>
  at: number
  a: number
  f: number
  w: number
  e: number
  /** keepUntil; absent in entries written before it existed (then the last stale window). */
  k?: number
  t: string
  g: string[]
  q: number
  z: 0 | 1
}

const MAGIC = 0x4a43 // "JC"
const VERSION = 1
const HEAD = 7

/** Hop-by-hop fields (RFC 9110 §7.6.1). */
const HOP_BY_HOP = [
  'connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization',
  'proxy-authentication-info', 'te', 'trailer', 'transfer-encoding', 'upgrade'
]
/** Hop-by-hop fields and fields the cache computes itself. */
const NOT_STORED = new Set([...HOP_BY_HOP, 'content-length', 'age', 'x-cache', 'set-cookie'])
/**
 * Fields a 304 does not replace (RFC 9111 §3.2: those the stored body depends on, and
 * Content-Length); the stored ETag stays too, as it names the stored body.
 */
const KEPT_ON_304 = new Set([...HOP_BY_HOP, 'content-length', 'content-encoding', 'content-range', 'content-md5', 'etag', 'x-cache'])

/** The header lines worth storing: no hop-by-hop, nothing we recompute, minus `strip`. */
export function storedHeaders (headers: HttpHeaders, strip: readonly string[] = []): Array<[string, string]> {
  const drop = new Set([...NOT_STORED, ...headerList(headers, 'connection'), ...strip])
  const out: Array<[string, string]> = []
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase()
    if (value === undefined || drop.has(lower)) continue
    if (typeof value === 'string') out.push([lower, value])
    else for (const v of value) out.push([lower, v])
  }
  return out
}

/** The upstream's validators of a stored response, for a conditional request (RFC 9110 §13.1). */
export interface Validators {
  readonly etag?: string
  readonly lastModified?: string
}

/** The entry's own validators (never the ETag the cache made from the body), or undefined. */
export function validatorsOf (entry: CacheEntry): Validators | undefined {
  let etag: string | undefined
  let lastModified: string | undefined
  for (const [name, value] of entry.headers) {
    if (name === 'etag') etag ??= value
    else if (name === 'last-modified') lastModified ??= value
  }
  if (etag === undefined && lastModified === undefined) return undefined
  return { ...(etag === undefined ? {} : { etag }), ...(lastModified === undefined ? {} : { lastModified }) }
}

/**
 * The stored response freshened by a 304 (RFC 9111 §4.3.4): every field of the 304
 * replaces the stored one, except hop-by-hop fields and those in KEPT_ON_304. The result
 * is judged like a new response (storability, freshness), so a 304 saying no-store or
 * setting a cookie is not stored.
 */
export function freshenedHeaders (entry: CacheEntry, notModified: HttpHeaders): Record<string, string | string[]> {
  const keep = new Set([...KEPT_ON_304, ...headerList(notModified, 'connection')])
  const out: Record<string, string | string[]> = {}
  for (const [name, value] of entry.headers) {
    const had = out[name]
    out[name] = had === undefined ? value : Array.isArray(had) ? [...had, value] : [had, value]
  }
  for (const [name, value] of Object.entries(notModified)) {
    const lower = name.toLowerCase()
    if (value === undefined || keep.has(lower)) continue
    out[lower] = typeof value === 'string' ? value : [...value]
  }
  return out
}

/** The Age of an entry at `now` (RFC 9111 §4.2.3): seconds since the origin produced it. */
export function entryAgeSeconds (entry: CacheEntry, now: number): number {
  return Math.max(0, Math.floor((entry.initialAgeMs + now - entry.storedAt) / 1000))
}

/** Bytes this entry occupies in memory, roughly: what the L1 byte bound counts. */
export function entrySize (entry: CacheEntry): number {
  let size = entry.body.length + 200
  for (const [name, value] of entry.headers) size += name.length + value.length + 16
  for (const tag of entry.tags) size += tag.length + 16
  return size
}

export function encodeEntry (entry: CacheEntry): Buffer {
  const meta: Meta = {
    s: entry.status,
    h: entry.headers.map(([n, v]) => [n, v]),
    at: entry.storedAt,
    a: entry.initialAgeMs,
    f: entry.freshUntil,
    w: entry.staleUntil,
    e: entry.staleIfErrorUntil,
    k: entry.keepUntil,
    t: entry.etag,
    g: [...entry.tags],
    q: entry.stamp,
    z: entry.authorizedOk ? 1 : 0
  }
  const json = Buffer.from(JSON.stringify(meta))
  const head = Buffer.alloc(HEAD)
  head.writeUInt16BE(MAGIC, 0)
  head.writeUInt8(VERSION, 2)
  head.writeUInt32BE(json.length, 3)
  return Buffer.concat([head, json, entry.body])
}

/** Returns undefined for anything that is not a well-formed version-1 entry. */
export function decodeEntry (buf: Buffer): CacheEntry | undefined {
  if (buf.length < HEAD || buf.readUInt16BE(0) !== MAGIC || buf.readUInt8(2) !== VERSION) return undefined
  const len = buf.readUInt32BE(3)
  if (HEAD + len > buf.length) return undefined
  let meta: Meta
  try {
    meta = JSON.parse(buf.subarray(HEAD, HEAD + len).toString('utf8')) as Meta
  } catch {
    return undefined
  }
  if (typeof meta !== 'object' || meta === null || typeof meta.s !== 'number' || !Array.isArray(meta.h) || !Array.isArray(meta.g)) return undefined
  return {
    status: meta.s,
    headers: meta.h,
    // A copy: the caller's buffer (from the store) must not pin a larger allocation.
    body: Buffer.from(buf.subarray(HEAD + len)),
    storedAt: meta.at,
    initialAgeMs: meta.a,
    freshUntil: meta.f,
    staleUntil: meta.w,
    staleIfErrorUntil: meta.e,
    keepUntil: meta.k ?? Math.max(meta.w, meta.e),
    etag: meta.t,
    tags: meta.g,
    stamp: meta.q,
    authorizedOk: meta.z === 1
  }
}
