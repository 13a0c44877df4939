/**
 * WriteRequest.afterCommit (the write route's cache invalidation): called once the owner
 * committed, beside the recording of the deliveries, and awaited before execute() settles,
 * also when the deliveries could not be recorded; never called when the owner refused.
 * Real parts: a real owner on 127.0.0.1, the embedded store, a real StoreOutbox (closed,
 * for the case where recording fails).
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { parseConfig } from '../src/config/load.js'
import type { WriteRouteConfig } from '../src/config/types.js'
import { compileWriteRoute } from '../src/writes/compiled-route.js'
import { INTENT_QUEUE } from '../src/writes/intents.js'
import type { ServiceAnswer } from '../src/writes/owner-call.js'
import { WriteFlow } from '../src/writes/write-flow.js'
import { embeddedKind, makeOutbox, startDependent, upstreamsFor } from './support/outbox-harness.js'

const silent = { info: () => {}, warn: () => {}, error: () => {} }
const root = await mkdtemp(join(tmpdir(), 'junction-after-commit-'))
t.teardown(() => rm(root, { recursive: true, force: true }))
const embedded = embeddedKind(root)

async function setup (t: { teardown: (fn: () => unknown) => void }, ownerStatus: number) {
  const owner = await startDependent(t, () => ({ status: ownerStatus, headers: { etag: '"2"' }, body: JSON.stringify({ id: '7', name: 'x' }) }))
  const orders = await startDependent(t)
  const config = parseConfig(`services:
  users: { urls: [${owner.url}] }
  orders: { urls: [${orders.url}] }
routes:
  - put: /api/users/:id
    write:
      owner: { service: users, path: "/users/{params.id}", version: { etag: true } }
      propagate:
        - { service: orders, path: "/customers/{params.id}" }
`)
  const route = compileWriteRoute(config.routes.find((r): r is WriteRouteConfig => r.kind === 'write')!)
  const store = await embedded.open(t)
  const upstreams = upstreamsFor(t, { users: owner.url, orders: orders.url })
  const outbox = makeOutbox(t, { store, services: upstreams, dependents: ['orders'] })
  const flow = new WriteFlow({ store, intents: store.queue(INTENT_QUEUE), outbox, upstreams, log: silent })
  const body = Buffer.from(JSON.stringify({ id: '7', name: 'x' }))
  const request = (afterCommit: (answer: ServiceAnswer) => Promise<void>) => ({
    params: { id: '7' }, headers: { 'content-type': 'application/json' }, body, json: JSON.parse(body.toString()), afterCommit
  })
  return { route, outbox, flow, request }
}

/** An afterCommit that takes `ms`, recording when it started and ended. */
function slowHook (ms: number) {
  const seen = { calls: 0, status: 0, finished: false }
  const hook = async (answer: ServiceAnswer): Promise<void> => {
    seen.calls++
    seen.status = answer.status
    await new Promise(resolve => setTimeout(resolve, ms))
    seen.finished = true
  }
  return { seen, hook }
}

t.test('a committed write: afterCommit gets the owner\'s answer and is awaited before execute() resolves', async t => {
  const { route, flow, request } = await setup(t, 200)
  const { seen, hook } = slowHook(150)
  const answer = await flow.execute(route, request(hook))
  t.equal(answer.status, 200)
  t.equal(answer.version, 2)
  t.equal(seen.calls, 1)
  t.equal(seen.status, 200, 'with the owner\'s answer')
  t.ok(seen.finished, 'finished before the client\'s answer')
})

t.test('committed but the deliveries could not be recorded: afterCommit still runs, and finishes before the error', async t => {
  const { route, outbox, flow, request } = await setup(t, 200)
  await outbox.close() // a real outbox that refuses to enqueue
  const { seen, hook } = slowHook(150)
  const err = await flow.execute(route, request(hook)).then(() => undefined, (e: unknown) => e as Error & { statusCode?: number })
  t.ok(err, 'the write is refused')
  t.match(err?.message, /users/, 'naming the owner')
  t.equal(seen.calls, 1, 'the committed write is still invalidated')
  t.ok(seen.finished, 'before the error reaches the client')
})

t.test('the owner refused (412): afterCommit is not called', async t => {
  const { route, flow, request } = await setup(t, 412)
  const { seen, hook } = slowHook(10)
  const answer = await flow.execute(route, request(hook))
  t.equal(answer.status, 412)
  t.equal(seen.calls, 0)
})
