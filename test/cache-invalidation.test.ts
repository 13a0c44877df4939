/**
 * Invalidation and the cross-instance paths, on both stores: two ResponseCache instances
 * share one store as two gateway instances would (two Redis connections to one
 * redis-server; the one embedded store of this process).
 */
import { performance } from 'node:perf_hooks'
import t from 'tap'
import { cacheKey } from '../src/cache/cache-key.js'
import { ResponseCache, type CacheRequest } from '../src/cache/response-cache.js'
import type { CachePolicy } from '../src/cache/types.js'
import { gate, sleep, startCacheOrigin } from './support/cache-origin.js'
import { cacheStores } from './support/cache-stores.js'

const policy: CachePolicy = { mode: 'ttl', ttlMs: 60_000, staleWhileRevalidateMs: 0, staleIfErrorMs: 0 }

function req (path: string, tags: string[] = []): CacheRequest {
  return { key: cacheKey({ route: 'r', method: 'GET', path }), method: 'GET', headers: {}, route: 'r', path, policy, tags }
}

for (const kind of await cacheStores(t)) {
  t.test(`${kind.name}:`, async t => {
    const pair = async (tt: typeof t): Promise<[ResponseCache, ResponseCache]> => {
      const [s1, s2] = await kind.shared(tt)
      const a = await ResponseCache.open({ store: s1 })
      const b = await ResponseCache.open({ store: s2 })
      tt.teardown(() => Promise.all([a.close(), b.close()]))
      return [a, b]
    }

    t.test('read-your-writes: invalidate, then the same instance misses', async t => {
      const origin = await startCacheOrigin(t, { body: 'v1' })
      const [a] = await pair(t)
      const r = req('/users/7', ['user:7'])
      await a.serve(r, origin.fetch())
      t.equal((await a.serve(r, origin.fetch())).cache, 'HIT')
      origin.reply = { body: 'v2' }
      await a.invalidateTags(['user:7'])
      const after = await a.serve(r, origin.fetch())
      t.equal(after.cache, 'MISS')
      t.equal(after.body.toString(), 'v2')
      t.equal((await a.serve(req('/users/7/other', ['user:8']), origin.fetch())).cache, 'MISS')
      t.equal((await a.serve(req('/users/7/other', ['user:8']), origin.fetch())).cache, 'HIT', 'other tags untouched')
    })

    t.test('a write 2xx invalidates the target URI (RFC 9111 §4.4); a 4xx does not', async t => {
      const origin = await startCacheOrigin(t, { body: 'v1' })
      const [a, b] = await pair(t)
      const r = req('/orders/1')
      await a.serve(r, origin.fetch())
      await a.invalidateAfterWrite({ method: 'PUT', status: 409, path: '/orders/1' })
      t.equal((await b.serve(r, origin.fetch())).cache, 'HIT')
      await a.invalidateAfterWrite({ method: 'GET', status: 200, path: '/orders/1' })
      t.equal((await b.serve(r, origin.fetch())).cache, 'HIT', 'a safe method invalidates nothing')
      await a.invalidateAfterWrite({ method: 'PATCH', status: 204, path: '/orders/1' })
      t.equal((await a.serve(r, origin.fetch())).cache, 'MISS', 'the writing instance misses at once')
    })

    t.test("tag invalidation drops the other instance's L1 through pub/sub", async t => {
      const origin = await startCacheOrigin(t, { body: 'v1' })
      const [a, b] = await pair(t)
      const delays: number[] = []
      const afterReturn: number[] = []
      for (let round = 0; round < 20; round++) {
        const r = req(`/p/${round}`, [`product:${round}`])
        await a.serve(r, origin.fetch())
        t.equal((await b.serve(r, origin.fetch())).cache, 'HIT')
        t.equal(b.hasLocal(r.key), true)
        const start = performance.now()
        await a.invalidateTags([`product:${round}`])
        const returned = performance.now()
        for (let i = 0; i < 500 && b.hasLocal(r.key); i++) await sleep(1)
        t.equal(b.hasLocal(r.key), false, `round ${round}: dropped`)
        delays.push(performance.now() - start)
        afterReturn.push(performance.now() - returned)
        t.equal(a.hasLocal(r.key), false, 'the writer dropped its own before returning')
        t.ok(returned - start < 1000)
      }
      delays.sort((x, y) => x - y)
      afterReturn.sort((x, y) => x - y)
      const p50 = delays[10]!.toFixed(2)
      const max = delays[19]!.toFixed(2)
      t.comment(`${kind.name}: invalidate → other instance's L1 dropped: p50 ${p50} ms, max ${max} ms (from the start of invalidateTags); after it returned: p50 ${afterReturn[10]!.toFixed(2)} ms, max ${afterReturn[19]!.toFixed(2)} ms`)
      t.ok(delays[19]! < 500, 'within 500 ms')
    })

    t.test('invalidations asked for in one turn of the event loop share one sequence number and one message', async t => {
      const origin = await startCacheOrigin(t, { body: 'v1' })
      const [s1, s2] = await kind.shared(t)
      const a = await ResponseCache.open({ store: s1 })
      const b = await ResponseCache.open({ store: s2 })
      t.teardown(() => Promise.all([a.close(), b.close()]))
      const messages: string[] = []
      const unsubscribe = await s2.subscribe('cache:invalidate', message => { messages.push(message) })
      t.teardown(unsubscribe)
      const rs = [1, 2, 3].map(i => req(`/batch/${i}`, [`item:${i}`]))
      for (const r of rs) {
        await a.serve(r, origin.fetch())
        t.equal((await b.serve(r, origin.fetch())).cache, 'HIT')
      }
      const seqBefore = Number((await s1.get('cache:seq'))?.toString() ?? 0)
      origin.reply = { body: 'v2' }
      // Three writes answered in one turn: each resolves only once its own tag is stamped.
      await Promise.all([a.invalidateTags(['item:1']), a.invalidateTags(['item:2', 'item:1']), a.invalidateTags(['item:3'])])
      const seqAfter = Number((await s1.get('cache:seq'))?.toString() ?? 0)
      t.equal(seqAfter, seqBefore + 1, 'one sequence number for the three')
      for (const i of [1, 2, 3]) t.equal(Number((await s1.get(`cache:ts:item:${i}`))?.toString()), seqAfter, `item:${i} stamped with it`)
      for (const r of rs) {
        const after = await a.serve(r, origin.fetch())
        t.equal(after.cache, 'MISS', 'the writer misses at once')
        t.equal(after.body.toString(), 'v2')
      }
      for (let i = 0; i < 500 && messages.length === 0; i++) await sleep(1)
      await sleep(50)
      t.equal(messages.length, 1, 'one message to the other instances')
      for (const r of rs) t.equal(b.hasLocal(r.key), false, 'which dropped every entry')
    })

    t.test('a slow fill started before a write is neither stored nor served after it', async t => {
      const [a, b] = await pair(t)
      let data = 'old'
      const held = gate()
      const origin = await startCacheOrigin(t)
      let first = true
      origin.reply = () => {
        // The first read snapshots the data now and answers late (a slow upstream).
        const body = data
        const r = first ? { body, gate: held.promise } : { body }
        first = false
        return r
      }
      const r = req('/users/7', ['user:7'])
      const slow = a.serve(r, origin.fetch())
      for (let i = 0; i < 200 && origin.count() === 0; i++) await sleep(5)
      t.equal(origin.count(), 1, 'the slow read reached the upstream')
      // The write: the owner commits, then the gateway invalidates, then the client hears.
      data = 'new'
      await b.invalidateTags(['user:7'])
      held.open()
      const slowResult = await slow
      t.equal(slowResult.body.toString(), 'old', 'the slow reader gets what it read')
      t.equal(slowResult.reason, 'invalidated-during-fill')
      for (const cache of [a, b]) {
        const next = await cache.serve(r, origin.fetch())
        t.equal(next.body.toString(), 'new', 'nobody is served the pre-write answer')
      }
    })

    t.test('the race holds for tags known only from the response', async t => {
      const [a, b] = await pair(t)
      let price = '10'
      const held = gate()
      let calls = 0
      const fetch = async () => {
        calls++
        const snapshot = price
        if (calls === 1) await held.promise
        return { status: 200, headers: {}, body: Buffer.from(`[{"id":42,"price":${snapshot}}]`), tags: ['order:42'] }
      }
      const r = req('/orders?user=1')
      const slow = a.serve(r, fetch)
      await sleep(20)
      price = '12'
      await b.invalidateTags(['order:42'])
      held.open()
      await slow
      const next = await b.serve(r, fetch)
      t.equal(next.cache, 'MISS')
      t.match(next.body.toString(), /"price":12/)
      t.equal((await a.serve(r, fetch)).cache, 'HIT', 'the post-write fill is cached')
    })

    t.test('purge by key, including a fill in flight', async t => {
      const origin = await startCacheOrigin(t, { body: 'v1' })
      const [a, b] = await pair(t)
      const r = req('/k')
      await a.serve(r, origin.fetch())
      await b.serve(r, origin.fetch())
      await a.purgeKey(r.key)
      for (let i = 0; i < 500 && b.hasLocal(r.key); i++) await sleep(1)
      t.equal((await b.serve(r, origin.fetch())).cache, 'MISS')
      const held = gate()
      origin.reply = { body: 'v2', gate: held.promise }
      const r2 = req('/k2')
      const filling = b.serve(r2, origin.fetch())
      await sleep(30)
      await a.purgeKey(r2.key)
      await sleep(30)
      held.open()
      await filling
      origin.reply = { body: 'v3' }
      t.equal((await b.serve(r2, origin.fetch())).body.toString(), 'v3', 'the purged fill was not stored')
    })

    t.test('purge by tag and a whole route', async t => {
      const origin = await startCacheOrigin(t, { body: 'v' })
      const [a, b] = await pair(t)
      const r1 = req('/x/1', ['t1'])
      const r2 = req('/x/2')
      await a.serve(r1, origin.fetch())
      await a.serve(r2, origin.fetch())
      // Purged on b; a's L1 follows through pub/sub (waited for, bounded).
      const dropped = async (key: string): Promise<void> => {
        for (let i = 0; i < 500 && a.hasLocal(key); i++) await sleep(1)
      }
      await b.purgeTag('t1')
      await dropped(r1.key)
      t.equal((await a.serve(r1, origin.fetch())).cache, 'MISS')
      t.equal((await a.serve(r2, origin.fetch())).cache, 'HIT')
      await b.purgeTag('route:r')
      await dropped(r2.key)
      t.equal((await a.serve(r2, origin.fetch())).cache, 'MISS')
      t.equal((await b.serve(r2, origin.fetch())).cache, 'HIT', 'the refill after the purge is kept')
    })

    t.test('cross-instance coalescing: 2 × 25 concurrent misses', async t => {
      const origin = await startCacheOrigin(t, { body: 'shared', delayMs: 150 })
      const [a, b] = await pair(t)
      const r = req('/hot')
      const results = await Promise.all([
        ...Array.from({ length: 25 }, () => a.serve(r, origin.fetch())),
        ...Array.from({ length: 25 }, () => b.serve(r, origin.fetch()))
      ])
      t.comment(`${kind.name}: 50 concurrent misses on two instances → ${origin.count()} upstream fetch(es)`)
      t.ok(origin.count() <= 2, `${origin.count()} fetches`)
      t.ok(results.every(x => x.body.toString() === 'shared'))
    })

    t.test('stale-while-revalidate across instances refreshes once', async t => {
      const origin = await startCacheOrigin(t, { body: 'v1' })
      const [a, b] = await pair(t)
      const r = { ...req('/s'), policy: { ...policy, ttlMs: 150, staleWhileRevalidateMs: 10_000 } }
      await a.serve(r, origin.fetch())
      await b.serve(r, origin.fetch())
      origin.reply = { body: 'v2', delayMs: 200 }
      await sleep(250)
      const stale = await Promise.all([a, b, a, b].flatMap(c => Array.from({ length: 5 }, () => c.serve(r, origin.fetch()))))
      t.ok(stale.every(x => x.cache === 'STALE'), stale.map(x => x.cache).join(' '))
      let fresh
      for (let i = 0; i < 100; i++) {
        await sleep(50)
        fresh = await b.serve(r, origin.fetch())
        if (fresh.cache === 'HIT') break
      }
      t.equal(fresh?.body.toString(), 'v2')
      await sleep(100)
      t.equal(origin.count(), 2, 'one fill and one refresh for both instances')
    })
  })
}
