import { randomUUID } from 'node:crypto'
import { Redis } from 'ioredis'
import t from 'tap'
import { RedisStore } from '../src/store/redis-store.js'
import { openStore } from '../src/store/open-store.js'
import { storeContract } from './store-contract.js'
import { startRedis } from './support/redis-server.js'

const redis = await startRedis(t)

// Every store gets its own prefix: the contract tests share one server.
storeContract(t, 'redis', () => RedisStore.open({ kind: 'redis', url: redis.url, prefix: `test:${randomUUID()}:` }))

t.test('keys carry hash tags under the prefix', { timeout: 10_000 }, async t => {
  const prefix = `tags:${randomUUID()}:`
  const store = await openStore({ kind: 'redis', url: redis.url, prefix })
  t.teardown(() => store.close())
  t.equal(store.kind, 'redis')
  await store.set('cache:abc', 'v')
  await store.addToSet('tag:user:7', ['cache:abc'])
  await store.queue('fanout').append({ a: '1' })
  const raw = new Redis(redis.url)
  t.teardown(() => raw.quit())
  t.same((await raw.keys(`${prefix}*`)).sort(), [
    `${prefix}queue:{fanout}`,
    `${prefix}{cache:abc}`,
    `${prefix}{tag:user:7}`
  ].sort())
})

t.test('consumers idle and holding nothing are removed from the group; one holding entries stays', { timeout: 10_000 }, async t => {
  const prefix = `consumers:${randomUUID()}:`
  const store = await RedisStore.open({ kind: 'redis', url: redis.url, prefix }, { idleConsumerMs: 200 })
  t.teardown(() => store.close())
  const q = store.queue('work')
  await q.append({ n: '1' })
  await q.append({ n: '2' })
  const [first] = await q.claim('gone-idle', { count: 1, visibilityMs: 60_000 })
  await q.ack([first!.id])
  t.equal((await q.claim('holding', { count: 1, visibilityMs: 60_000 })).length, 1, 'another consumer holds the second entry')
  const raw = new Redis(redis.url)
  t.teardown(() => raw.quit())
  const names = async (): Promise<string[]> => {
    const rows = await raw.xinfo('CONSUMERS', `${prefix}queue:{work}`, 'junction') as Array<Array<string | number>>
    return rows.map(row => String(row[row.indexOf('name') + 1])).sort()
  }
  t.same(await names(), ['gone-idle', 'holding'])
  await new Promise(resolve => setTimeout(resolve, 400))
  t.same(await q.claim('new', { count: 1, visibilityMs: 60_000 }), [], 'nothing to claim')
  const left = await names()
  t.notOk(left.includes('gone-idle'), 'the idle consumer holding nothing is gone')
  t.ok(left.includes('holding'), 'the one holding an entry stays')
})

t.test('open fails fast and clearly when Redis is unreachable', { timeout: 10_000 }, async t => {
  const dead = await startRedis(t)
  await dead.stop()
  const started = Date.now()
  const err = await RedisStore.open({ kind: 'redis', url: `redis://user:s3cret@127.0.0.1:${dead.port}/0`, prefix: 'x:' }, { connectTimeoutMs: 800 })
    .then(() => undefined, (e: unknown) => e as Error)
  t.ok(err, 'open rejected')
  t.match(err?.message, `cannot reach Redis at redis://user@127.0.0.1:${dead.port}/0`)
  t.notMatch(err?.message, 's3cret', 'the password is not shown')
  t.ok(Date.now() - started < 3000, 'gave up within the connect timeout')
})

t.test('ping rejects while the server is down and recovers when it is back', { timeout: 20_000 }, async t => {
  const server = await startRedis(t)
  const store = await RedisStore.open({ kind: 'redis', url: server.url, prefix: `p:${randomUUID()}:` })
  t.teardown(() => store.close())
  await store.ping()
  await server.kill('SIGKILL')
  await t.rejects(store.ping())
  await server.restart()
  const deadline = Date.now() + 10_000
  for (;;) {
    try {
      await store.ping()
      break
    } catch (err) {
      if (Date.now() > deadline) throw err
      await new Promise(resolve => setTimeout(resolve, 100))
    }
  }
  await store.set('after', 'restart')
  t.same((await store.get('after'))?.toString(), 'restart')
})

t.test('a queue\'s appends, locks and acks of one turn of the event loop go to Redis as one script call, in order', { timeout: 20_000 }, async t => {
  const own = await startRedis(t) // its own server: the command counts below are this test's alone
  const prefix = `batch:${randomUUID()}:`
  const store = await RedisStore.open({ kind: 'redis', url: own.url, prefix })
  t.teardown(() => store.close())
  const raw = new Redis(own.url)
  t.teardown(() => raw.quit())
  const scriptCalls = async (): Promise<number> => {
    const info = await raw.info('commandstats')
    return [...info.matchAll(/cmdstat_(?:evalsha|eval):calls=(\d+)/g)].reduce((sum, m) => sum + Number(m[1]), 0)
  }
  const q = store.queue('work')
  await q.append({ warm: 'up' }) // loads the script on the connection
  const before = await scriptCalls()
  // Issued in one tick: 40 appends raising registers, locks, an ack with an unlock.
  const appends = Array.from({ length: 40 }, (_, i) => q.append({ n: String(i) }, { raise: { key: `latest:${i % 4}`, value: i } }))
  const first = q.lock({ key: 'lease:a', token: 'one', ttlMs: 10_000 }, { read: 'latest:3' })
  const second = q.lock({ key: 'lease:a', token: 'two', ttlMs: 10_000 })
  const released = q.ack([], { unlock: { key: 'lease:a', token: 'one' } })
  const third = q.lock({ key: 'lease:a', token: 'three', ttlMs: 10_000 })
  const ids = await Promise.all(appends)
  t.same(await first, { locked: true, value: 39 }, 'a lock reads the register as raised by the appends issued before it')
  t.same(await second, { locked: false, value: undefined }, 'a held lock is not taken twice')
  await released
  t.equal((await third).locked, true, 'a lock issued after the unlock takes it')
  t.equal(await scriptCalls() - before, 1, 'one script call for all of them')
  const order = ids.map(id => id.split('-').map(Number) as [number, number])
  t.ok(order.every((id, i) => i === 0 || id[0] > order[i - 1]![0] || (id[0] === order[i - 1]![0] && id[1] > order[i - 1]![1])), 'entries got increasing ids in the order issued')

  // More than one script call's worth (600 appends): several calls, one after the other, still in order.
  const many = await Promise.all(Array.from({ length: 600 }, (_, i) => q.append({ m: String(i) })))
  const claimed = await q.claim('c', { count: 1000, visibilityMs: 10_000 })
  t.same(claimed.filter(e => e.fields.m !== undefined).map(e => e.fields.m), many.map((_, i) => String(i)), 'a large batch keeps its order')
  await q.ack(claimed.map(e => e.id))
  t.equal((await q.stats()).length, 0, 'one ack of 641 entries acknowledged them all')
})

t.test('in a batch, a raise that fails fails only its own append; the entry stands, as with one command', { timeout: 20_000 }, async t => {
  const prefix = `batcherr:${randomUUID()}:`
  const store = await RedisStore.open({ kind: 'redis', url: redis.url, prefix })
  t.teardown(() => store.close())
  const raw = new Redis(redis.url)
  t.teardown(() => raw.quit())
  await raw.set(`${prefix}queue:{work}:k:latest:broken`, 'not a number')
  const q = store.queue('work')
  const [broken, fine, lock] = await Promise.allSettled([
    q.append({ n: '1' }, { raise: { key: 'latest:broken', value: 5 } }),
    q.append({ n: '2' }, { raise: { key: 'latest:fine', value: 5 } }),
    q.lock({ key: 'lease:x', token: 't', ttlMs: 10_000 }, { read: 'latest:fine' })
  ])
  t.equal(broken.status, 'rejected')
  t.match((broken as PromiseRejectedResult).reason, /not an integer/)
  t.equal(fine.status, 'fulfilled', 'the next append in the same call went through')
  t.same((lock as PromiseFulfilledResult<unknown>).value, { locked: true, value: 5 }, 'and the lock after it')
  const entries = await q.claim('c', { count: 10, visibilityMs: 10_000 })
  t.same(entries.map(e => e.fields.n), ['1', '2'], 'the append whose raise failed is still in the queue')
})

t.test('a lone surrogate in a batched field is stored as U+FFFD, as a command argument would be, without failing its batch', { timeout: 10_000 }, async t => {
  const store = await RedisStore.open({ kind: 'redis', url: redis.url, prefix: `surrogate:${randomUUID()}:` })
  t.teardown(() => store.close())
  const q = store.queue('work')
  const [odd, plain] = await Promise.all([q.append({ v: 'a\ud800b', 'k\udc00': 'x' }), q.append({ v: 'fine', quote: '"\\\\ud800"' })])
  t.match(odd, /^\d+-\d+$/)
  t.match(plain, /^\d+-\d+$/)
  const entries = await q.claim('c', { count: 2, visibilityMs: 10_000 })
  t.same(entries.map(e => e.fields), [{ v: 'a\ufffdb', 'k\ufffd': 'x' }, { v: 'fine', quote: '"\\\\ud800"' }], 'escaped text stays text')
})
