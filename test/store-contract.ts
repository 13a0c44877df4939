/**
 * The behaviour every Store implementation must have. test/store-embedded.test.ts and
 * test/store-redis.test.ts run it against each; `open` must return a fresh, empty store
 * (its own directory or its own key prefix) on every call.
 */
import type tap from 'tap'
import { ADVANCE_PLACEHOLDER, type MessageHandler, type Store } from '../src/store/store.js'

export type TestContext = Parameters<Parameters<typeof tap.test>[0]>[0]

const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

function idOrder (a: string, b: string): number {
  const [am = 0, as = 0] = a.split('-').map(Number)
  const [bm = 0, bs = 0] = b.split('-').map(Number)
  return am !== bm ? am - bm : as - bs
}

/** Collects messages; `next()` resolves with the next one or rejects after `ms`. */
function inbox (): { handler: MessageHandler, messages: string[], next: (ms?: number) => Promise<string> } {
  const messages: string[] = []
  const waiting: Array<(m: string) => void> = []
  let read = 0
  return {
    messages,
    handler: m => {
      messages.push(m)
      waiting.shift()?.(messages[read++]!)
    },
    next: (ms = 2000) => {
      if (read < messages.length) return Promise.resolve(messages[read++]!)
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no message within ${ms} ms`)), ms)
        waiting.push(m => {
          clearTimeout(timer)
          resolve(m)
        })
      })
    }
  }
}

export function storeContract (t: TestContext, name: string, open: () => Promise<Store>): void {
  const test = (title: string, fn: (t: TestContext, store: Store) => Promise<void>): void => {
    t.test(`${name}: ${title}`, { timeout: 20_000 }, async t => {
      const store = await open()
      t.teardown(() => store.close())
      await fn(t, store)
    })
  }

  test('get and set strings and binary values', async (t, store) => {
    t.equal(await store.get('missing'), null)
    await store.set('a', 'hello')
    t.same(await store.get('a'), Buffer.from('hello'))
    const binary = Buffer.from([0, 255, 128, 10, 13, 0xc3])
    await store.set('b', binary)
    t.same(await store.get('b'), binary)
    await store.set('a', 'again', { durable: true })
    t.same((await store.get('a'))?.toString(), 'again')
    // Callers cannot reach into the store through buffers they hold.
    const got = (await store.get('a'))!
    got.fill(0)
    binary.fill(0)
    t.same((await store.get('a'))?.toString(), 'again')
    t.same((await store.get('b'))?.[1], 255)
    t.equal(store.kind === 'embedded' || store.kind === 'redis', true)
  })

  test('entries expire after ttlMs; a set without ttl clears it', async (t, store) => {
    // Deadlines are generous: these tests share the machine with others.
    await store.set('short', 'x', { ttlMs: 250 })
    await store.set('durable-short', 'x', { ttlMs: 250, durable: true })
    await store.set('kept', 'x', { ttlMs: 250 })
    await store.set('kept', 'y')
    t.same((await store.get('short'))?.toString(), 'x')
    await sleep(400)
    t.equal(await store.get('short'), null)
    t.equal(await store.get('durable-short'), null)
    t.same((await store.get('kept'))?.toString(), 'y')
  })

  test('setIfAbsent sets only a missing key', async (t, store) => {
    t.equal(await store.setIfAbsent('lock', 'one', { ttlMs: 250 }), true)
    t.equal(await store.setIfAbsent('lock', 'two'), false)
    t.same((await store.get('lock'))?.toString(), 'one')
    await sleep(400)
    t.equal(await store.setIfAbsent('lock', 'three', { durable: true }), true)
    t.same((await store.get('lock'))?.toString(), 'three')
    await store.delete(['lock'])
    t.equal(await store.setIfAbsent('lock', 'four'), true)
    // Concurrent first writers: exactly one wins.
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => store.setIfAbsent('race', String(i))))
    t.equal(results.filter(Boolean).length, 1)
  })

  test('delete resolves to how many keys existed', async (t, store) => {
    t.equal(await store.delete([]), 0)
    await store.set('a', '1')
    await store.set('b', '2', { durable: true })
    await store.set('gone', '3', { ttlMs: 30 })
    await store.addToSet('s', ['m'])
    await sleep(80)
    t.equal(await store.delete(['a', 'b', 'gone', 'never', 's']), 3)
    t.equal(await store.get('a'), null)
    t.equal(await store.get('b'), null)
    t.same(await store.setMembers('s'), [])
    t.equal(await store.delete(['a', 'b']), 0)
  })

  test('incr counts from zero, atomically', async (t, store) => {
    t.equal(await store.incr('c'), 1)
    t.equal(await store.incr('c', { durable: true }), 2)
    t.equal(await store.incr('c'), 3)
    t.same((await store.get('c'))?.toString(), '3')
    await store.set('n', '41')
    t.equal(await store.incr('n'), 42)
    const values = await Promise.all(Array.from({ length: 50 }, () => store.incr('many', { durable: true })))
    t.same(values.sort((a, b) => a - b), Array.from({ length: 50 }, (_, i) => i + 1))
    await store.set('text', 'not a number')
    await t.rejects(store.incr('text'))
  })

  test('sets: add, members, ttl', async (t, store) => {
    t.same(await store.setMembers('tags'), [])
    await store.addToSet('tags', ['a', 'b'])
    await store.addToSet('tags', ['b', 'c'])
    t.same((await store.setMembers('tags')).sort(), ['a', 'b', 'c'])
    await store.addToSet('short', ['x'], { ttlMs: 250 })
    await store.addToSet('refreshed', ['x'], { ttlMs: 250 })
    await sleep(100)
    await store.addToSet('refreshed', ['y'], { ttlMs: 2000 })
    await sleep(300)
    t.same(await store.setMembers('short'), [])
    t.same((await store.setMembers('refreshed')).sort(), ['x', 'y'])
  })

  test('sets: take removes the set and gives its members', async (t, store) => {
    t.same(await store.takeSet('none'), [], 'a missing set has no members')
    await store.addToSet('taken', ['a', 'b'], { ttlMs: 60_000 })
    t.same((await store.takeSet('taken')).sort(), ['a', 'b'])
    t.same(await store.setMembers('taken'), [], 'and it is gone')
    t.same(await store.takeSet('taken'), [])
    await store.addToSet('taken', ['c'])
    t.same(await store.setMembers('taken'), ['c'], 'a set taken can be filled again')
  })

  test('sets: takeSets takes several sets at once, each one\'s members in order', async (t, store) => {
    await store.addToSet('many:a', ['1', '2'], { ttlMs: 60_000 })
    await store.addToSet('many:c', ['3'])
    const [a, b, c] = await store.takeSets(['many:a', 'many:b', 'many:c'])
    t.same(a?.sort(), ['1', '2'])
    t.same(b, [], 'a missing set has no members')
    t.same(c, ['3'])
    t.same(await store.takeSets(['many:a', 'many:c']), [[], []], 'and they are gone')
    t.same(await store.takeSets([]), [])
  })

  test('queue: append, claim, ack, stats', async (t, store) => {
    const q = store.queue('jobs')
    t.equal(q.name, 'jobs')
    t.same(await q.stats(), { length: 0, inFlight: 0, delayed: 0, oldestAt: undefined })
    t.same(await q.claim('c1', { count: 10, visibilityMs: 10_000 }), [])
    const before = Date.now()
    const ids: string[] = []
    for (let i = 0; i < 5; i++) ids.push(await q.append({ n: String(i), kind: 'test' }))
    const after = Date.now()
    t.same([...ids].sort(idOrder), ids, 'ids increase')
    t.equal(new Set(ids).size, 5)

    const stats = await q.stats()
    t.equal(stats.length, 5)
    t.equal(stats.inFlight, 0)
    t.ok(stats.oldestAt !== undefined && stats.oldestAt >= before - 1 && stats.oldestAt <= after + 1, 'oldestAt is the first append time')

    const first = await q.claim('c1', { count: 2, visibilityMs: 10_000 })
    t.same(first, [
      { id: ids[0], fields: { n: '0', kind: 'test' }, deliveries: 1 },
      { id: ids[1], fields: { n: '1', kind: 'test' }, deliveries: 1 }
    ])
    t.same(await q.stats().then(s => [s.length, s.inFlight]), [5, 2])

    await q.ack([ids[0]!, 'unknown-id', '999999999999999-0', ids[0]!])
    t.same(await q.stats().then(s => [s.length, s.inFlight]), [4, 1])

    const rest = await q.claim('c2', { count: 10, visibilityMs: 10_000 })
    t.same(rest.map(e => e.id), ids.slice(2))
    await q.ack(ids)
    t.same(await q.stats(), { length: 0, inFlight: 0, delayed: 0, oldestAt: undefined })
    t.same(await q.claim('c1', { count: 10, visibilityMs: 0 }), [], 'acknowledged entries never come back')
    await q.ack([])

    // Queues are independent.
    await store.queue('other').append({ x: '1' })
    t.equal((await q.stats()).length, 0)
    t.equal((await store.queue('other').stats()).length, 1)
  })

  test('queue: fields round-trip exactly', async (t, store) => {
    const q = store.queue('fields')
    const odd: Record<string, string> = JSON.parse('{"__proto__":"p","empty":"","multi\\nline":"a\\r\\nb","ünï":"😀","json":"{\\"a\\":1}"}')
    await q.append(odd)
    await q.append({})
    const [first, second] = await q.claim('c', { count: 2, visibilityMs: 10_000 })
    t.same(Object.entries(first?.fields ?? {}).sort(), Object.entries(odd).sort())
    t.ok(Object.hasOwn(first?.fields ?? {}, '__proto__'), '__proto__ is a field, not a prototype')
    t.same(second?.fields, {})
  })

  test('queue: unacknowledged entries come back after the visibility timeout', async (t, store) => {
    const q = store.queue('retry')
    const id = await q.append({ task: 'x' })
    const id2 = await q.append({ task: 'y' })
    const a = await q.claim('a', { count: 1, visibilityMs: 300 })
    t.same(a.map(e => [e.id, e.deliveries]), [[id, 1]])
    const b = await q.claim('b', { count: 5, visibilityMs: 300 })
    t.same(b.map(e => [e.id, e.deliveries]), [[id2, 1]], 'an entry in flight is not handed out again')
    t.same(await q.claim('c', { count: 5, visibilityMs: 300 }), [])
    await sleep(450)
    await q.ack([id2])
    const again = await q.claim('c', { count: 5, visibilityMs: 300 })
    t.same(again, [{ id, fields: { task: 'x' }, deliveries: 2 }], 'reclaimed with its delivery count')
    await sleep(450)
    const third = await q.claim('a', { count: 5, visibilityMs: 300 })
    t.same(third.map(e => e.deliveries), [3])
    t.same((await q.stats()).inFlight, 1)
    // Acknowledgement is by id: a late ack from the first holder still removes it.
    await q.ack([id])
    t.same(await q.stats(), { length: 0, inFlight: 0, delayed: 0, oldestAt: undefined })
  })

  test('queue: competing consumers never hold the same entry at the same time', async (t, store) => {
    const q = store.queue('competing')
    const total = 300
    const appended = await Promise.all(Array.from({ length: total }, (_, i) => q.append({ i: String(i) })))
    t.equal(new Set(appended).size, total)
    const held = new Map<string, string>()
    const processed = new Map<string, number>()
    const violations: string[] = []
    const consumer = async (name: string): Promise<void> => {
      for (;;) {
        const batch = await q.claim(name, { count: 7, visibilityMs: 10_000 })
        if (batch.length === 0) return
        for (const entry of batch) {
          const holder = held.get(entry.id)
          if (holder !== undefined) violations.push(`${entry.id} held by ${holder} and ${name}`)
          held.set(entry.id, name)
        }
        await sleep(Math.random() * 5)
        for (const entry of batch) {
          held.delete(entry.id)
          processed.set(entry.id, (processed.get(entry.id) ?? 0) + 1)
        }
        await q.ack(batch.map(e => e.id))
      }
    }
    await Promise.all(['w1', 'w2', 'w3', 'w4', 'w5'].map(consumer))
    t.same(violations, [])
    t.equal(processed.size, total, 'every entry processed')
    t.ok([...processed.values()].every(n => n === 1), 'each exactly once')
    t.same(await q.stats(), { length: 0, inFlight: 0, delayed: 0, oldestAt: undefined })
  })

  test('queue: delayed entries are claimable only once due, and counted meanwhile', async (t, store) => {
    const q = store.queue('delayed')
    await q.append({ n: 'later' }, { delayMs: 400 })
    await q.append({ n: 'now' })
    await q.append({ n: 'zero' }, { delayMs: 0 })
    t.match(await q.stats(), { length: 3, inFlight: 0, delayed: 1 })
    const first = await q.claim('c', { count: 10, visibilityMs: 10_000 })
    t.same(first.map(e => e.fields.n), ['now', 'zero'], 'the delayed entry is not handed out early')
    t.same(await q.peek({ count: 10 }).then(es => es.map(e => e.fields.n)), ['now', 'zero'], 'nor listed')
    await q.ack(first.map(e => e.id))
    t.same(await q.claim('c', { count: 10, visibilityMs: 10_000 }), [])
    await sleep(550)
    const later = await q.claim('c', { count: 10, visibilityMs: 10_000 })
    t.same(later.map(e => [e.fields, e.deliveries]), [[{ n: 'later' }, 1]], 'handed out once due')
    t.match(await q.stats(), { length: 1, inFlight: 1, delayed: 0 })
    await q.ack(later.map(e => e.id))
    t.same(await q.stats(), { length: 0, inFlight: 0, delayed: 0, oldestAt: undefined })
    await q.append({}, { delayMs: 1 })
    await sleep(20)
    t.same((await q.claim('c', { count: 1, visibilityMs: 10_000 })).map(e => e.fields), [{}], 'an empty delayed entry round-trips')
  })

  test('queue: a delayed append with since counts in oldestSince until acknowledged, across its promotion', async (t, store) => {
    const q = store.queue('since')
    await q.append({ n: 'plain' })
    t.equal((await q.stats()).oldestSince, undefined, 'no entry with a since: absent')
    const first = await q.claim('c', { count: 10, visibilityMs: 10_000 })
    await q.ack(first.map(e => e.id))
    const since = Date.now() - 60_000
    await q.append({ n: 'retry' }, { delayMs: 150, since })
    await q.append({ n: 'younger' }, { delayMs: 100, since: since + 1000 })
    t.match(await q.stats(), { delayed: 2, oldestSince: since }, 'while delayed')
    await sleep(250)
    const due = await q.claim('c', { count: 10, visibilityMs: 10_000 })
    t.same(due.map(e => e.fields.n).sort(), ['retry', 'younger'])
    t.match(await q.stats(), { delayed: 0, inFlight: 2, oldestSince: since }, 'once handed out, still counted')
    await q.ack(due.filter(e => e.fields.n === 'retry').map(e => e.id))
    t.match(await q.stats(), { inFlight: 1, oldestSince: since + 1000 }, 'the acknowledged one no longer counts')
    await q.ack(due.map(e => e.id))
    t.same(await q.stats(), { length: 0, inFlight: 0, delayed: 0, oldestAt: undefined }, 'all acknowledged: absent again')
  })

  test('queue: peek and get list entries without handing them out', async (t, store) => {
    const q = store.queue('peek')
    t.same(await q.peek({ count: 10 }), [])
    const before = Date.now()
    const ids: string[] = []
    for (let i = 0; i < 5; i++) ids.push(await q.append({ i: String(i) }))
    const listed = await q.peek({ count: 3 })
    t.same(listed.map(e => [e.id, e.fields.i]), [[ids[0], '0'], [ids[1], '1'], [ids[2], '2']])
    t.ok(listed.every(e => e.at >= before - 1 && e.at <= Date.now() + 1), 'at is the append time')
    t.same((await q.peek({ count: 10, after: ids[2] })).map(e => e.id), ids.slice(3), 'after is exclusive')
    t.same(await q.peek({ count: 0 }), [])
    const claimed = await q.claim('c', { count: 1, visibilityMs: 10_000 })
    t.same(claimed.map(e => e.deliveries), [1], 'peek did not count as a hand-out')
    t.same((await q.peek({ count: 10 })).map(e => e.id), ids, 'in-flight entries are listed too')
    t.match(await q.get(ids[3]!), { id: ids[3], fields: { i: '3' }, at: Number })
    t.same((await q.get(ids[0]!))?.fields, { i: '0' })
    t.equal(await q.get('999999999999999-0'), undefined)
    t.equal(await q.get('not-an-id'), undefined)
    await q.ack([ids[1]!])
    t.equal(await q.get(ids[1]!), undefined, 'acknowledged entries are gone')
    t.same((await q.peek({ count: 10 })).map(e => e.id), [ids[0], ids[2], ids[3], ids[4]])
  })

  test('setMax is an atomic newest-wins register', async (t, store) => {
    t.equal(await store.setMax('v', 3, { durable: true }), 3)
    t.equal(await store.setMax('v', 2, { durable: true }), 3, 'never goes down')
    t.equal(await store.setMax('v', 7), 7)
    t.same((await store.get('v'))?.toString(), '7')
    const results = await Promise.all([5, 9, 1, 8, 9, 2].map(n => store.setMax('race', n, { durable: true })))
    t.equal(await store.setMax('race', 0), 9)
    t.ok(results.every(r => r <= 9) && results.includes(9))
    await store.setMax('short', 1, { ttlMs: 200 })
    await sleep(350)
    t.equal(await store.setMax('short', 0), 0, 'a value that expired is missing')
    await store.set('text', 'abc')
    await t.rejects(store.setMax('text', 1))
  })

  test('operations take effect in the order issued, without awaiting in between', async (t, store) => {
    // Everything below is issued in one tick; only then awaited.
    const q = store.queue('ordered')
    const issued = [
      store.set('x', 'a'),
      store.get('x'),
      store.delete(['x']),
      store.get('x'),
      store.set('x', 'b', { durable: true }),
      store.get('x'),
      store.setMax('register', 3, { durable: true }),
      store.setIfAbsent('lease', 'mine', { ttlMs: 10_000 }),
      store.get('register'),
      store.deleteIfEquals('lease', 'mine'),
      store.setIfAbsent('lease', 'again', { ttlMs: 10_000 }),
      store.addToSet('set', ['m']),
      store.delete(['set']),
      store.addToSet('set', ['n'], { ttlMs: 10_000 }),
      store.setMembers('set'),
      q.append({ n: '1' }),
      q.claim('c', { count: 10, visibilityMs: 10_000 })
    ] as const
    const results = await Promise.all(issued)
    t.same((results[1] as Buffer | null)?.toString(), 'a', 'a get sees the set issued before it')
    t.equal(results[3], null, 'and the delete issued before it')
    t.same((results[5] as Buffer | null)?.toString(), 'b')
    t.equal(results[7], true, 'the lease is taken')
    t.same((results[8] as Buffer | null)?.toString(), '3', 'a register read after taking a lease sees the raise issued before')
    t.equal(results[9], true, 'the lease is released')
    t.equal(results[10], true, 'and can be taken again')
    t.same(results[14], ['n'], 'sets: add, delete, add in order')
    t.same((results[16] as Array<{ fields: Record<string, string> }>).map(e => e.fields), [{ n: '1' }], 'a claim sees the append issued before it')
  })

  test('a queue\'s registers and locks: raise with an append, lock and read, unlock with an ack', async (t, store) => {
    const q = store.queue('kept')
    const other = store.queue('kept-other')
    t.equal(await q.read('latest:a'), undefined, 'a missing register reads undefined')
    const id = await q.append({ n: '1' }, { raise: { key: 'latest:a', value: 5, ttlMs: 60_000 } })
    t.match(id, /\S/, 'the append still returns its id')
    t.equal(await q.read('latest:a'), 5, 'the register was raised with the append')
    t.equal(await q.raise({ key: 'latest:a', value: 3 }), 5, 'a lower raise leaves it')
    t.equal(await q.raise({ key: 'latest:a', value: 7, ttlMs: 60_000 }), 7)
    t.equal(await other.read('latest:a'), undefined, 'registers belong to their queue')
    t.equal(await store.get('latest:a'), null, 'and are not store keys')

    const [entry] = await q.claim('c', { count: 1, visibilityMs: 10_000 })
    t.same(entry?.fields, { n: '1' })
    t.same(await q.lock({ key: 'lease:a', token: 'mine', ttlMs: 10_000 }, { read: 'latest:a' }), { locked: true, value: 7 }, 'locked, the register read with it')
    t.same(await q.lock({ key: 'lease:a', token: 'theirs', ttlMs: 10_000 }), { locked: false, value: undefined }, 'a held lock is not taken again')
    t.same(await other.lock({ key: 'lease:a', token: 'x', ttlMs: 10_000 }), { locked: true, value: undefined }, 'locks belong to their queue')
    await q.ack([], { unlock: { key: 'lease:a', token: 'theirs' } })
    t.equal((await q.lock({ key: 'lease:a', token: 'again', ttlMs: 10_000 })).locked, false, 'another token does not unlock')
    await q.ack([entry!.id], { unlock: { key: 'lease:a', token: 'mine' } })
    t.equal((await q.stats()).length, 0, 'the ack with an unlock acknowledged')
    t.equal((await q.lock({ key: 'lease:a', token: 'again', ttlMs: 10_000 })).locked, true, 'and released the lock')

    // Issued in one tick: each takes effect in the order issued.
    const [, locked, , raised] = await Promise.all([
      q.append({ n: '2' }, { raise: { key: 'latest:b', value: 2 } }),
      q.lock({ key: 'lease:b', token: 't', ttlMs: 10_000 }, { read: 'latest:b' }),
      q.ack([], { unlock: { key: 'lease:b', token: 't' } }),
      q.lock({ key: 'lease:b', token: 'u', ttlMs: 10_000 }, { read: 'latest:b' })
    ])
    t.same(locked, { locked: true, value: 2 }, 'a lock issued after an append sees its raise')
    t.same(raised, { locked: true, value: 2 }, 'a lock issued after an unlock takes the lock')
    await t.rejects(q.raise({ key: 'latest:c', value: 1.5 }), 'a register holds integers')
  })

  test('advance: increments a counter, raises registers to it, publishes a message carrying it', async (t, store) => {
    const box = inbox()
    const unsubscribe = await store.subscribe('advanced', box.handler)
    t.teardown(unsubscribe)
    await store.setMax('adv:high', 50)
    const first = await store.advance('adv:counter', ['adv:a', 'adv:high'], {
      ttlMs: 60_000,
      publish: { channel: 'advanced', message: `n=${ADVANCE_PLACEHOLDER};${JSON.stringify({ text: `kept ${ADVANCE_PLACEHOLDER}` })};m=${ADVANCE_PLACEHOLDER}` }
    })
    t.equal(first, 1)
    t.same((await store.get('adv:a'))?.toString(), '1', 'a register raised to the new value')
    t.same((await store.get('adv:high'))?.toString(), '50', 'a higher one left')
    t.equal(await box.next(), 'n=1;{"text":"kept \\u0001"};m=1', 'the placeholder replaced by the value; inside JSON text it is escaped, so left alone')
    t.equal(await store.advance('adv:counter', ['adv:a']), 2, 'without a message')
    t.same((await store.get('adv:a'))?.toString(), '2')
    t.equal(await store.advance('adv:counter', []), 3, 'without registers')
    await store.set('adv:text', 'abc')
    await t.rejects(store.advance('adv:text', []), 'the counter holds text')
    await t.rejects(store.advance('adv:counter', ['adv:text']), 'a register holds text')
  })

  test('claim with lock: a lock per entry having the field, taken in the claim, the register read under it', async (t, store) => {
    const q = store.queue('claimlock')
    await q.raise({ key: 'latest:a', value: 4 })
    const a1 = await q.append({ e: 'a', n: '1' })
    const b1 = await q.append({ e: 'b', n: '2' })
    const a2 = await q.append({ e: 'a', n: '3' })
    await q.append({ n: 'no field' })
    const lock = { field: 'e', lockPrefix: 'lease:', readPrefix: 'latest:', tokenPrefix: 'me:', ttlMs: 10_000 }
    const entries = await q.claim('c', { count: 10, visibilityMs: 10_000, lock })
    t.same(entries.map(e => e.lock), [
      { locked: true, value: 4, token: `me:${a1}:1` },
      { locked: true, value: undefined, token: `me:${b1}:1` },
      { locked: false, value: 4, token: `me:${a2}:1` },
      undefined
    ], 'the second entry of `a` finds the lock taken; an entry without the field gets none')
    t.same((await q.lock({ key: 'lease:b', token: 'other', ttlMs: 10_000 })).locked, false, 'the locks are the queue\'s')
    await q.ack([a1], { unlock: { key: 'lease:a', token: `me:${a1}:1` } })
    t.same((await q.lock({ key: 'lease:a', token: 'next', ttlMs: 10_000 })).locked, true, 'released by its token')
  })

  test('deleteIfEquals deletes only a matching value', async (t, store) => {
    await store.set('lock', 'owner-a', { ttlMs: 10_000 })
    t.equal(await store.deleteIfEquals('lock', 'owner-b'), false)
    t.same((await store.get('lock'))?.toString(), 'owner-a')
    t.equal(await store.deleteIfEquals('lock', 'owner-a'), true)
    t.equal(await store.get('lock'), null)
    t.equal(await store.deleteIfEquals('lock', 'owner-a'), false)
    t.equal(await store.deleteIfEquals('never', 'x'), false)
  })

  test('publish reaches every subscriber, asynchronously; unsubscribe stops it', async (t, store) => {
    await store.publish('nobody', 'listens')
    const one = inbox()
    const two = inbox()
    const other = inbox()
    const unsubOne = await store.subscribe('events', one.handler)
    const unsubTwo = await store.subscribe('events', two.handler)
    const unsubOther = await store.subscribe('elsewhere', other.handler)

    const publishing = store.publish('events', 'first')
    t.equal(one.messages.length, 0, 'no handler runs inside publish()')
    await publishing
    t.equal(await one.next(), 'first')
    t.equal(await two.next(), 'first')

    await unsubOne()
    await unsubOne() // twice is harmless
    await store.publish('events', 'second')
    t.equal(await two.next(), 'second')
    await store.publish('elsewhere', 'third')
    t.equal(await other.next(), 'third')
    await sleep(100)
    t.same(one.messages, ['first'], 'unsubscribed handler got nothing more')
    t.same(two.messages, ['first', 'second'], 'channels are separate')

    // The same function subscribed twice is two subscriptions.
    const unsubAgain = await store.subscribe('events', two.handler)
    await store.publish('events', 'fourth')
    t.equal(await two.next(), 'fourth')
    t.equal(await two.next(), 'fourth')
    await unsubAgain()
    await unsubTwo()
    await unsubOther()
    await store.publish('events', 'fifth')
    await sleep(100)
    t.equal(two.messages.length, 4)
  })

  test('ping, then close releases the store', async (t, store) => {
    await store.ping()
    await store.subscribe('c', () => {})
    await store.set('k', 'v', { durable: true })
    await store.close()
    await store.close() // idempotent
    await t.rejects(store.ping(), 'ping fails once closed')
  })
}
