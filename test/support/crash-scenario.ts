/**
 * The crash scenario of the write fan-out, run on either store: a burst of PUTs through
 * the real `junction` process, SIGKILL at a random moment, restart on the same store, and
 * a bounded wait until every copy of every entity holds the owner's version. Then the
 * rest of the burst through the restarted gateway, and the same check again.
 */
import type { Test } from 'tap'
import { startCliGateway, type RunningGateway } from './cli.js'
import { tempDir } from './gateway.js'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { request } from 'undici'
import { RedisStore } from '../../src/store/redis-store.js'
import { INTENT_QUEUE } from '../../src/writes/intents.js'
import { burst, createdByName, divergent, divergentIds, eventually, FAST_OUTBOX, startDemo, writeConfig } from './writes.js'

export interface CrashScenarioOptions {
  env?: NodeJS.ProcessEnv
  total?: number
  entities?: number
  clients?: number
}

export async function gatewayCrashScenario (t: Test, opts: CrashScenarioOptions = {}): Promise<void> {
  const total = opts.total ?? 2000
  const entities = opts.entities ?? 50
  const clients = opts.clients ?? 8
  const demo = await startDemo(t)
  const dir = await tempDir(t)
  const yaml = writeConfig(demo, { extra: FAST_OUTBOX, timeout: '1s' }) + 'server: { logLevel: info }\n'
  const env = opts.env ?? {}

  let gw: RunningGateway = await startCliGateway(t, yaml, { dir, env })
  const killAt = 200 + Math.floor(Math.random() * Math.min(1300, total - 400))
  t.comment(`SIGKILL after ${killAt} completed writes`)
  let killed = false
  const first = await burst(() => gw.url, {
    total,
    entities,
    clients,
    onDone: completed => {
      if (completed >= killAt && !killed) {
        killed = true
        gw.child.kill('SIGKILL')
      }
      return killed
    }
  })
  const exit = await gw.exited
  t.equal(exit.signal, 'SIGKILL', 'the gateway was killed')
  t.comment(`before the kill: ${first.ok} writes acknowledged in ${first.ms} ms (${Math.round(first.ok / (first.ms / 1000))} writes/s), ${first.failed} failed or cut off`)

  gw = await startCliGateway(t, yaml, { dir, env })
  const restarted = Date.now()
  const recovered = await eventually(async () => divergent(demo, entities).length === 0, 40_000)
  t.ok(recovered, `after the restart every copy converges to the owner's version (divergent: ${divergent(demo, entities).join(',')})`)
  t.comment(`converged ${Date.now() - restarted} ms after the restart; recovery log lines: ${(gw.output().match(/recovered a write/g) ?? []).length}`)

  const rest = total - first.completed
  const second = await burst(() => gw.url, { total: rest, entities, clients })
  t.equal(second.failed, 0, 'the restarted gateway acknowledges every write')
  t.comment(`after the restart: ${second.ok} writes in ${second.ms} ms (${Math.round(second.ok / (second.ms / 1000))} writes/s)`)
  const done = Date.now()
  t.ok(await eventually(async () => divergent(demo, entities).length === 0, 30_000), 'and the copies converge again')
  t.comment(`converged ${Date.now() - done} ms after the last acknowledged write`)
}

/**
 * The same on POSTs whose id the owner assigns, to an owner honouring Idempotency-Key
 * (write.owner.idempotencyKey): SIGKILL at a random moment of a burst of creations,
 * restart; recovery re-sends the interrupted POSTs with their keys. Every entity the
 * owner created ends on every copy at the owner's version, and none was created twice.
 */
export async function postCrashScenario (t: Test, opts: CrashScenarioOptions = {}): Promise<void> {
  const total = opts.total ?? 600
  const clients = opts.clients ?? 8
  const demo = await startDemo(t)
  const dir = await tempDir(t)
  const yaml = writeConfig(demo, { extra: FAST_OUTBOX, timeout: '1s', postIdempotencyKey: true }) + 'server: { logLevel: info }\n'
  const env = opts.env ?? {}

  let gw: RunningGateway = await startCliGateway(t, yaml, { dir, env })
  const killAt = 50 + Math.floor(Math.random() * (total / 2))
  t.comment(`SIGKILL after ${killAt} completed POSTs`)
  let issued = 0
  let completed = 0
  let acknowledged = 0
  const createdIds: string[] = []
  let killed = false
  const client = async (): Promise<void> => {
    while (!killed && issued < total) {
      const n = issued++
      try {
        const res = await request(`${gw.url}/api/users`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ name: `post ${n}`, email: `p${n}@example.com` }),
          headersTimeout: 10_000,
          bodyTimeout: 10_000
        })
        await res.body.dump()
        if (res.statusCode === 201) {
          acknowledged++
          const location = res.headers.location
          if (typeof location === 'string') createdIds.push(location.split('/').at(-1) ?? '')
        }
      } catch {}
      completed++
      if (completed >= killAt && !killed) {
        killed = true
        gw.child.kill('SIGKILL')
      }
    }
  }
  await Promise.all(Array.from({ length: clients }, client))
  const exit = await gw.exited
  t.equal(exit.signal, 'SIGKILL', 'the gateway was killed')
  const before = createdByName(demo, 'post ')
  t.comment(`before the kill: ${acknowledged} POSTs acknowledged, ${issued - acknowledged} cut off or failed; the owner holds ${before.ids.length} created entities, ${divergentIds(demo, before.ids).length} not (yet) on every copy`)

  gw = await startCliGateway(t, yaml, { dir, env })
  const restarted = Date.now()
  // Done when recovery has resolved every intent the dead process left (re-sent POSTs
  // create entities only then) and every created entity is on every copy.
  const intentsLeft = await intentCounter(t, dir, env.JUNCTION_STORE_URL)
  t.comment(`${await intentsLeft()} write intents left by the dead process`)
  const converged = await eventually(async () => {
    if (await intentsLeft() > 0) return false
    return divergentIds(demo, createdByName(demo, 'post ').ids).length === 0
  }, 40_000)
  const after = createdByName(demo, 'post ')
  t.equal(await intentsLeft(), 0, 'recovery resolved every intent')
  t.ok(converged, `every created entity is on every copy at the owner's version (divergent: ${divergentIds(demo, after.ids).join(',')})`)
  t.same(after.duplicates, [], 'the owner holds no entity twice: re-sent POSTs were answered, not applied again')
  t.ok(createdIds.every(id => after.ids.includes(id)), 'every acknowledged creation is there')
  const log = gw.output()
  t.comment(`converged ${Date.now() - restarted} ms after the restart; ${after.ids.length - before.ids.length} entities created by re-sent POSTs the owner never got; recovery log lines: ${(log.match(/recovered a write/g) ?? []).length}`)
  t.notMatch(log, /a POST was interrupted before the owner/, 'no POST was given up on')
}

/**
 * How many write intents are unresolved, read from outside the running gateway: on Redis
 * with a connection of our own; on the embedded store from its journal (acks included,
 * records are absolute: see src/store/embedded-store.ts).
 */
async function intentCounter (t: Test, dir: string, redisUrl: string | undefined): Promise<() => Promise<number>> {
  if (redisUrl !== undefined) {
    const store = await RedisStore.open({ kind: 'redis', url: redisUrl, prefix: 'junction:' })
    t.teardown(() => store.close())
    const queue = store.queue(INTENT_QUEUE)
    return async () => (await queue.stats()).length
  }
  return async () => {
    const live = new Set<string>()
    const text = await readFile(join(dir, 'data', 'journal.jsonl'), 'utf8')
    for (const line of text.split('\n')) {
      if (!line.includes(INTENT_QUEUE)) continue
      let record: { op?: string, q?: string, id?: string, ids?: string[] }
      try { record = JSON.parse(line) } catch { continue }
      if (record.q !== INTENT_QUEUE) continue
      if (record.op === 'qadd' && record.id !== undefined) live.add(record.id)
      if (record.op === 'qack') for (const id of record.ids ?? []) live.delete(id)
    }
    return live.size
  }
}
