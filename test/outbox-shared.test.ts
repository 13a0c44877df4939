/**
 * Several outbox instances, and instances that die: two instances draining one Redis
 * outbox; a child process SIGKILLed while holding deliveries (the survivor reclaims them
 * after the visibility timeout); a child SIGKILLed while its deliveries wait in backoff
 * on the embedded store (nothing lost after a restart).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import type { StoreConfig } from '../src/config/types.js'
import { EmbeddedStore } from '../src/store/embedded-store.js'
import { RedisStore } from '../src/store/redis-store.js'
import type { DeliveryEvent, DeliveryRequest } from '../src/outbox/types.js'
import { startRedis } from './support/redis-server.js'
import { delivery, makeOutbox, startDependent, until, upstreamsFor } from './support/outbox-harness.js'

const WORKER = join(dirname(fileURLToPath(import.meta.url)), 'support', 'outbox-worker.js')
const redis = await startRedis(t)
const root = await mkdtemp(join(tmpdir(), 'junction-outbox-shared-'))
t.teardown(() => rm(root, { recursive: true, force: true }))

interface Child { proc: ChildProcess, lines: string[], exited: Promise<void> }

function startWorker (t: { teardown (fn: () => unknown): void, comment (...args: unknown[]): void }, config: { store: StoreConfig, dependentUrl: string, consumer: string, options: Record<string, number>, enqueue?: DeliveryRequest[] }): Child {
  const proc = spawn(process.execPath, [WORKER], { env: { ...process.env, OUTBOX_WORKER: JSON.stringify(config) }, stdio: ['ignore', 'pipe', 'pipe'] })
  const lines: string[] = []
  let buffer = ''
  proc.stdout?.on('data', (chunk: Buffer) => {
    buffer += chunk.toString()
    const parts = buffer.split('\n')
    buffer = parts.pop() ?? ''
    lines.push(...parts)
  })
  let stderr = ''
  proc.stderr?.on('data', (chunk: Buffer) => { stderr = (stderr + chunk.toString()).slice(-4000) })
  const exited = new Promise<void>(resolve => proc.once('exit', () => {
    if (proc.signalCode !== 'SIGKILL' && stderr !== '') t.comment(`worker stderr: ${stderr}`)
    resolve()
  }))
  t.teardown(async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL')
    await exited
  })
  return { proc, lines, exited }
}

async function kill (child: Child): Promise<void> {
  child.proc.kill('SIGKILL')
  await child.exited
}

t.test('two instances on one Redis share the work; each delivery goes out once', { timeout: 30_000 }, async t => {
  const dependent = await startDependent(t)
  dependent.delayMs = 5
  const prefix = `shared:${randomUUID()}:`
  const stores = await Promise.all([0, 1].map(() => RedisStore.open({ kind: 'redis', url: redis.url, prefix })))
  t.teardown(() => Promise.all(stores.map(s => s.close())))
  const byInstance: Record<string, DeliveryEvent[]> = { a: [], b: [] }
  const outboxes = (['a', 'b'] as const).map((name, i) => {
    const outbox = makeOutbox(t, { store: stores[i]!, services: upstreamsFor(t, { orders: dependent.url }), dependents: ['orders'], consumer: name, concurrency: 4 })
    outbox.onOutcome(e => byInstance[name]!.push(e))
    return outbox
  })
  for (const o of outboxes) o.start()
  const total = 200
  const started = Date.now()
  for (let i = 0; i < total; i += 20) {
    await outboxes[0]!.enqueue(Array.from({ length: 20 }, (_, k) => delivery(`s${i + k}`, 1)))
  }
  await until('all delivered', () => byInstance.a!.length + byInstance.b!.length === total, 20_000)
  const ms = Date.now() - started
  t.comment(`${total} deliveries by two instances in ${ms} ms (${Math.round(total / ms * 1000)}/s, dependent answering in 5 ms)`)
  t.ok(byInstance.a!.length > 0 && byInstance.b!.length > 0, `both instances delivered (a ${byInstance.a!.length}, b ${byInstance.b!.length})`)
  t.ok([...byInstance.a!, ...byInstance.b!].every(e => e.outcome === 'delivered' && e.attempts === 1))
  const perId = new Map<string, number>()
  for (const r of dependent.seen) perId.set(r.id, (perId.get(r.id) ?? 0) + 1)
  t.equal(perId.size, total)
  t.ok([...perId.values()].every(n => n === 1), 'each delivery sent exactly once')
})

t.test('an instance killed while holding deliveries: the survivor reclaims them after the visibility timeout', { timeout: 30_000 }, async t => {
  let hang = true
  const dependent = await startDependent(t, () => hang ? { status: 200, hang: true } : undefined)
  const prefix = `reclaim:${randomUUID()}:`
  const options = { pollIntervalMs: 50, attemptTimeoutMs: 2000, visibilityTimeoutMs: 2500, baseBackoffMs: 20, maxBackoffMs: 100 }
  const store = await RedisStore.open({ kind: 'redis', url: redis.url, prefix })
  t.teardown(() => store.close())
  const survivor = makeOutbox(t, { ...options, store, services: upstreamsFor(t, { orders: dependent.url }), dependents: ['orders'], consumer: 'survivor' })
  const events: DeliveryEvent[] = []
  survivor.onOutcome(e => events.push(e))
  const batch = Array.from({ length: 5 }, (_, i) => delivery(`k${i}`, 2))
  await survivor.enqueue(batch)

  const child = startWorker(t, { store: { kind: 'redis', url: redis.url, prefix }, dependentUrl: dependent.url, consumer: 'doomed', options })
  await until('the child holds all five in flight', () => dependent.seen.length === 5)
  t.match((await survivor.stats())[0], { inFlight: 5, pending: 0 })
  await kill(child)
  const killedAt = Date.now()
  hang = false
  survivor.start()
  await until('the survivor delivered all five', () => events.length === 5, 15_000)
  const waited = Date.now() - killedAt
  t.ok(waited >= 1500, `reclaimed only after the visibility timeout (${waited} ms after the kill)`)
  t.ok(events.every(e => e.outcome === 'delivered'))
  for (let i = 0; i < 5; i++) t.equal(dependent.held.get(`k${i}`), 2)
  const keys = new Set(dependent.seen.map(r => r.headers['idempotency-key']))
  t.equal(keys.size, 5, 'the redelivery reused each delivery\'s idempotency key')
  t.match((await survivor.stats())[0], { inFlight: 0, pending: 0, retrying: 0, dead: 0 })
})

t.test('embedded store: killed during backoff, nothing is lost after a restart', { timeout: 30_000 }, async t => {
  let failing = true
  const dependent = await startDependent(t, () => failing ? { status: 503, headers: { 'retry-after': '2' } } : undefined)
  const dir = join(root, 'backoff')
  const options = { pollIntervalMs: 50, attemptTimeoutMs: 1000, visibilityTimeoutMs: 2000, baseBackoffMs: 20, maxBackoffMs: 100 }
  const batch = Array.from({ length: 5 }, (_, i) => delivery(`b${i}`, 3))
  const child = startWorker(t, { store: { kind: 'embedded', dir, fsync: 'batch' }, dependentUrl: dependent.url, consumer: 'doomed', options, enqueue: batch })
  await until('each delivery failed once', () => dependent.seen.length === 5)
  // The retry is re-appended right after the 503 is read; give it a moment to be written.
  await new Promise(resolve => setTimeout(resolve, 300))
  await kill(child)
  t.notOk(child.lines.some(l => l.startsWith('outcome')), 'no delivery finished before the kill')

  failing = false
  const store = await EmbeddedStore.open({ kind: 'embedded', dir, fsync: 'batch' })
  t.teardown(() => store.close())
  const outbox = makeOutbox(t, { ...options, store, services: upstreamsFor(t, { orders: dependent.url }), dependents: ['orders'] })
  const stats = (await outbox.stats())[0]!
  t.equal(stats.retrying + stats.pending, 5, `all five are still there after the crash (${JSON.stringify(stats)})`)
  const events: DeliveryEvent[] = []
  outbox.onOutcome(e => events.push(e))
  outbox.start()
  await until('all five delivered', () => events.length === 5, 10_000)
  t.ok(events.every(e => e.outcome === 'delivered' && e.attempts === 2), 'attempt counts survived the crash')
  for (let i = 0; i < 5; i++) t.equal(dependent.held.get(`b${i}`), 3)
  const gaps = batch.map((_, i) => {
    const times = dependent.seen.filter(r => r.id === `b${i}`).map(r => r.at)
    return times[1]! - times[0]!
  })
  t.ok(gaps.every(g => g >= 1900), `Retry-After survived the crash too (gaps ${gaps.join(', ')} ms)`)
})
