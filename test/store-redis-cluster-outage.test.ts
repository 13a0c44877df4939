/**
 * A Redis Cluster that goes away entirely (every master SIGKILLed: connections drop): store
 * commands fail within `store.timeout`, as on a single Redis, instead of waiting in the
 * client's offline queue for the cluster to return; `available()` says so; once the
 * masters are back (same ports and cluster config), the same store works again by itself.
 */
import t from 'tap'
import { RedisStore } from '../src/store/redis-store.js'
import { startRedisCluster } from './support/redis-cluster.js'

/** A command that hangs fails the test after this (the store's timeout is far shorter). */
const HANG_BOUND_MS = 10_000

async function settleWithin<T> (promise: Promise<T>): Promise<{ ok: true, value: T } | { ok: false, error: Error } | 'hung'> {
  let timer: NodeJS.Timeout | undefined
  const bound = new Promise<'hung'>(resolve => { timer = setTimeout(() => resolve('hung'), HANG_BOUND_MS) })
  try {
    return await Promise.race([promise.then(value => ({ ok: true as const, value }), (error: Error) => ({ ok: false as const, error })), bound])
  } finally {
    clearTimeout(timer)
  }
}

t.test('every master killed: commands fail within the store timeout; back by themselves after the restart', { timeout: 120_000 }, async t => {
  const cluster = await startRedisCluster(t)
  const store = await RedisStore.open({ kind: 'redis', url: cluster.url, prefix: 'outage:', cluster: true, timeoutMs: 500 })
  t.teardown(() => store.close())
  await store.set('before', 'outage', { durable: true })
  t.equal((await store.get('before'))?.toString(), 'outage')

  await Promise.all(cluster.nodes.map(n => n.kill('SIGKILL')))
  const results = await Promise.all([
    settleWithin(store.get('before')),
    settleWithin(store.set('during', 'outage', { durable: true })),
    settleWithin(store.queue('q').append({ during: 'outage' }))
  ])
  t.same(results.map(r => r === 'hung' ? 'hung' : r.ok ? 'resolved' : 'rejected'), ['rejected', 'rejected', 'rejected'],
    'every command was refused, none waited for the cluster to return')

  // Again once the client has noticed and is reconnecting: the case of an offline queue.
  await new Promise(resolve => setTimeout(resolve, 1500))
  const later = await Promise.all([
    settleWithin(store.get('before')),
    settleWithin(store.queue('q').append({ during: 'outage' }))
  ])
  t.same(later.map(r => r === 'hung' ? 'hung' : r.ok ? 'resolved' : 'rejected'), ['rejected', 'rejected'],
    'while reconnecting too')

  const deadline = Date.now() + 15_000
  while (store.available() && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 100))
  t.equal(store.available(), false, 'the store reports itself unavailable')

  await Promise.all(cluster.nodes.map(n => n.restart()))
  // The nodes come back empty (no persistence here): what counts is that the same store
  // object talks to them again without being reopened.
  let back: string | undefined
  const until = Date.now() + 60_000
  while (back === undefined && Date.now() < until) {
    back = await store.set('after', 'outage').then(async () => (await store.get('after'))?.toString(), () => undefined)
    if (back === undefined) await new Promise(resolve => setTimeout(resolve, 200))
  }
  t.equal(back, 'outage', 'the cluster answers again through the same store')
  await store.queue('q').append({ after: 'outage' })
  t.pass('and takes writes')
})
