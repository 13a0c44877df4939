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
