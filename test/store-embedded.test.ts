import { appendFile, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import type { EmbeddedStoreConfig } from '../src/config/types.js'
import { EmbeddedStore } from '../src/store/embedded-store.js'
import { openStore } from '../src/store/open-store.js'
import { storeContract } from './store-contract.js'

const root = await mkdtemp(join(tmpdir(), 'junction-embedded-'))
t.teardown(() => rm(root, { recursive: true, force: true }))
let dirs = 0
const config = (fsync: 'always' | 'batch' = 'batch'): EmbeddedStoreConfig => ({ kind: 'embedded', dir: join(root, `store-${++dirs}`), fsync })

storeContract(t, 'embedded (fsync batch)', () => EmbeddedStore.open(config('batch')))
storeContract(t, 'embedded (fsync always)', () => openStore(config('always')))

t.test('durable state survives close and reopen; cache state does not', { timeout: 10_000 }, async t => {
  const cfg = config()
  const store = await EmbeddedStore.open(cfg)
  await store.set('durable', 'd', { durable: true })
  await store.set('cache', 'c')
  await store.set('durable-ttl', 'x', { durable: true, ttlMs: 60_000 })
  await store.set('durable-expiring', 'x', { durable: true, ttlMs: 50 })
  await store.set('replaced', 'durable', { durable: true })
  await store.set('replaced', 'cache now')
  await store.set('deleted', 'x', { durable: true })
  await store.delete(['deleted'])
  await store.set('bin', Buffer.from([0, 1, 254, 255]), { durable: true })
  await store.incr('counter', { durable: true })
  await store.incr('counter', { durable: true })
  await store.incr('counter') // a durable counter stays durable
  await store.incr('volatile')
  await store.addToSet('tags', ['a'])
  const q = store.queue('q')
  const ids = [await q.append({ n: '1' }), await q.append({ n: '2' }), await q.append({ n: '3' })]
  await q.claim('c', { count: 2, visibilityMs: 60_000 })
  await q.ack([ids[0]!])
  await new Promise(resolve => setTimeout(resolve, 80))
  await store.close()

  const again = await EmbeddedStore.open(cfg)
  t.teardown(() => again.close())
  t.same((await again.get('durable'))?.toString(), 'd')
  t.equal(await again.get('cache'), null)
  t.same((await again.get('durable-ttl'))?.toString(), 'x')
  t.equal(await again.get('durable-expiring'), null)
  t.equal(await again.get('replaced'), null, 'a durable value replaced by a cache value does not come back')
  t.equal(await again.get('deleted'), null)
  t.same(await again.get('bin'), Buffer.from([0, 1, 254, 255]))
  t.same((await again.get('counter'))?.toString(), '3')
  t.equal(await again.get('volatile'), null)
  t.same(await again.setMembers('tags'), [])
  const q2 = again.queue('q')
  t.same(await q2.stats().then(s => [s.length, s.inFlight]), [2, 0], 'in-flight entries are waiting again')
  const next = await q2.append({ n: '4' })
  const claimed = await q2.claim('c', { count: 10, visibilityMs: 60_000 })
  t.same(claimed.map(e => [e.id, e.fields.n, e.deliveries]), [[ids[1], '2', 1], [ids[2], '3', 1], [next, '4', 1]])
})

t.test('a second open of the same directory in this process fails clearly', { timeout: 10_000 }, async t => {
  const cfg = config()
  const store = await EmbeddedStore.open(cfg)
  await t.rejects(EmbeddedStore.open(cfg), { message: new RegExp(`${cfg.dir}.*in use by this process \\(pid ${process.pid}\\)`) })
  await store.close()
  const again = await EmbeddedStore.open(cfg)
  await again.close()
})

t.test('compaction keeps the journal near the live size', { timeout: 30_000 }, async t => {
  const cfg = config()
  const threshold = 64 * 1024
  const journal = join(cfg.dir, 'journal.jsonl')
  const store = await EmbeddedStore.open(cfg, { compactThresholdBytes: threshold })
  const q = store.queue('q')
  let lastId = ''
  let maxSize = 0
  for (let round = 0; round < 200; round++) {
    // 20 keys overwritten again and again, a counter, and queue churn: the live state
    // stays small while the history grows to many times the threshold.
    await Promise.all(Array.from({ length: 20 }, (_, k) => store.set(`k${k}`, `${round}:${'v'.repeat(100)}`, { durable: true })))
    await store.incr('rounds', { durable: true })
    lastId = await q.append({ round: String(round) })
    if (round < 199) await q.ack([lastId])
    maxSize = Math.max(maxSize, (await stat(journal)).size)
  }
  await store.close()
  const size = (await stat(journal)).size
  t.ok(maxSize < threshold * 2, `journal never grew past twice the threshold (max ${maxSize} bytes)`)
  t.ok(size < threshold + 8 * 1024, `journal is ${size} bytes after ~${200 * 22 * 150} bytes of history`)

  const again = await EmbeddedStore.open(cfg, { compactThresholdBytes: threshold })
  t.teardown(() => again.close())
  for (let k = 0; k < 20; k++) t.same((await again.get(`k${k}`))?.toString().split(':')[0], '199')
  t.same((await again.get('rounds'))?.toString(), '200')
  const q2 = again.queue('q')
  t.same((await q2.claim('c', { count: 10, visibilityMs: 1000 })).map(e => e.id), [lastId])
  const next = await q2.append({ round: 'next' })
  const [lastMs, lastSeq] = lastId.split('-').map(Number) as [number, number]
  const [nextMs, nextSeq] = next.split('-').map(Number) as [number, number]
  t.ok(nextMs > lastMs || (nextMs === lastMs && nextSeq > lastSeq), 'ids keep increasing across compaction')
})

t.test('a torn final record is dropped; corruption before valid records refuses to open', { timeout: 10_000 }, async t => {
  const cfg = config('always')
  const journal = join(cfg.dir, 'journal.jsonl')
  const store = await EmbeddedStore.open(cfg)
  await store.set('a', '1', { durable: true })
  await store.close()
  const size = (await stat(journal)).size
  await appendFile(journal, '{"op":"set","k":"b","v":"M')
  const again = await EmbeddedStore.open(cfg)
  t.equal((await stat(journal)).size, size, 'truncated to the last whole record')
  t.same((await again.get('a'))?.toString(), '1')
  await again.set('c', '3', { durable: true })
  await again.close()

  const text = await readFile(journal, 'utf8')
  const lines = text.split('\n')
  lines.splice(2, 0, '{"op":"set","k":garbage')
  await writeFile(journal, lines.join('\n'))
  await t.rejects(EmbeddedStore.open(cfg), { message: /journal .* is corrupt at line 3/ })
  await t.rejects(stat(join(cfg.dir, 'LOCK')), { code: 'ENOENT' }, 'a failed open leaves no lock behind')

  const other = config()
  await EmbeddedStore.open(other).then(s => s.close())
  await writeFile(join(other.dir, 'journal.jsonl'), '{"hello":"world"}\n')
  await t.rejects(EmbeddedStore.open(other), { message: /not a journal record/ }, 'a foreign file is not wiped as a torn record')
  const foreign = '{"op":"hdr","format":1}\n{"op":"del","k":"x"}\nsomething else'
  await writeFile(join(other.dir, 'journal.jsonl'), foreign)
  await t.rejects(EmbeddedStore.open(other), { message: /does not look like a record/ })
  t.equal((await stat(join(other.dir, 'journal.jsonl'))).size, foreign.length, 'and left as it was')
})

t.test('group commit: throughput of concurrent durable writes', { timeout: 60_000 }, async t => {
  for (const fsync of ['batch', 'always'] as const) {
    const store = await EmbeddedStore.open(config(fsync))
    t.teardown(() => store.close())
    // 10 000 writes, 100 in flight at a time (like 100 concurrent requests).
    const total = 10_000
    const started = process.hrtime.bigint()
    let next = 0
    await Promise.all(Array.from({ length: 100 }, async () => {
      while (next < total) {
        const i = next++
        await store.set(`k${i}`, 'x'.repeat(200), { durable: true })
      }
    }))
    const ms = Number(process.hrtime.bigint() - started) / 1e6
    t.comment(`fsync ${fsync}: ${total} durable sets (100 concurrent) in ${ms.toFixed(0)} ms = ${Math.round(total / ms * 1000)} ops/s`)
    // Sequential writes with fsync would take one disk flush each; batching must do far better.
    t.ok(ms < 30_000)
    await store.close()
  }
})

t.test('a refreshed deadline keeps one scheduled expiry per key, and keys still expire when due', { timeout: 10_000 }, async t => {
  const store = await EmbeddedStore.open(config(), { sweepIntervalMs: 20 })
  t.teardown(() => store.close())
  // The outbox raises a newest-wins register with a long TTL on every write, and takes a
  // short lease per delivery: neither may grow the sweep's schedule per call.
  await Promise.all(Array.from({ length: 2000 }, (_, i) => store.setMax('register', i + 1, { durable: true, ttlMs: 60_000 })))
  for (let i = 0; i < 500; i++) {
    await store.setIfAbsent('lease', `token ${i}`, { ttlMs: 60_000 })
    await store.deleteIfEquals('lease', `token ${i}`)
  }
  await Promise.all(Array.from({ length: 500 }, () => store.addToSet('tag', ['k'], { ttlMs: 60_000 })))
  t.equal(store.scheduledExpiries, 3, 'one deadline each for the register, the lease key and the set')

  // Moved later: still there after the first deadline (the sweep reschedules it), gone after the second.
  await store.set('moved', 'a', { ttlMs: 100 })
  await store.set('moved', 'b', { ttlMs: 400 })
  await new Promise(resolve => setTimeout(resolve, 250))
  t.equal(store.scheduledExpiries, 4, 'rescheduled at its new deadline')
  t.same((await store.get('moved'))?.toString(), 'b')
  // Moved earlier: the earlier deadline wins.
  await store.set('earlier', 'x', { ttlMs: 60_000 })
  await store.set('earlier', 'y', { ttlMs: 50 })
  await new Promise(resolve => setTimeout(resolve, 400))
  t.equal(store.scheduledExpiries, 4, 'the sweep dropped "moved" and "earlier" (its replaced 60 s deadline stays until due)')
  t.equal(await store.get('moved'), null)
  t.equal(await store.get('earlier'), null)
})
