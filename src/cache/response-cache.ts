/**
 * The response cache: an in-process L1 bounded by bytes (lru-cache) in front of an L2 in
 * the store (Redis or embedded), with request coalescing, stale-while-revalidate,
 * stale-if-error and tag invalidation that is safe against slow fills. docs/cache.md has
 * the design; this file is the orchestration:
 *
 *   serve(request, fetch)
 *     request rule (method, Range, Authorization) ─ bypass ─────────────► fetch, BYPASS
 *     L1 → L2 (entry checked against tag stamps) ─ fresh ───────────────► HIT
 *                                                ─ within SWR window ───► STALE + one
 *                                                                          background refresh
 *     miss/expired → one fill per key in this process (in-flight map)
 *                    → one fill per key across instances (store lock; followers poll L2)
 *                    → upstream error/5xx with an entry in its stale-if-error window ► STALE
 *                    → storable? stamp still current? store in L2, index tags, put in L1
 *
 * Invalidation (`invalidateTags`, `invalidateAfterWrite`, `purgeKey`) records stamps in
 * the store, deletes the tagged L2 entries, drops this instance's L1 entries, and
 * publishes one message so other instances drop theirs.
 *
 * The store failing makes the cache pass requests through (reported to `onError`); it
 * never fails a request that the upstream could answer.
 */
import { randomUUID } from 'node:crypto'
import { LRUCache } from 'lru-cache'
import { ADVANCE_PLACEHOLDER, type Store } from '../store/store.js'
import { decodeEntry, encodeEntry, entryAgeSeconds, entrySize, freshenedHeaders, storedHeaders, validatorsOf, type CacheEntry, type Validators } from './entry.js'
import { bodyEtag, ifNoneMatchMatches } from './etag.js'
import { headerFirst } from './header-value.js'
import { requestRule, storability } from './storability.js'
import { TagIndex, type TagStamp } from './tag-index.js'
import type { CachePolicy, CacheStatus, HttpHeaders, UpstreamResponse } from './types.js'

export interface ResponseCacheOptions {
  readonly store: Store
  /** L1 bound, in bytes of bodies plus headers (default 64 MiB). */
  readonly l1MaxBytes?: number
  /** Larger responses are not cached in either tier (default 1 MiB). */
  readonly maxEntryBytes?: number
  /** Upper bound of an entry's life in L2, stale windows included (default 1 day). */
  readonly maxEntryTtlMs?: number
  /** The cross-instance fill lock expires after this (default 5 s): a crashed filler frees it. */
  readonly lockTtlMs?: number
  /** How long a request waits for another instance's fill before fetching itself (default 3 s). */
  readonly lockWaitMs?: number
  /**
   * How long an entry with a validator (upstream ETag or Last-Modified) is kept after its
   * stale windows, to be revalidated with a conditional request (default 5 min).
   */
  readonly revalidateKeepMs?: number
  /** Poll interval while waiting for another instance's fill (default 20 ms). */
  readonly lockPollMs?: number
  /** How long a tag stamp read from the store is trusted without a message (default 1 s). */
  readonly stampCacheMs?: number
  /** Pub/sub channel of invalidations (default `cache:invalidate`). */
  readonly channel?: string
  /** Store errors the cache survived by passing through; default: ignored. */
  readonly onError?: (err: Error, during: string) => void
}

/** One request as the cache needs to see it. */
export interface CacheRequest {
  /** From cacheKey(): route, method, path and the selected variant. */
  readonly key: string
  readonly method: string
  readonly headers: HttpHeaders
  /** Route id: every entry is tagged `route:<id>` (purge a whole route). */
  readonly route: string
  /** Gateway-facing path: every entry is tagged `uri:<path>` (RFC 9111 §4.4). */
  readonly path: string
  readonly policy: CachePolicy
  /** Request headers the key selects on (lowercase); the response may Vary only on these. */
  readonly keyHeaders?: readonly string[]
  /** Tags templated from the request (route params); response tags come with the response. */
  readonly tags?: readonly string[]
  /** This route's cross-instance fill lock; default: the cache's lockTtlMs / lockWaitMs. */
  readonly lock?: { readonly ttlMs: number, readonly waitMs: number }
}

export interface CacheResult {
  readonly status: number
  readonly headers: Record<string, string | string[]>
  readonly body: Buffer
  /** Also sent as X-Cache. */
  readonly cache: CacheStatus
  /** Why the response was not stored or the cache was bypassed (for logs). */
  readonly reason?: string
}

/**
 * Calls the upstream. `validators` (from a stored response) ask for a conditional request
 * (If-None-Match / If-Modified-Since): a fetch that honours them may get a 304, which
 * freshens the stored response; one that ignores them (a compose route) just answers.
 */
export type Fetch = (validators?: Validators) => Promise<UpstreamResponse>

export interface CacheStats {
  readonly l1Entries: number
  readonly l1Bytes: number
  readonly fetches: number
  readonly hits: number
  readonly misses: number
  readonly stale: number
  readonly revalidated: number
  readonly bypasses: number
}

/** What one fill produced, shared by every request that waited on it. */
type FillOutcome =
  | { readonly kind: 'response', readonly response: UpstreamResponse, readonly entry: CacheEntry | undefined, readonly shareable: boolean, readonly reason: string | undefined, readonly revalidated?: boolean }
  | { readonly kind: 'cached', readonly entry: CacheEntry }
  | { readonly kind: 'error', readonly error: unknown }
  /** Another instance held the lock and stored nothing usable in time: fetch yourself. */
  | { readonly kind: 'alone' }

/** How a fill runs. */
interface Fill {
  /** The stored entry past its freshness, if any: its validators make the request conditional. */
  readonly stale?: CacheEntry | undefined
  /** An entry within stale-if-error exists: a 5xx answer must not replace it. */
  readonly keepOnError?: boolean
  /** True once the key was purged during the fill: the answer is then not stored. */
  readonly poisoned?: () => boolean
}

interface Message {
  readonly from: string
  readonly stamps?: readonly TagStamp[]
  readonly keys?: readonly string[]
}

const ERROR_STATUSES = new Set([500, 502, 503, 504])
const UNSAFE_SAFE = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE'])

const entryKey = (key: string): string => `cache:e:${key}`
const lockKey = (key: string): string => `cache:lk:${key}`
const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

/** The implicit tags of every entry. */
export function routeTag (route: string): string { return `route:${route}` }
export function uriTag (path: string): string { return `uri:${path}` }

function toError (err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err))
}

/** What ResponseCache.rendering() keeps beside an L1 entry: the value, and the bytes it holds. */
export interface Rendering<T> {
  readonly value: T
  readonly bytes: number
}

export class ResponseCache {
  readonly instanceId = randomUUID()
  private readonly store: Store
  private readonly l1: LRUCache<string, CacheEntry>
  /** tag → L1 keys carrying it, so a message drops exactly those entries. */
  private readonly l1Tags = new Map<string, Set<string>>()
  private readonly l1MaxBytes: number
  private readonly l1MaxEntryBytes: number
  /** What rendering() made of L1 entries (null: too large to make), and their bytes in all. */
  private readonly renderings = new WeakMap<CacheEntry, Rendering<object> | null>()
  private renderedBytes = 0
  private readonly tagIndex: TagIndex
  private readonly inFlight = new Map<string, { promise: Promise<FillOutcome>, poisoned: boolean }>()
  private readonly refreshing = new Set<Promise<unknown>>()
  private readonly refreshingKeys = new Set<string>()
  /** The invalidations gathered during this turn of the event loop (see invalidateTags). */
  private invalidating: { readonly tags: Set<string>, done: Promise<void> } | undefined
  private unsubscribe: (() => Promise<void>) | undefined
  private closed = false
  private readonly counters = { fetches: 0, hits: 0, misses: 0, stale: 0, revalidated: 0, bypasses: 0 }
  /** Told when a request waits for another's fill of the same key (plugins/metrics.ts counts it per route). */
  onCoalesced: (route: string) => void = () => {}

  private readonly maxEntryBytes: number
  private readonly maxEntryTtlMs: number
  private readonly lockTtlMs: number
  private readonly lockWaitMs: number
  private readonly lockPollMs: number
  private readonly revalidateKeepMs: number
  private readonly channel: string
  private readonly onError: (err: Error, during: string) => void

  private constructor (opts: ResponseCacheOptions) {
    this.store = opts.store
    this.maxEntryBytes = opts.maxEntryBytes ?? 1024 * 1024
    this.maxEntryTtlMs = opts.maxEntryTtlMs ?? 24 * 3600_000
    this.lockTtlMs = opts.lockTtlMs ?? 5000
    this.lockWaitMs = opts.lockWaitMs ?? 3000
    this.lockPollMs = opts.lockPollMs ?? 20
    this.revalidateKeepMs = opts.revalidateKeepMs ?? 5 * 60_000
    this.channel = opts.channel ?? 'cache:invalidate'
    this.onError = opts.onError ?? (() => {})
    const l1MaxBytes = opts.l1MaxBytes ?? 64 * 1024 * 1024
    this.l1MaxBytes = l1MaxBytes
    // One entry may not take more than a quarter of L1, or it would flush everything else.
    this.l1MaxEntryBytes = Math.max(1, Math.floor(l1MaxBytes / 4))
    this.l1 = new LRUCache<string, CacheEntry>({
      maxSize: l1MaxBytes,
      sizeCalculation: entrySize,
      maxEntrySize: this.l1MaxEntryBytes,
      dispose: (entry, key) => { this.unindexLocal(key, entry) }
    })
    this.tagIndex = new TagIndex(this.store, {
      // Invalidation records must outlive every entry and every fill (see tag-index.ts).
      stampTtlMs: this.maxEntryTtlMs + this.lockTtlMs + 60_000,
      stampCacheMs: opts.stampCacheMs ?? 1000,
      maxCachedStamps: 100_000,
      onSequenceReset: () => this.l1.clear()
    })
  }

  /** Creates the cache and subscribes to invalidations from other instances. */
  static async open (opts: ResponseCacheOptions): Promise<ResponseCache> {
    const cache = new ResponseCache(opts)
    cache.unsubscribe = await cache.store.subscribe(cache.channel, message => { cache.onMessage(message) })
    return cache
  }

  // --- serving ---------------------------------------------------------------------------

  /**
   * serve()'s hot path on its own, synchronous: the HIT for a fresh L1 entry whose tag
   * stamps are all cached, else undefined (then serve() decides). A caller answering a hit
   * this way pays for no promise and builds no fetch.
   */
  hit (req: CacheRequest): CacheResult | undefined {
    const rule = requestRule(req.method, req.headers, req.policy)
    if (!rule.use) return undefined
    const local = this.freshLocal(req.key, rule.authorized)
    return local === undefined ? undefined : this.fromEntry(local, 'HIT')
  }

  /**
   * hit()'s test without its answer: the fresh L1 entry under `key`, whose tag stamps are
   * all cached and current, or undefined. `authorized`: the request carries Authorization
   * and the key does not tell callers apart. For the cache-hit shortcut, which checks the
   * request itself, writes the answer itself (hitAnswer, or its own form of it) and counts
   * it (countHit).
   */
  freshLocal (key: string, authorized: boolean): CacheEntry | undefined {
    // Store down: serve() bypasses both tiers (see there).
    if (!this.store.available()) return undefined
    const local = this.l1.get(key)
    if (local !== undefined && Date.now() < local.freshUntil && (!authorized || local.authorizedOk) &&
      this.tagIndex.currentIfKnown(local.tags, local.stamp) === true) {
      return local
    }
    return undefined
  }

  /**
   * A form of the L1 entry under `key` made once by `make` and kept while the entry stays in
   * L1 (the cache-hit shortcut's rendered answer: one kind per cache). Its bytes count in
   * L1's bound: least recently used entries leave to make room. undefined when the entry is
   * no longer the one in L1, or would take more than an entry's share of L1 with it.
   */
  rendering<T extends object> (key: string, entry: CacheEntry, make: (entry: CacheEntry) => Rendering<T>): T | undefined {
    const had = this.renderings.get(entry)
    if (had !== undefined) return had === null ? undefined : had.value as T
    if (this.l1.peek(key) !== entry) return undefined
    const made = make(entry)
    if (entrySize(entry) + made.bytes > this.l1MaxEntryBytes) {
      this.renderings.set(entry, null)
      return undefined
    }
    this.renderings.set(entry, made)
    this.renderedBytes += made.bytes
    this.trimLocal()
    return made.value
  }

  /** The HIT answer of an entry freshLocal gave (counted). */
  hitAnswer (entry: CacheEntry): CacheResult {
    return this.fromEntry(entry, 'HIT')
  }

  /** Counts a HIT answered from an entry freshLocal gave, without hitAnswer. */
  countHit (): void {
    this.counters.hits++
  }

  async serve (req: CacheRequest, fetch: Fetch): Promise<CacheResult> {
    const rule = requestRule(req.method, req.headers, req.policy)
    if (!rule.use) return this.passThrough(await this.fetchCounted(fetch), 'BYPASS', rule.reason)
    // The store is known to be down (Redis away): neither tier is used until it is back.
    // L1 is skipped too: its entries' tag stamps cannot be checked, so invalidations made
    // meanwhile (by another instance) could not be seen.
    if (!this.store.available()) return this.passThrough(await this.fetchCounted(fetch), 'BYPASS', 'store-unavailable')

    // The hot path: a fresh L1 entry whose tag stamps are all cached answers without
    // awaiting anything (no store round trip, no promise chain).
    const local = this.l1.get(req.key)
    if (local !== undefined && Date.now() < local.freshUntil && (!rule.authorized || local.authorizedOk) &&
      this.tagIndex.currentIfKnown(local.tags, local.stamp) === true) {
      return this.fromEntry(local, 'HIT')
    }

    let entry = await this.lookup(req.key)
    if (entry !== undefined && rule.authorized && !entry.authorizedOk) entry = undefined
    const now = Date.now()
    if (entry !== undefined && now < entry.freshUntil) return this.fromEntry(entry, 'HIT')
    if (entry !== undefined && now < entry.staleUntil) {
      this.refreshInBackground(req, fetch, entry)
      return this.fromEntry(entry, 'STALE')
    }
    const forError = entry !== undefined && now < entry.staleIfErrorUntil ? entry : undefined
    // A stale entry (kept for its validators) makes the fill a conditional request.
    const fill: Fill = { stale: entry, keepOnError: forError !== undefined }

    // Requests with Authorization (route not keyed by identity) and request no-store fetch
    // on their own: their answers may be personal, so nobody waits on them.
    if (rule.authorized || !rule.store) {
      const outcome = await this.fill({ ...req, authorized: rule.authorized }, fetch, rule.store, fill)
      return this.finish(outcome, forError, rule.authorized ? 'authorization' : undefined)
    }

    return this.finish(await this.coalescedFill(req, fetch, fill), forError, undefined)
  }

  /** Turns a fill outcome into this request's answer. */
  private finish (outcome: FillOutcome, forError: CacheEntry | undefined, bypassReason: string | undefined): CacheResult {
    switch (outcome.kind) {
      case 'cached':
        return this.fromEntry(outcome.entry, 'HIT')
      case 'error':
        if (forError !== undefined) return this.fromEntry(forError, 'STALE')
        throw outcome.error
      case 'alone':
        throw new Error('unreachable: a lone fill is retried by serve()')
      case 'response': {
        if (ERROR_STATUSES.has(outcome.response.status) && forError !== undefined) return this.fromEntry(forError, 'STALE')
        if (outcome.entry !== undefined) return this.fromEntry(outcome.entry, outcome.revalidated === true ? 'REVALIDATED' : 'MISS')
        const status: CacheStatus = bypassReason !== undefined ? 'BYPASS' : 'MISS'
        return this.passThrough(outcome.response, status, outcome.reason ?? bypassReason)
      }
    }
  }

  /**
   * One fill per key in this process. Waiters get the leader's outcome when it may be
   * shared; a personal answer (Set-Cookie, private, no-store) makes each waiter fetch its own.
   */
  private async coalescedFill (req: CacheRequest, fetch: Fetch, how: Fill): Promise<FillOutcome> {
    const running = this.inFlight.get(req.key)
    if (running !== undefined) {
      this.onCoalesced(req.route)
      const outcome = await running.promise
      // 'alone' only comes from a background refresh that found another instance at work.
      if (outcome.kind === 'alone' || (outcome.kind === 'response' && !outcome.shareable)) return await this.fill(req, fetch, true, how)
      return outcome
    }
    const slot = { promise: undefined as unknown as Promise<FillOutcome>, poisoned: false }
    const poisoned = { ...how, poisoned: () => slot.poisoned }
    slot.promise = (async () => {
      try {
        const outcome = await this.lockedFill(req, fetch, poisoned)
        // Another instance held the lock and left nothing usable: this process fetches
        // once, for all of its waiters.
        return outcome.kind === 'alone' ? await this.fill(req, fetch, true, poisoned) : outcome
      } finally {
        if (this.inFlight.get(req.key) === slot) this.inFlight.delete(req.key)
      }
    })()
    this.inFlight.set(req.key, slot)
    return await slot.promise
  }

  /**
   * One fill per key across instances: a short lock in the store. Whoever does not get it
   * polls L2 for the winner's entry, and fetches on its own when the winner finishes
   * without storing one or the wait runs out. Every loop here is bounded.
   */
  private async lockedFill (req: CacheRequest, fetch: Fetch, how: Fill): Promise<FillOutcome> {
    const lockWaitMs = req.lock?.waitMs ?? this.lockWaitMs
    let locked: boolean
    try {
      locked = await this.store.setIfAbsent(lockKey(req.key), this.instanceId, { ttlMs: req.lock?.ttlMs ?? this.lockTtlMs })
    } catch (err) {
      this.onError(toError(err), 'lock')
      locked = true // no store, no lock: fetch (the store is down for everyone)
    }
    if (locked) {
      try {
        return await this.fill(req, fetch, true, how)
      } finally {
        this.store.delete([lockKey(req.key)]).catch(err => this.onError(toError(err), 'unlock'))
      }
    }
    const waitStart = Date.now()
    const rounds = Math.max(1, Math.ceil(lockWaitMs / this.lockPollMs))
    for (let i = 0; i < rounds && Date.now() - waitStart < lockWaitMs; i++) {
      await sleep(this.lockPollMs)
      const entry = await this.readL2(req.key)
      if (entry !== undefined && Date.now() < entry.freshUntil) {
        this.putLocal(req.key, entry)
        return { kind: 'cached', entry }
      }
      let held: boolean
      try {
        held = (await this.store.get(lockKey(req.key))) !== null
      } catch {
        held = false
      }
      if (!held) {
        // The winner stores before it unlocks: one more look settles the race.
        const last = await this.readL2(req.key)
        if (last !== undefined && Date.now() < last.freshUntil) {
          this.putLocal(req.key, last)
          return { kind: 'cached', entry: last }
        }
        return { kind: 'alone' }
      }
    }
    return { kind: 'alone' }
  }

  /**
   * Fetches from the upstream and stores the response when allowed. The stamp is read
   * before the upstream is called; the entry is kept only if no tag it carries was
   * invalidated since (checked against the store after writing, so an invalidation that
   * lands in between is caught too).
   */
  private async fill (
    req: CacheRequest & { authorized?: boolean }, fetch: Fetch, mayStore: boolean, how: Fill
  ): Promise<FillOutcome> {
    const poisoned = how.poisoned ?? (() => false)
    let stamp: number | undefined
    try {
      stamp = await this.tagIndex.snapshot()
    } catch (err) {
      this.onError(toError(err), 'snapshot')
    }
    const validators = how.stale === undefined ? undefined : validatorsOf(how.stale)
    let response: UpstreamResponse
    try {
      response = await this.fetchCounted(fetch, validators)
    } catch (error) {
      return { kind: 'error', error }
    }
    let revalidated = false
    if (response.status === 304 && validators !== undefined && how.stale !== undefined) {
      // The stored body is still good: the stored response, freshened by the 304's fields,
      // is judged (storable? how fresh?) like a new response. Its tags are the stored ones.
      const stale = how.stale
      response = { status: stale.status, headers: freshenedHeaders(stale, response.headers), body: stale.body, tags: stale.tags.filter(tag => tag !== routeTag(req.route)) }
      revalidated = true
    }
    // A 5xx does not replace an entry that stale-if-error can still serve.
    if (how.keepOnError === true && ERROR_STATUSES.has(response.status)) return { kind: 'response', response, entry: undefined, shareable: true, reason: 'error-kept-stale' }
    const verdict = storability({
      request: { headers: req.headers, authorized: req.authorized === true, store: mayStore },
      response,
      policy: req.policy,
      keyHeaders: (req.keyHeaders ?? []).map(h => h.toLowerCase())
    })
    if (!verdict.storable) return { kind: 'response', response, entry: undefined, shareable: verdict.shareable, reason: verdict.reason, revalidated }
    if (response.body.length > this.maxEntryBytes) return { kind: 'response', response, entry: undefined, shareable: true, reason: 'too-large' }
    if (stamp === undefined) return { kind: 'response', response, entry: undefined, shareable: true, reason: 'store-unavailable' }

    const now = Date.now()
    const t = verdict.lifetimes
    const freshUntil = now + t.freshMs
    const cap = now + this.maxEntryTtlMs
    const explicit = [...(req.tags ?? []), ...(response.tags ?? []), uriTag(req.path)]
    const tags = [...new Set([...explicit, routeTag(req.route)])]
    const staleUntil = Math.min(cap, Math.max(freshUntil, freshUntil + t.staleWhileRevalidateMs))
    const staleIfErrorUntil = Math.min(cap, Math.max(freshUntil, freshUntil + t.staleIfErrorMs))
    const lastUse = Math.max(staleUntil, staleIfErrorUntil)
    const entry: CacheEntry = {
      status: response.status,
      headers: storedHeaders(response.headers, verdict.stripFields),
      body: response.body,
      storedAt: now,
      initialAgeMs: t.initialAgeMs,
      freshUntil,
      staleUntil,
      staleIfErrorUntil,
      keepUntil: verdict.revalidatable ? Math.min(cap, Math.max(lastUse, now) + this.revalidateKeepMs) : lastUse,
      etag: headerFirst(response.headers, 'etag') ?? bodyEtag(response.body),
      tags,
      stamp,
      authorizedOk: verdict.authorizedOk
    }
    const ttlMs = entry.keepUntil - now
    if (ttlMs <= 0) return { kind: 'response', response, entry: undefined, shareable: true, reason: 'no-freshness' }
    try {
      // The route tag is not indexed: its set would hold every key of the route. Purging
      // a route relies on the stamp alone (entries then expire unseen).
      await this.tagIndex.index(req.key, [...new Set(explicit)], this.maxEntryTtlMs)
      await this.store.set(entryKey(req.key), encodeEntry(entry), { ttlMs })
      if (poisoned() || !(await this.tagIndex.isCurrent(tags, stamp, true))) {
        // A write invalidated a tag (or purged the key) while the upstream was answering:
        // this response may predate it. Hand it to the waiting requests, keep it nowhere.
        await this.store.delete([entryKey(req.key)])
        return { kind: 'response', response, entry: undefined, shareable: true, reason: 'invalidated-during-fill' }
      }
    } catch (err) {
      this.onError(toError(err), 'store')
      return { kind: 'response', response, entry: undefined, shareable: true, reason: 'store-unavailable' }
    }
    this.putLocal(req.key, entry)
    return { kind: 'response', response, entry, shareable: true, reason: undefined, revalidated }
  }

  /** One refresh per key: in this process (a key set), across instances (the lock). */
  private refreshInBackground (req: CacheRequest, fetch: Fetch, stale: CacheEntry): void {
    if (this.closed || this.refreshingKeys.has(req.key) || this.inFlight.has(req.key)) return
    this.refreshingKeys.add(req.key)
    const slot = { promise: undefined as unknown as Promise<FillOutcome>, poisoned: false }
    const run = (async (): Promise<FillOutcome> => {
      let locked = false
      try {
        locked = await this.store.setIfAbsent(lockKey(req.key), this.instanceId, { ttlMs: req.lock?.ttlMs ?? this.lockTtlMs })
        // Another instance is refreshing it: its entry will reach us through L2.
        if (!locked) return { kind: 'alone' }
        return await this.fill(req, fetch, true, { stale, keepOnError: true, poisoned: () => slot.poisoned })
      } catch (err) {
        this.onError(toError(err), 'refresh')
        return { kind: 'error', error: err }
      } finally {
        if (locked) await this.store.delete([lockKey(req.key)]).catch(err => this.onError(toError(err), 'unlock'))
        this.refreshingKeys.delete(req.key)
        if (this.inFlight.get(req.key) === slot) this.inFlight.delete(req.key)
      }
    })()
    slot.promise = run
    // Requests arriving after the stale window while this runs wait on it instead of fetching.
    this.inFlight.set(req.key, slot)
    this.refreshing.add(run)
    run.finally(() => this.refreshing.delete(run)).catch(() => {})
  }

  private async fetchCounted (fetch: Fetch, validators?: Validators): Promise<UpstreamResponse> {
    this.counters.fetches++
    return await (validators === undefined ? fetch() : fetch(validators))
  }

  // --- tiers -----------------------------------------------------------------------------

  /**
   * L1, then L2; an entry whose tags were invalidated after its fill is no entry. A stale
   * L1 entry is compared with L2 first: another instance may have refreshed it already.
   */
  private async lookup (key: string): Promise<CacheEntry | undefined> {
    let local = this.l1.get(key)
    if (local !== undefined) {
      if (!(await this.current(local))) {
        this.l1.delete(key)
        local = undefined
      } else if (Date.now() < local.freshUntil) {
        return local
      }
    }
    const remote = await this.readL2(key)
    if (remote === undefined || (local !== undefined && remote.storedAt < local.storedAt)) return local
    this.putLocal(key, remote)
    return remote
  }

  private async current (entry: CacheEntry): Promise<boolean> {
    try {
      return await this.tagIndex.isCurrent(entry.tags, entry.stamp)
    } catch (err) {
      this.onError(toError(err), 'stamps')
      return false
    }
  }

  private async readL2 (key: string): Promise<CacheEntry | undefined> {
    let raw: Buffer | null
    try {
      raw = await this.store.get(entryKey(key))
    } catch (err) {
      this.onError(toError(err), 'lookup')
      return undefined
    }
    const entry = raw === null ? undefined : decodeEntry(raw)
    if (entry === undefined) return undefined
    if (Date.now() >= entry.keepUntil) return undefined
    return (await this.current(entry)) ? entry : undefined
  }

  private putLocal (key: string, entry: CacheEntry): void {
    const ttl = entry.keepUntil - Date.now()
    if (ttl <= 0 || this.closed) return
    this.l1.set(key, entry, { ttl })
    // set() may have refused it (larger than maxEntrySize): index only what is there.
    if (this.l1.peek(key) !== entry) return
    for (const tag of entry.tags) {
      let keys = this.l1Tags.get(tag)
      if (keys === undefined) {
        keys = new Set()
        this.l1Tags.set(tag, keys)
      }
      keys.add(key)
    }
    // Indexed first: should room have to be made, whatever leaves takes its tags along.
    this.trimLocal()
  }

  /** The LRU keeps its entries within L1's bound; this keeps them and their renderings within it. */
  private trimLocal (): void {
    while (this.renderedBytes > 0 && this.l1.calculatedSize + this.renderedBytes > this.l1MaxBytes && this.l1.size > 0) this.l1.pop()
  }

  /** An entry left L1 (evicted, deleted, replaced): its tags and rendering go with it. */
  private unindexLocal (key: string, entry: CacheEntry): void {
    const rendering = this.renderings.get(entry)
    if (rendering !== undefined) {
      if (rendering !== null) this.renderedBytes -= rendering.bytes
      this.renderings.delete(entry)
    }
    for (const tag of entry.tags) {
      const keys = this.l1Tags.get(tag)
      if (keys === undefined) continue
      keys.delete(key)
      if (keys.size === 0) this.l1Tags.delete(tag)
    }
  }

  private dropLocalTags (tags: readonly string[]): void {
    for (const tag of tags) {
      for (const key of [...(this.l1Tags.get(tag) ?? [])]) this.l1.delete(key)
    }
  }

  // --- answers ---------------------------------------------------------------------------

  private fromEntry (entry: CacheEntry, status: CacheStatus): CacheResult {
    this.count(status)
    return entryAnswer(entry, status)
  }

  private passThrough (response: UpstreamResponse, status: CacheStatus, reason: string | undefined): CacheResult {
    this.count(status)
    const headers: Record<string, string | string[]> = {}
    for (const [name, value] of Object.entries(response.headers)) {
      if (value !== undefined) headers[name] = typeof value === 'string' ? value : [...value]
    }
    headers['x-cache'] = status
    return reason === undefined
      ? { status: response.status, headers, body: response.body, cache: status }
      : { status: response.status, headers, body: response.body, cache: status, reason }
  }

  private count (status: CacheStatus): void {
    if (status === 'HIT') this.counters.hits++
    else if (status === 'MISS') this.counters.misses++
    else if (status === 'STALE') this.counters.stale++
    else if (status === 'REVALIDATED') this.counters.revalidated++
    else this.counters.bypasses++
  }

  // --- invalidation ----------------------------------------------------------------------

  /**
   * Invalidates every entry carrying one of `tags`, in L2 and in this instance's L1, before
   * resolving; other instances drop their L1 entries when the message reaches them.
   * Rejects when the store cannot record it (the caller decides what the client hears).
   *
   * The invalidations asked for during one turn of the event loop are made together at its
   * end: one sequence number and one message for all of them, where each write took its
   * own (a write route invalidates before every 2xx, so under load this was most of the
   * store commands a write cost the gateway). Each caller still resolves only once its tags
   * are stamped, so a client's answer still follows the invalidation of its write.
   */
  async invalidateTags (tags: readonly string[]): Promise<void> {
    if (tags.length === 0) return
    let batch = this.invalidating
    if (batch === undefined) {
      const gathering = { tags: new Set<string>(), done: Promise.resolve() }
      gathering.done = new Promise<void>(resolve => { setImmediate(resolve) }).then(async () => {
        this.invalidating = undefined
        await this.invalidateNow([...gathering.tags])
      })
      this.invalidating = batch = gathering
    }
    for (const tag of tags) batch.tags.add(tag)
    await batch.done
  }

  private async invalidateNow (unique: readonly string[]): Promise<void> {
    // One round trip on a single Redis (this runs before every write's 2xx): the sequence
    // number, the tags' stamps and the message to other instances in one store operation,
    // the tag sets taken behind it. Taking the sets need not wait for the stamps to be
    // acknowledged: the store applies it after them, and an entry is never served once a
    // stamp of one of its tags exceeds its own (the eager deletion below only frees memory
    // early). The message is written with the placeholder where the sequence number goes:
    // the store puts the number in when it has it.
    const stamps = unique.map(tag => `{"tag":${JSON.stringify(tag)},"seq":${ADVANCE_PLACEHOLDER}}`).join(',')
    const message = `{"from":${JSON.stringify(this.instanceId)},"stamps":[${stamps}]}`
    const [, keys] = await Promise.all([
      this.tagIndex.invalidate(unique, { channel: this.channel, message }),
      this.tagIndex.takeKeys(unique)
    ])
    this.dropLocalTags(unique)
    if (keys.length > 0) await this.store.delete(keys.map(entryKey))
  }

  /**
   * After a write's answer from its owner: a 2xx to an unsafe method invalidates the
   * declared tags and the target URI (RFC 9111 §4.4). Other answers invalidate nothing.
   */
  async invalidateAfterWrite (write: { method: string, status: number, path: string, tags?: readonly string[] }): Promise<void> {
    if (write.status < 200 || write.status >= 300 || UNSAFE_SAFE.has(write.method.toUpperCase())) return
    await this.invalidateTags([...(write.tags ?? []), uriTag(write.path)])
  }

  /** Admin purge by tag. */
  async purgeTag (tag: string): Promise<void> {
    await this.invalidateTags([tag])
  }

  /**
   * Admin purge by key. Deleting is enough for stored entries; a fill of that key already
   * running in any instance is told (poisoned) not to store its result.
   */
  async purgeKey (key: string): Promise<void> {
    this.forgetKeys([key])
    await this.store.delete([entryKey(key)])
    await this.publish({ from: this.instanceId, keys: [key] })
  }

  private forgetKeys (keys: readonly string[]): void {
    for (const key of keys) {
      this.l1.delete(key)
      const running = this.inFlight.get(key)
      if (running !== undefined) running.poisoned = true
    }
  }

  private async publish (message: Message): Promise<void> {
    try {
      await this.store.publish(this.channel, JSON.stringify(message))
    } catch (err) {
      // L2 is already invalidated; other instances' L1 catch up within stampCacheMs.
      this.onError(toError(err), 'publish')
    }
  }

  private onMessage (raw: string): void {
    let message: Message
    try {
      message = JSON.parse(raw) as Message
    } catch {
      return
    }
    if (message.from === this.instanceId) return
    if (Array.isArray(message.stamps)) {
      this.tagIndex.note(message.stamps)
      this.dropLocalTags(message.stamps.map(s => s.tag))
    }
    if (Array.isArray(message.keys)) this.forgetKeys(message.keys)
  }

  // --- introspection and lifecycle -------------------------------------------------------

  /** Whether this instance's L1 holds `key` (admin views and tests). */
  hasLocal (key: string): boolean {
    return this.l1.has(key)
  }

  stats (): CacheStats {
    return { l1Entries: this.l1.size, l1Bytes: this.l1.calculatedSize + this.renderedBytes, ...this.counters }
  }

  /** Stops listening, waits (bounded) for background refreshes, empties L1. The store stays open. */
  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.unsubscribe?.().catch(err => this.onError(toError(err), 'unsubscribe'))
    let timer: NodeJS.Timeout | undefined
    await Promise.race([
      Promise.allSettled([...this.refreshing]),
      new Promise<void>(resolve => { timer = setTimeout(resolve, this.lockTtlMs) })
    ])
    clearTimeout(timer)
    this.l1.clear()
  }
}

/**
 * The 304 for a conditional GET/HEAD whose If-None-Match matches the result's ETag, or
 * undefined. Keeps the fields RFC 9110 §15.4.5 asks a 304 to repeat.
 */
/** The answer an entry gives (`status` is its X-Cache), its Age as of now. */
export function entryAnswer (entry: CacheEntry, status: CacheStatus): CacheResult {
  const headers: Record<string, string | string[]> = {}
  for (const [name, value] of entry.headers) {
    const had = headers[name]
    headers[name] = had === undefined ? value : Array.isArray(had) ? [...had, value] : [had, value]
  }
  headers.etag = entry.etag
  headers.age = String(entryAgeSeconds(entry, Date.now()))
  headers['x-cache'] = status
  return { status: entry.status, headers, body: entry.body, cache: status }
}

export function notModified (method: string, requestHeaders: HttpHeaders, result: CacheResult): CacheResult | undefined {
  const m = method.toUpperCase()
  if ((m !== 'GET' && m !== 'HEAD') || result.status < 200 || result.status >= 300) return undefined
  const etag = result.headers.etag
  if (typeof etag !== 'string' || !ifNoneMatchMatches(requestHeaders['if-none-match'], etag)) return undefined
  const headers: Record<string, string | string[]> = {}
  for (const name of ['cache-control', 'content-location', 'date', 'etag', 'expires', 'vary', 'age', 'x-cache']) {
    const v = result.headers[name]
    if (v !== undefined) headers[name] = v
  }
  return { status: 304, headers, body: Buffer.alloc(0), cache: result.cache }
}
