/**
 * Serving paths of the response cache, on both stores: hit/miss/stale, coalescing,
 * stale-while-revalidate, stale-if-error, the L1 byte bound, never-shared answers, ETag.
 * The upstream is a real HTTP origin; "fetches" are requests it actually received.
 */
import t from 'tap'
import { cacheKey } from '../src/cache/cache-key.js'
import { entrySize, type CacheEntry } from '../src/cache/entry.js'
import { notModified, ResponseCache, uriTag, type CacheRequest } from '../src/cache/response-cache.js'
import type { CachePolicy } from '../src/cache/types.js'
import { startCacheOrigin, sleep, type Reply } from './support/cache-origin.js'
import { cacheStores } from './support/cache-stores.js'

const ttl = (over: Partial<CachePolicy> = {}): CachePolicy => ({ mode: 'ttl', ttlMs: 60_000, staleWhileRevalidateMs: 0, staleIfErrorMs: 0, ...over })

function req (path: string, policy: CachePolicy, over: Partial<CacheRequest> = {}): CacheRequest {
  const method = over.method ?? 'GET'
  return { key: cacheKey({ route: 'r', method, path }), method, headers: {}, route: 'r', path, policy, ...over }
}

for (const kind of await cacheStores(t)) {
  t.test(`${kind.name}:`, async t => {
    const open = async (tt: typeof t, opts: Partial<Parameters<typeof ResponseCache.open>[0]> = {}): Promise<ResponseCache> => {
      const cache = await ResponseCache.open({ store: await kind.open(tt), ...opts })
      tt.teardown(() => cache.close())
      return cache
    }

    t.test('miss, then hit from L1, then hit from L2 on a fresh instance', async t => {
      const origin = await startCacheOrigin(t, { body: 'v1', headers: { 'content-type': 'text/plain', etag: '"up"' } })
      const [s1, s2] = await kind.shared(t)
      const a = await ResponseCache.open({ store: s1 })
      const b = await ResponseCache.open({ store: s2 })
      t.teardown(() => Promise.all([a.close(), b.close()]))
      const r = req('/a', ttl())
      const first = await a.serve(r, origin.fetch('/a'))
      t.equal(first.cache, 'MISS')
      t.equal(first.headers['x-cache'], 'MISS')
      t.equal(first.body.toString(), 'v1')
      const second = await a.serve(r, origin.fetch('/a'))
      t.equal(second.cache, 'HIT')
      t.equal(second.headers['content-type'], 'text/plain')
      t.equal(second.headers.etag, '"up"', "the upstream's ETag is kept")
      t.match(second.headers.age, /^\d+$/)
      const third = await b.serve(r, origin.fetch('/a'))
      t.equal(third.cache, 'HIT', 'L2 serves the other instance')
      t.equal(origin.count(), 1)
      await sleep(1100)
      t.equal((await b.serve(r, origin.fetch('/a'))).headers.age, '1', 'Age counts from the store time')
    })

    t.test('50 concurrent misses make one upstream fetch', async t => {
      const origin = await startCacheOrigin(t, { body: 'once', delayMs: 100 })
      const cache = await open(t)
      const r = req('/c', ttl())
      const results = await Promise.all(Array.from({ length: 50 }, () => cache.serve(r, origin.fetch('/c'))))
      t.equal(origin.count(), 1)
      t.ok(results.every(x => x.body.toString() === 'once' && x.cache === 'MISS'))
    })

    t.test('a personal answer (Set-Cookie) is not handed to coalesced waiters', async t => {
      let n = 0
      const origin = await startCacheOrigin(t)
      origin.reply = () => ({ body: `user-${++n}`, headers: { 'set-cookie': `s=${n}` }, delayMs: 50 })
      const cache = await open(t)
      const r = req('/me', ttl())
      const results = await Promise.all(Array.from({ length: 10 }, () => cache.serve(r, origin.fetch('/me'))))
      t.equal(origin.count(), 10, 'each waiter fetched its own')
      t.equal(new Set(results.map(x => x.body.toString())).size, 10)
      t.equal((await cache.serve(r, origin.fetch('/me'))).cache, 'MISS', 'and nothing was stored')
    })

    t.test('stale-while-revalidate: stale answers, exactly one background refresh', async t => {
      const origin = await startCacheOrigin(t, { body: 'v1' })
      const cache = await open(t)
      const r = req('/swr', ttl({ ttlMs: 200, staleWhileRevalidateMs: 10_000 }))
      await cache.serve(r, origin.fetch('/swr'))
      origin.reply = { body: 'v2', delayMs: 150 }
      await sleep(300)
      const stale = await Promise.all(Array.from({ length: 20 }, () => cache.serve(r, origin.fetch('/swr'))))
      t.ok(stale.every(x => x.cache === 'STALE' && x.body.toString() === 'v1'), 'all 20 served stale at once')
      let fresh
      for (let i = 0; i < 50; i++) {
        await sleep(50)
        fresh = await cache.serve(r, origin.fetch('/swr'))
        if (fresh.cache === 'HIT') break
      }
      t.equal(fresh?.cache, 'HIT')
      t.equal(fresh?.body.toString(), 'v2')
      t.equal(origin.count(), 2, 'one fill, one refresh')
    })

    t.test('stale-if-error: an upstream 5xx or failure serves the stale entry', async t => {
      const origin = await startCacheOrigin(t, { body: 'good' })
      const cache = await open(t)
      const r = req('/sie', ttl({ ttlMs: 100, staleIfErrorMs: 10_000 }))
      await cache.serve(r, origin.fetch('/sie'))
      await sleep(150)
      origin.reply = { status: 503, body: 'down' }
      const on503 = await cache.serve(r, origin.fetch('/sie'))
      t.equal(on503.cache, 'STALE')
      t.equal(on503.status, 200)
      t.equal(on503.body.toString(), 'good')
      await origin.close()
      const onRefused = await cache.serve(r, origin.fetch('/sie'))
      t.equal(onRefused.cache, 'STALE', 'connection refused')
      const noEntry = req('/other', ttl({ staleIfErrorMs: 10_000 }))
      await t.rejects(cache.serve(noEntry, origin.fetch('/other')), 'no stale entry: the error goes to the caller')
    })

    t.test('a stale entry with a validator is revalidated: a 304 freshens it, the body is not sent again', async t => {
      const conditionals: Array<[unknown, unknown]> = []
      const origin = await startCacheOrigin(t, (m): Reply => {
        conditionals.push([m.headers['if-none-match'], m.headers['if-modified-since']])
        return m.headers['if-none-match'] === '"v1"'
          ? { status: 304, headers: { etag: '"v2"', 'x-version': 'b' } }
          : { body: 'body-1', headers: { etag: '"v1"', 'last-modified': 'Wed, 01 Jan 2020 00:00:00 GMT', 'x-version': 'a', 'content-type': 'text/plain' } }
      })
      const cache = await open(t)
      const r = req('/rv', ttl({ ttlMs: 100 }))
      t.equal((await cache.serve(r, origin.fetch('/rv'))).cache, 'MISS')
      await sleep(150)
      const revalidated = await cache.serve(r, origin.fetch('/rv'))
      t.equal(revalidated.cache, 'REVALIDATED')
      t.equal(revalidated.status, 200)
      t.equal(revalidated.body.toString(), 'body-1', 'the stored body')
      t.equal(revalidated.headers['x-version'], 'b', 'fields of the 304 replace the stored ones')
      t.equal(revalidated.headers.etag, '"v1"', 'but not the ETag, which names the stored body')
      t.equal(revalidated.headers['content-type'], 'text/plain')
      t.same(conditionals, [[undefined, undefined], ['"v1"', 'Wed, 01 Jan 2020 00:00:00 GMT']], 'the second call was conditional')
      const hit = await cache.serve(r, origin.fetch('/rv'))
      t.equal(hit.cache, 'HIT', 'fresh again for the route\'s ttl')
      t.equal(hit.headers['x-version'], 'b')
      t.equal(origin.count(), 2)
      t.equal(cache.stats().revalidated, 1)
    })

    t.test('without a validator a stale entry is not kept; a 200 to a conditional request replaces it', async t => {
      let version = 1
      const origin = await startCacheOrigin(t, () => ({ body: `v${version}`, headers: { 'last-modified': `Wed, 0${version} Jan 2020 00:00:00 GMT` } }))
      const cache = await open(t)
      const r = req('/lm', ttl({ ttlMs: 100 }))
      await cache.serve(r, origin.fetch('/lm'))
      version = 2
      await sleep(150)
      const changed = await cache.serve(r, origin.fetch('/lm'))
      t.equal(changed.cache, 'MISS')
      t.equal(changed.body.toString(), 'v2')
      t.equal((await cache.serve(r, origin.fetch('/lm'))).body.toString(), 'v2', 'the new answer is stored')
      origin.reply = { body: 'plain' }
      const plain = req('/plain', ttl({ ttlMs: 100 }))
      await cache.serve(plain, origin.fetch('/plain'))
      await sleep(150)
      t.equal(cache.hasLocal(plain.key), false, 'no validator: gone once its windows ended')
    })

    t.test('mode http: a 5xx with its own freshness does not replace an entry within stale-if-error', async t => {
      const origin = await startCacheOrigin(t, { body: 'good', headers: { 'cache-control': 'max-age=0, stale-if-error=60' } })
      const cache = await open(t)
      const r = req('/sie-http', ttl({ mode: 'http', ttlMs: 0 }))
      t.equal((await cache.serve(r, origin.fetch('/sie-http'))).cache, 'MISS')
      origin.reply = { status: 503, body: 'down', headers: { 'cache-control': 'max-age=60' } }
      for (let i = 0; i < 2; i++) {
        const answer = await cache.serve(r, origin.fetch('/sie-http'))
        t.equal(answer.cache, 'STALE')
        t.equal(answer.body.toString(), 'good')
      }
      origin.reply = { status: 404, body: 'gone', headers: { 'cache-control': 'max-age=60' } }
      const nf = req('/nf-http', ttl({ mode: 'http', ttlMs: 0 }))
      await cache.serve(nf, origin.fetch('/nf-http'))
      t.equal((await cache.serve(nf, origin.fetch('/nf-http'))).cache, 'HIT', 'a 404 the service gave a lifetime is stored')
    })

    t.test('a route\'s lock settings: the lock\'s TTL, and how long a request waits on another instance', async t => {
      const store = await kind.open(t)
      const lockTtls: Array<number | undefined> = []
      let lockReads = 0
      const counting = new Proxy(store, {
        get (target, prop) {
          if (prop === 'setIfAbsent') {
            return async (key: string, value: string, opts?: { ttlMs?: number }) => {
              if (key.startsWith('cache:lk:')) lockTtls.push(opts?.ttlMs)
              return await target.setIfAbsent(key, value, opts)
            }
          }
          if (prop === 'get') {
            return async (key: string) => {
              if (key.startsWith('cache:lk:')) lockReads++
              return await target.get(key)
            }
          }
          const value: unknown = Reflect.get(target, prop)
          return typeof value === 'function' ? value.bind(target) : value
        }
      })
      const cache = await ResponseCache.open({ store: counting, lockPollMs: 20 })
      t.teardown(() => cache.close())
      const origin = await startCacheOrigin(t, { body: 'x' })
      await cache.serve(req('/lock-a', ttl(), { lock: { ttlMs: 1234, waitMs: 100 } }), origin.fetch('/lock-a'))
      t.same(lockTtls, [1234], 'the route\'s lock TTL')
      // Another instance holds the lock of /lock-b and never stores anything.
      const b = req('/lock-b', ttl(), { lock: { ttlMs: 1234, waitMs: 100 } })
      await store.setIfAbsent(`cache:lk:${b.key}`, 'another-instance', { ttlMs: 60_000 })
      const alone = await cache.serve(b, origin.fetch('/lock-b'))
      t.equal(alone.cache, 'MISS', 'fetched itself after waiting')
      t.ok(lockReads >= 1 && lockReads <= 5, `polled the lock ${lockReads} times: at most waitMs / lockPollMs = 5, not the default 3000 / 20`)
      t.equal(origin.count(), 2)
    })

    t.test('L1 is bounded by bytes; evicted entries still come from L2', async t => {
      const origin = await startCacheOrigin(t)
      origin.reply = (m) => ({ body: `${m.url ?? ''}:`.padEnd(4096, 'x') })
      const bound = 64 * 1024
      const cache = await open(t, { l1MaxBytes: bound })
      for (let i = 0; i < 100; i++) await cache.serve(req(`/big/${i}`, ttl()), origin.fetch(`/big/${i}`))
      const stats = cache.stats()
      t.ok(stats.l1Bytes <= bound, `L1 holds ${stats.l1Bytes} bytes ≤ ${bound}`)
      t.ok(stats.l1Entries < 100 && stats.l1Entries > 5, `${stats.l1Entries} entries in L1`)
      t.equal(cache.hasLocal(req('/big/0', ttl()).key), false, 'the oldest was evicted')
      const again = await cache.serve(req('/big/0', ttl()), origin.fetch('/big/0'))
      t.equal(again.cache, 'HIT')
      t.equal(again.body.toString().startsWith('/big/0:'), true)
      t.equal(origin.count(), 100)
    })

    t.test('a rendering of an L1 entry counts in L1\'s bound and leaves with its entry', async t => {
      const origin = await startCacheOrigin(t)
      origin.reply = (m) => ({ body: `${m.url ?? ''}:`.padEnd(4096, 'x') })
      const bound = 64 * 1024
      const cache = await open(t, { l1MaxBytes: bound })
      const keys: string[] = []
      for (let i = 0; i < 12; i++) {
        const r = req(`/r/${i}`, ttl())
        await cache.serve(r, origin.fetch(`/r/${i}`))
        keys.push(r.key)
      }
      const before = cache.stats()
      t.equal(before.l1Entries, 12, 'twelve entries of ~4 KB fit')
      let made = 0
      const render = (entry: CacheEntry): { value: { text: string }, bytes: number } => {
        made++
        return { value: { text: entry.body.toString('latin1') }, bytes: entry.body.length }
      }
      const first = cache.freshLocal(keys[0]!, false)
      t.ok(first !== undefined, 'a fresh L1 entry')
      const rendering = cache.rendering(keys[0]!, first!, render)
      t.equal(rendering?.text.startsWith('/r/0:'), true, 'made from the entry')
      t.equal(cache.rendering(keys[0]!, first!, render), rendering, 'made once, then kept')
      t.equal(made, 1)
      t.equal(cache.stats().l1Bytes, before.l1Bytes + 4096, 'its bytes count in L1')

      // Renderings of every entry: each would hold a second copy of its body. L1 keeps the
      // whole within its bound, the least recently used entries leaving to make room.
      for (const key of keys) {
        const entry = cache.freshLocal(key, false)
        if (entry !== undefined) cache.rendering(key, entry, render)
      }
      const after = cache.stats()
      t.ok(after.l1Bytes <= bound, `L1 holds ${after.l1Bytes} bytes with its renderings, ≤ ${bound}`)
      t.ok(after.l1Entries < 12, `${after.l1Entries} entries left to make room`)
      // Looked at and rendered in key order: /r/3's rendering was the first not to fit, and
      // the least recently used entry then was /r/4 (not yet looked at in this pass).
      t.equal(cache.hasLocal(keys[4]!), false, 'the least recently used entry left')
      t.equal(cache.hasLocal(keys[3]!) && cache.hasLocal(keys[11]!), true, 'the ones just rendered stayed')

      // New entries make room the same way: the whole stays within the bound.
      let largest = 0
      for (let i = 0; i < 8; i++) {
        await cache.serve(req(`/r/new/${i}`, ttl()), origin.fetch(`/r/new/${i}`))
        largest = Math.max(largest, cache.stats().l1Bytes)
      }
      t.equal(cache.hasLocal(req('/r/new/7', ttl()).key), true, 'new entries go in')
      t.ok(largest <= bound, `while they do, L1 holds at most ${largest} bytes ≤ ${bound}`)

      // An entry that leaves L1 takes its rendering with it: the bytes are given back.
      const last = req('/r/new/7', ttl()).key
      const lastEntry = cache.freshLocal(last, false)
      t.ok(lastEntry !== undefined && cache.rendering(last, lastEntry, render) !== undefined, 'the newest entry rendered')
      const withIt = cache.stats().l1Bytes
      await cache.invalidateTags([uriTag('/r/new/7')])
      t.equal(cache.hasLocal(last), false)
      t.equal(cache.stats().l1Bytes, withIt - entrySize(lastEntry!) - 4096, 'the entry and its rendering left')
      t.equal(cache.rendering(last, lastEntry!, render), undefined, 'an entry no longer in L1 is not rendered')
    })

    t.test('a rendering that would make its entry larger than an entry may be is not made', async t => {
      const origin = await startCacheOrigin(t, { body: 'x'.repeat(10_000) })
      const cache = await open(t, { l1MaxBytes: 64 * 1024 })
      const r = req('/large', ttl())
      await cache.serve(r, origin.fetch('/large'))
      const entry = cache.freshLocal(r.key, false)!
      const before = cache.stats().l1Bytes
      t.equal(cache.rendering(r.key, entry, () => ({ value: {}, bytes: 10_000 })), undefined, 'one entry may take a quarter of L1 at most')
      t.equal(cache.stats().l1Bytes, before, 'nothing counted')
      t.equal(cache.hasLocal(r.key), true, 'the entry stays')
    })

    t.test('Authorization: bypassed unless the response is public or the route keys by identity', async t => {
      const origin = await startCacheOrigin(t, { body: 'secret' })
      const cache = await open(t)
      const auth = { authorization: 'Bearer u1' }
      const r = req('/auth', ttl(), { headers: auth })
      t.equal((await cache.serve(r, origin.fetch('/auth', auth))).cache, 'BYPASS')
      t.equal((await cache.serve(req('/auth', ttl()), origin.fetch('/auth'))).cache, 'MISS', 'nothing stored for the anonymous request')
      t.equal((await cache.serve(r, origin.fetch('/auth', auth))).cache, 'BYPASS', 'an anonymous entry is not served to an authorized request')
      t.equal(origin.count(), 3)
      origin.reply = { body: 'shared', headers: { 'cache-control': 'public' } }
      const pub = req('/pub', ttl(), { headers: auth })
      t.equal((await cache.serve(pub, origin.fetch('/pub', auth))).cache, 'MISS')
      t.equal((await cache.serve(pub, origin.fetch('/pub', auth))).cache, 'HIT')
      const id = req('/id', ttl({ keyByIdentity: true }), { headers: auth })
      await cache.serve(id, origin.fetch('/id', auth))
      t.equal((await cache.serve(id, origin.fetch('/id', auth))).cache, 'HIT')
    })

    t.test('non-GET bypasses; non-2xx not cached unless configured; no-store never', async t => {
      const origin = await startCacheOrigin(t, { status: 404, body: 'nope' })
      const cache = await open(t)
      const post = await cache.serve(req('/p', ttl(), { method: 'POST' }), origin.fetch('/p'))
      t.equal(post.cache, 'BYPASS')
      t.equal(post.reason, 'method')
      const nf = req('/nf', ttl())
      t.equal((await cache.serve(nf, origin.fetch('/nf'))).reason, 'status')
      t.equal((await cache.serve(nf, origin.fetch('/nf'))).cache, 'MISS')
      const nf404 = req('/nf404', ttl({ extraStatuses: [404] }))
      await cache.serve(nf404, origin.fetch('/nf404'))
      t.equal((await cache.serve(nf404, origin.fetch('/nf404'))).cache, 'HIT')
      origin.reply = { body: 'x', headers: { 'cache-control': 'max-age=60, No-Store' } }
      const ns = req('/ns', ttl({ mode: 'http' }))
      t.equal((await cache.serve(ns, origin.fetch('/ns'))).reason, 'no-store')
      t.equal((await cache.serve(ns, origin.fetch('/ns'))).cache, 'MISS')
    })

    t.test('incomplete composed responses: not cached, or only for incompleteTtlMs', async t => {
      const cache = await open(t)
      let fetches = 0
      const partial = async () => { fetches++; return { status: 200, headers: {}, body: Buffer.from('{"user":1}'), incomplete: true } }
      const no = req('/comp', ttl())
      await cache.serve(no, partial)
      t.equal((await cache.serve(no, partial)).reason, 'incomplete')
      const short = req('/comp2', ttl({ incompleteTtlMs: 150 }))
      await cache.serve(short, partial)
      t.equal((await cache.serve(short, partial)).cache, 'HIT')
      await sleep(250)
      t.equal((await cache.serve(short, partial)).cache, 'MISS', 'expired after the short time')
      t.equal(fetches, 4)
    })

    t.test('ETag from the body when the upstream has none; If-None-Match → 304', async t => {
      const origin = await startCacheOrigin(t, { body: 'etag me', headers: { 'cache-control': 'max-age=60', 'content-type': 'text/plain' } })
      const cache = await open(t)
      const r = req('/e', ttl({ mode: 'http' }))
      const first = await cache.serve(r, origin.fetch('/e'))
      const etag = first.headers.etag
      t.match(etag, /^"[A-Za-z0-9_-]{32}"$/)
      const hit = await cache.serve(r, origin.fetch('/e'))
      t.equal(hit.headers.etag, etag)
      const nm = notModified('GET', { 'if-none-match': `"zz", W/${String(etag)}` }, hit)
      t.equal(nm?.status, 304)
      t.equal(nm?.body.length, 0)
      t.equal(nm?.headers['cache-control'], 'max-age=60')
      t.equal(nm?.headers['content-type'], undefined)
      t.equal(notModified('GET', { 'if-none-match': '"other"' }, hit), undefined)
      t.equal(notModified('POST', { 'if-none-match': '*' }, hit), undefined)
    })
  })
}
