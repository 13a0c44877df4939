/**
 * Memory stays bounded by what is live, not by how often it was written: the soak
 * (bench/soak.ts) found the gateway growing by a few KB per write because every rewrite
 * of a key with a TTL added a deadline to the embedded store's expiry heap, and every
 * invalidation of a tag added a stamp key. These tests look inside the embedded store
 * (its private maps) on purpose: the public API cannot see a leak.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { TagIndex } from '../src/cache/tag-index.js'
import { EmbeddedStore } from '../src/store/embedded-store.js'

interface Internals { entries: Map<string, unknown>, expiries: { size: number } }
const internals = (store: EmbeddedStore): Internals => store as unknown as Internals

const root = await mkdtemp(join(tmpdir(), 'junction-bounded-'))
t.teardown(() => rm(root, { recursive: true, force: true }))
let dirs = 0
const open = async (sweepIntervalMs = 1000): Promise<EmbeddedStore> =>
  await EmbeddedStore.open({ kind: 'embedded', dir: join(root, `s${++dirs}`), fsync: 'batch' }, { sweepIntervalMs })

t.test('rewriting keys with a long TTL keeps one deadline per key', async t => {
  const store = await open()
  t.teardown(() => store.close())
  for (let i = 0; i < 5000; i++) {
    await store.set(`k${i % 10}`, String(i), { ttlMs: 30 * 24 * 3600_000 })
    await store.setMax(`m${i % 10}`, i, { ttlMs: 30 * 24 * 3600_000 })
  }
  t.equal(internals(store).entries.size, 20)
  t.ok(internals(store).expiries.size <= 20, `expiry heap holds ${internals(store).expiries.size} deadlines for 20 keys`)
})

t.test('a key rewritten with a later deadline lives until the later one; the sweep drops it then', async t => {
  const store = await open(20)
  t.teardown(() => store.close())
  await store.set('a', '1', { ttlMs: 60 })
  await store.set('a', '2', { ttlMs: 400 })
  await new Promise(resolve => setTimeout(resolve, 200))
  // Past the first deadline: the sweep ran on it and must have kept the key.
  t.equal(internals(store).entries.has('a'), true, 'not dropped at the superseded deadline')
  t.equal((await store.get('a'))?.toString(), '2')
  await new Promise(resolve => setTimeout(resolve, 400))
  t.equal(internals(store).entries.has('a'), false, 'dropped by the sweep at the later deadline')
  t.equal(internals(store).expiries.size, 0)
})

t.test('a key rewritten with an earlier deadline expires at the earlier one', async t => {
  const store = await open(20)
  t.teardown(() => store.close())
  await store.set('b', '1', { ttlMs: 10_000 })
  await store.set('b', '2', { ttlMs: 50 })
  await new Promise(resolve => setTimeout(resolve, 200))
  t.equal(internals(store).entries.has('b'), false)
})

t.test('invalidating a tag over and over keeps one stamp key per tag', async t => {
  const store = await open()
  t.teardown(() => store.close())
  const tags = new TagIndex(store, { stampTtlMs: 24 * 3600_000, stampCacheMs: 1000, maxCachedStamps: 100 })
  const before = await tags.snapshot()
  for (let i = 0; i < 500; i++) await tags.invalidate(['user:1', 'user:2'])
  // cache:seq, cache:ts:user:1, cache:ts:user:2
  t.equal(internals(store).entries.size, 3, 'cache:seq and one stamp per tag')
  t.equal(await tags.isCurrent(['user:1'], before, true), false, 'an entry filled before the invalidations is stale')
  t.equal(await tags.isCurrent(['user:1'], await tags.snapshot(), true), true, 'one filled after them is current')
})
