/**
 * The outbox against a real dependent over HTTP, on both stores: outcomes, headers,
 * supersession, one delivery in flight per entity, retries (503, Retry-After, timeout),
 * dead letters (400, max attempts), replay and discard.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import type tap from 'tap'
import type { DeliveryEvent } from '../src/outbox/types.js'
import { startRedis } from './support/redis-server.js'
import { delivery, embeddedKind, makeOutbox, redisKind, startDependent, until, upstreamsFor, type StoreKind } from './support/outbox-harness.js'

const root = await mkdtemp(join(tmpdir(), 'junction-outbox-'))
t.teardown(() => rm(root, { recursive: true, force: true }))
const redis = await startRedis(t)

for (const kind of [embeddedKind(root), redisKind(redis.url)] as StoreKind[]) {
  t.test(kind.name, async t => {
    const setup = async (t: Parameters<Parameters<typeof tap.test>[0]>[0], opts: Record<string, number> = {}) => {
      const dependent = await startDependent(t)
      const store = await kind.open(t)
      const outbox = makeOutbox(t, { store, services: upstreamsFor(t, { orders: dependent.url }), dependents: ['orders'], ...opts })
      const events: DeliveryEvent[] = []
      outbox.onOutcome(e => events.push(e))
      outbox.start()
      return { dependent, store, outbox, events }
    }

    t.test('delivers with the version header and a per-(write, dependent) idempotency key', async t => {
      const { dependent, outbox, events } = await setup(t)
      const put = delivery('7', 3)
      const del = delivery('8', 5, { method: 'DELETE', path: '/customers/8', body: undefined, versionHeader: 'X-Copy-Version' })
      await outbox.enqueue([put, del])
      t.equal(await outbox.latestEnqueued('orders', put.entity), 3, 'latestEnqueued right after enqueue')
      t.equal(await outbox.latestEnqueued('orders', 'users:/users/unknown'), undefined)
      await until('two outcomes', () => events.length === 2)
      const [p] = dependent.seen.filter(r => r.method === 'PUT')
      t.equal(p?.headers['x-entity-version'], '3')
      t.equal(p?.headers['idempotency-key'], `${put.writeId}:orders`)
      t.equal(p?.headers['content-type'], 'application/json')
      t.same(JSON.parse(p?.body ?? '{}'), { id: '7', name: 'user 7 v3' })
      const [d] = dependent.seen.filter(r => r.method === 'DELETE')
      t.equal(d?.headers['x-copy-version'], '5', 'a custom version header')
      t.equal(d?.headers['content-type'], undefined, 'a tombstone has no body')
      t.equal(d?.body, '')
      t.same(events.map(e => [e.outcome, e.attempts, e.status]).sort(), [['delivered', 1, 200], ['delivered', 1, 200]])
      t.ok(events.every(e => e.lagMs >= 0 && e.lagMs < 5000))
      const [stats] = await outbox.stats()
      t.match(stats, { dependent: 'orders', pending: 0, inFlight: 0, retrying: 0, dead: 0, oldestAgeMs: 0 })
      t.ok(typeof stats?.lagMs === 'number', 'the last delivery lag is reported')
      await t.rejects(outbox.enqueue([delivery('1', 1, { dependent: 'nope' })]), { code: 'JUNCTION_UNKNOWN_DEPENDENT' })
    })

    t.test('409 from the dependent counts as done (superseded)', async t => {
      const { dependent, outbox, events } = await setup(t)
      dependent.held.set('9', 10)
      await outbox.enqueue([delivery('9', 4)])
      await until('outcome', () => events.length === 1)
      t.same(events.map(e => [e.outcome, e.status, e.attempts]), [['superseded', 409, 1]])
      t.match((await outbox.stats())[0], { pending: 0, retrying: 0, dead: 0 })
    })

    t.test('newest wins: versions 1..5 of one entity while the dependent is slow', async t => {
      const { dependent, outbox, events } = await setup(t)
      dependent.delayMs = 80
      for (let v = 1; v <= 5; v++) {
        await outbox.enqueue([delivery('42', v)])
        await new Promise(resolve => setTimeout(resolve, 30))
      }
      await until('all five settled', () => events.length === 5)
      const versions = dependent.seen.map(r => r.version)
      t.same([...versions].sort((a, b) => a - b), versions, `the dependent saw versions only going up: ${versions.join(',')}`)
      t.equal(dependent.held.get('42'), 5, 'ends at v5')
      t.ok(events.some(e => e.outcome === 'superseded' && e.status === undefined), 'some were superseded without being sent')
      t.equal(dependent.maxInFlight.get('42'), 1)
    })

    t.test('at most one delivery in flight per (dependent, entity), many entities in parallel', async t => {
      const { dependent, outbox, events } = await setup(t, { concurrency: 8 })
      dependent.delayMs = 25
      let total = 0
      // New versions keep arriving while older ones are in flight: the lease is contended.
      for (let v = 1; v <= 6; v++) {
        const batch = Array.from({ length: 5 }, (_, id) => delivery(`e${id}`, v))
        total += batch.length
        await outbox.enqueue(batch)
        await new Promise(resolve => setTimeout(resolve, 10))
      }
      await until('all settled', () => events.length === total, 20_000)
      for (let id = 0; id < 5; id++) {
        t.equal(dependent.maxInFlight.get(`e${id}`), 1, `e${id}: one at a time`)
        t.equal(dependent.held.get(`e${id}`), 6, `e${id}: newest version held`)
        const versions = dependent.seen.filter(r => r.id === `e${id}`).map(r => r.version)
        t.same([...versions].sort((a, b) => a - b), versions, `e${id}: never backwards (${versions.join(',')})`)
      }
      // Entities did go out side by side (otherwise one-at-a-time would prove nothing).
      const overlapping = dependent.seen.some((a, i) => dependent.seen.some((b, j) => i !== j && a.id !== b.id && Math.abs(a.at - b.at) < 10))
      t.ok(overlapping, 'different entities were delivered concurrently')
    })

    t.test('503 for a while, then recovery: delivered after several attempts', async t => {
      const { dependent, outbox, events } = await setup(t)
      let failures = 3
      dependent.behaviour = () => failures-- > 0 ? { status: 503 } : undefined
      await outbox.enqueue([delivery('5', 2)])
      await until('delivered', () => events.length === 1)
      t.same(events.map(e => [e.outcome, e.attempts, e.status]), [['delivered', 4, 200]])
      t.equal(dependent.seen.length, 4)
      t.ok(new Set(dependent.seen.map(r => r.headers['idempotency-key'])).size === 1, 'the same idempotency key on every attempt')
    })

    t.test('oldestAgeMs counts deliveries waiting in backoff, and drops to 0 once delivered', async t => {
      const { dependent, outbox, events } = await setup(t, { baseBackoffMs: 200, maxBackoffMs: 400 })
      let failing = true
      dependent.behaviour = () => failing ? { status: 503 } : undefined
      await outbox.enqueue([delivery('11', 1), delivery('12', 1)])
      const enqueued = Date.now()
      // Every entry in backoff, none ready or in flight: the age is the retries' alone. The
      // reading that shows it is the one checked (a backoff may end right after it).
      let stats: Awaited<ReturnType<typeof outbox.stats>>[number] | undefined
      let before = 0
      const inBackoff = async (): Promise<boolean> => {
        const asked = Date.now()
        const [s] = await outbox.stats()
        if (s === undefined || s.retrying !== 2 || s.pending !== 0 || s.inFlight !== 0 || dependent.seen.length < 4) return false
        stats = s
        before = asked
        return true
      }
      await until('both in backoff after a few attempts', inBackoff)
      t.equal(stats?.retrying, 2)
      t.ok((stats?.oldestAgeMs ?? 0) >= before - enqueued, `the age counts from the first enqueue (${stats?.oldestAgeMs} ms, at least ${before - enqueued})`)
      await until('a later reading is older', async () => {
        const [later] = await outbox.stats()
        return (later?.oldestAgeMs ?? 0) > (stats?.oldestAgeMs ?? 0)
      })
      failing = false
      await until('delivered', () => events.length === 2, 5000)
      t.same(events.map(e => e.outcome), ['delivered', 'delivered'])
      t.match((await outbox.stats())[0], { pending: 0, inFlight: 0, retrying: 0, oldestAgeMs: 0 }, 'nothing undelivered: 0')
    })

    t.test('Retry-After is honoured', async t => {
      const { dependent, outbox, events } = await setup(t)
      let first = true
      dependent.behaviour = () => {
        if (!first) return undefined
        first = false
        return { status: 429, headers: { 'retry-after': '1' } }
      }
      await outbox.enqueue([delivery('6', 1)])
      await until('delivered', () => events.length === 1, 5000)
      t.equal(dependent.seen.length, 2)
      const gap = dependent.seen[1]!.at - dependent.seen[0]!.at
      // Backoff alone would be under 100 ms with these knobs.
      t.ok(gap >= 950, `waited for Retry-After: 1 (${gap} ms)`)
    })

    t.test('an attempt that times out is retried', async t => {
      const { dependent, outbox, events } = await setup(t, { attemptTimeoutMs: 300 })
      let first = true
      dependent.behaviour = () => {
        if (!first) return undefined
        first = false
        return { status: 200, hang: true }
      }
      await outbox.enqueue([delivery('11', 1)])
      await until('delivered', () => events.length === 1, 5000)
      t.same(events.map(e => [e.outcome, e.attempts]), [['delivered', 2]])
      t.ok(events[0]!.lagMs >= 300)
    })

    t.test('400 → dead letter at once with the answer; replay after the fix delivers; discard', async t => {
      const { dependent, outbox, events } = await setup(t)
      dependent.behaviour = r => r.id === 'bad' || r.id === 'also' ? { status: 400, body: '{"code":"INVALID_BODY","detail":"name is required"}' } : undefined
      const bad = delivery('bad', 3)
      await outbox.enqueue([bad, delivery('also', 1), delivery('fine', 1)])
      await until('three outcomes', () => events.length === 3)
      t.equal(dependent.seen.filter(r => r.id === 'bad').length, 1, 'not retried')
      const dead = await outbox.deadLetters('orders')
      t.equal(dead.length, 2)
      const letter = dead.find(d => d.request.entity === bad.entity)!
      t.match(letter, { attempts: 1, reason: 'HTTP 400: not retryable', lastResponse: { status: 400, body: '{"code":"INVALID_BODY","detail":"name is required"}' } })
      t.same(letter.request, bad)
      t.ok(letter.deadAt > 0)
      t.match((await outbox.stats())[0], { dead: 2, pending: 0 })
      t.same((await outbox.deadLetters('orders', { limit: 1 })).map(d => d.id), [dead[0]!.id])
      t.same((await outbox.deadLetters('orders', { after: dead[0]!.id })).map(d => d.id), [dead[1]!.id])

      dependent.behaviour = () => undefined // fixed
      t.equal(await outbox.replay('orders', letter.id), 1)
      t.equal(await outbox.replay('orders', letter.id), 0, 'gone from the dead letters')
      await until('replayed delivery', () => events.length === 4)
      t.same([events[3]!.outcome, events[3]!.request.entity], ['delivered', bad.entity])
      t.equal(dependent.held.get('bad'), 3)
      const other = (await outbox.deadLetters('orders'))[0]!
      t.equal(await outbox.discard('orders', 'no-such-id'), 0)
      t.equal(await outbox.discard('orders', other.id), 1)
      t.same(await outbox.deadLetters('orders'), [])
      t.equal(dependent.held.get('also'), undefined, 'a discarded letter is never delivered')
      await t.rejects(outbox.deadLetters('nope'), { code: 'JUNCTION_UNKNOWN_DEPENDENT', statusCode: 404 })
    })

    t.test('max attempts → dead letter; replay all and discard all', async t => {
      const { dependent, outbox, events } = await setup(t, { maxAttempts: 3 })
      dependent.behaviour = () => ({ status: 500, body: 'boom' })
      await outbox.enqueue([delivery('m1', 1), delivery('m2', 1), delivery('m3', 1)])
      await until('three dead', () => events.length === 3, 10_000)
      t.ok(events.every(e => e.outcome === 'dead' && e.attempts === 3 && e.status === 500))
      t.equal(dependent.seen.length, 9)
      const dead = await outbox.deadLetters('orders')
      t.match(dead[0], { attempts: 3, reason: /^gave up after 3 attempts; last: HTTP 500/, lastResponse: { status: 500, body: 'boom' } })
      dependent.behaviour = r => r.id === 'm3' ? { status: 500 } : undefined
      t.equal(await outbox.replay('orders'), 3)
      await until('m1 and m2 delivered', () => dependent.held.get('m1') === 1 && dependent.held.get('m2') === 1)
      await until('m3 dead again', async () => (await outbox.deadLetters('orders')).length === 1)
      t.equal(await outbox.discard('orders'), 1)
      t.match((await outbox.stats())[0], { dead: 0, pending: 0, retrying: 0, inFlight: 0 })
    })

    t.test('connection refused is retried until the dependent comes up', async t => {
      const dependent = await startDependent(t)
      const url = dependent.url
      await dependent.origin.close()
      const store = await kind.open(t)
      const outbox = makeOutbox(t, { store, services: upstreamsFor(t, { orders: url }), dependents: ['orders'] })
      const events: DeliveryEvent[] = []
      outbox.onOutcome(e => events.push(e))
      outbox.start()
      await outbox.enqueue([delivery('r', 1)])
      await until('retrying', async () => (await outbox.stats())[0]!.retrying === 1)
      await new Promise<void>(resolve => dependent.origin.server.listen(dependent.origin.port, '127.0.0.1', resolve))
      await until('delivered', () => events.length === 1)
      t.equal(events[0]!.outcome, 'delivered')
      t.ok(events[0]!.attempts > 1)
    })
  })
}
