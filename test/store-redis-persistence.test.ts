/**
 * With `appendonly yes` and `appendfsync always` (docs/deployment.md), queue entries
 * acknowledged by append() survive a SIGKILL of redis-server, and the store reconnects to
 * the restarted server on its own.
 */
import { randomUUID } from 'node:crypto'
import t from 'tap'
import { RedisStore } from '../src/store/redis-store.js'
import { startRedis } from './support/redis-server.js'

t.test('queue entries and counters survive a redis-server SIGKILL and restart', { timeout: 60_000 }, async t => {
  const server = await startRedis(t, { appendonly: true })
  const prefix = `persist:${randomUUID()}:`
  const store = await RedisStore.open({ kind: 'redis', url: server.url, prefix })
  t.teardown(() => store.close())
  const q = store.queue('outbox')
  const ids = await Promise.all(Array.from({ length: 500 }, (_, i) => q.append({ i: String(i) })))
  const claimed = await q.claim('worker', { count: 100, visibilityMs: 60_000 })
  await q.ack(claimed.slice(0, 50).map(e => e.id))
  for (let i = 0; i < 25; i++) await store.incr('counter')

  await server.kill('SIGKILL')
  await server.restart()

  // The store that was open reconnects by itself.
  const deadline = Date.now() + 15_000
  for (;;) {
    try {
      await store.ping()
      break
    } catch (err) {
      if (Date.now() > deadline) throw err
      await new Promise(resolve => setTimeout(resolve, 100))
    }
  }
  const expected = ids.filter(id => !claimed.slice(0, 50).some(e => e.id === id))
  t.same((await q.stats()).length, expected.length, 'every unacknowledged entry is there')
  t.equal((await q.stats()).inFlight, 50, 'the consumer group and its pending entries are there too')
  t.equal(await store.incr('counter'), 26)
  // Entries in flight before the crash come back after their visibility timeout.
  const all = await q.claim('after', { count: 1000, visibilityMs: 0 })
  t.same(all.map(e => e.id).sort(), [...expected].sort())
  t.ok(all.filter(e => e.deliveries === 2).length === 50, 'in-flight entries keep their delivery count')
})
