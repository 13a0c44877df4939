/**
 * One interrupted POST, on real processes: the owner (the demo users service behind a
 * real HTTP front) commits the creation, signals it, and the test SIGKILLs the gateway
 * before the answer gets back. After a restart on the same store, recovery re-sends the
 * POST with the same Idempotency-Key and body (write.owner.idempotencyKey); the owner
 * answers with its first result, nothing is created twice, and both copies receive the
 * created entity at the owner's version. Without the declaration the documented window
 * stays: the intent is dropped with a warning.
 */
import type { IncomingHttpHeaders } from 'node:http'
import t from 'tap'
import type { Test } from 'tap'
import { request } from 'undici'
import { storeOf } from '../examples/services/service.js'
import { startCliGateway } from './support/cli.js'
import { tempDir } from './support/gateway.js'
import { readBody, startOrigin } from './support/origin.js'
import { startRedis } from './support/redis-server.js'
import { createdByName, divergentIds, eventually, FAST_OUTBOX, startDemo, writeConfig } from './support/writes.js'

interface SeenPost { headers: IncomingHttpHeaders, body: Buffer, status: number, replayed: boolean }

/** The demo users service behind a front that reports each committed POST and, while `hold` is set, never answers it. */
async function ownerFront (t: Test, usersUrl: string, onCommitted: () => void): Promise<{ url: string, posts: SeenPost[], hold: { on: boolean } }> {
  const posts: SeenPost[] = []
  const hold = { on: true }
  const front = await startOrigin(t, (req, res) => {
    (async () => {
      const body = await readBody(req)
      const headers: Record<string, string> = {}
      for (const name of ['content-type', 'idempotency-key', 'if-match', 'accept']) {
        const value = req.headers[name]
        if (typeof value === 'string') headers[name] = value
      }
      const answer = await request(usersUrl + (req.url ?? '/'), { method: req.method as 'GET', headers, body: body.length > 0 ? body : undefined })
      const text = await answer.body.text()
      if (req.method === 'POST') {
        posts.push({ headers: req.headers, body, status: answer.statusCode, replayed: answer.headers['idempotent-replayed'] === 'true' })
        if (hold.on) {
          // Committed at the owner; the gateway dies before this answer reaches it.
          onCommitted()
          return
        }
      }
      const out: Record<string, string> = {}
      for (const name of ['content-type', 'etag', 'location', 'idempotent-replayed']) {
        const value = answer.headers[name]
        if (typeof value === 'string') out[name] = value
      }
      res.writeHead(answer.statusCode, out).end(text)
    })().catch(() => { res.destroy() })
  })
  return { url: front.url, posts, hold }
}

for (const kind of ['embedded', 'redis'] as const) {
  // The client's own key (redis case) is the one sent and re-sent; without one, Junction's.
  const clientKey = kind === 'redis' ? 'client-key-7' : undefined
  t.test(`${kind}: a POST killed after the owner's commit is re-sent with its key and propagated`, async t => {
    const env = kind === 'redis' ? { JUNCTION_STORE_URL: (await startRedis(t, { appendonly: true })).url } : {}
    const demo = await startDemo(t)
    let gw: Awaited<ReturnType<typeof startCliGateway>> | undefined
    const front = await ownerFront(t, demo.urls.users, () => { gw?.child.kill('SIGKILL') })
    const yaml = writeConfig({ ...demo, urls: { ...demo.urls, users: front.url } }, { extra: FAST_OUTBOX, timeout: '1s', postIdempotencyKey: true }) + 'server: { logLevel: info }\n'
    const dir = await tempDir(t)
    gw = await startCliGateway(t, yaml, { dir, env })

    const body = JSON.stringify({ name: 'interrupted', email: 'int@example.com' })
    const sent = request(`${gw.url}/api/users`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(clientKey === undefined ? {} : { 'idempotency-key': clientKey }) },
      body
    })
    await t.rejects(sent, 'the client gets no answer: the gateway died')
    t.equal((await gw.exited).signal, 'SIGKILL')
    t.equal(front.posts.length, 1, 'the owner got the POST once')
    const created = createdByName(demo, 'interrupted')
    t.equal(created.ids.length, 1, 'and committed it')
    const id = created.ids[0] ?? ''
    const firstKey = front.posts[0]?.headers['idempotency-key']
    t.match(firstKey, clientKey ?? /^[0-9a-f-]{36}$/, clientKey === undefined ? 'Junction sent a key of its own' : 'the client\'s key went to the owner')
    t.same(divergentIds(demo, [id]), [id], 'the copies do not have it yet')

    front.hold.on = false
    gw = await startCliGateway(t, yaml, { dir, env })
    t.ok(await eventually(async () => divergentIds(demo, [id]).length === 0, 20_000), 'after the restart both copies hold the created entity at the owner\'s version')
    t.equal(front.posts.length, 2, 'recovery re-sent the POST once')
    const again = front.posts[1]
    t.equal(again?.headers['idempotency-key'], firstKey, 'with the same Idempotency-Key')
    t.same(again?.body, front.posts[0]?.body, 'and the same body, byte for byte')
    t.equal(again?.headers['content-type'], 'application/json')
    t.ok(again?.replayed === true && again.status === 201, 'the owner answered with its first result')
    t.same(createdByName(demo, 'interrupted'), { ids: [id], duplicates: [] }, 'nothing was created twice')
    t.match(storeOf(demo.apps.orders).getCopy('customers', id), { data: { name: 'interrupted' } })
    t.match(gw.output(), /recovered a write/)
  })
}

t.test('without write.owner.idempotencyKey the interrupted POST keeps the documented window (warning, dropped)', async t => {
  const demo = await startDemo(t)
  let gw: Awaited<ReturnType<typeof startCliGateway>> | undefined
  const front = await ownerFront(t, demo.urls.users, () => { gw?.child.kill('SIGKILL') })
  const yaml = writeConfig({ ...demo, urls: { ...demo.urls, users: front.url } }, { extra: FAST_OUTBOX, timeout: '1s' }) + 'server: { logLevel: info }\n'
  const dir = await tempDir(t)
  gw = await startCliGateway(t, yaml, { dir })
  await t.rejects(request(`${gw.url}/api/users`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":"interrupted"}' }))
  await gw.exited
  t.equal(front.posts[0]?.headers['idempotency-key'], undefined, 'no key is sent to an owner not declared to honour it')
  front.hold.on = false
  gw = await startCliGateway(t, yaml, { dir })
  const restarted = gw
  t.ok(await eventually(async () => /a POST was interrupted before the owner's answer named the created id/.test(restarted.output()), 20_000), 'recovery logs the window')
  t.equal(front.posts.length, 1, 'and re-sends nothing')
  const [id = ''] = createdByName(demo, 'interrupted').ids
  t.same(divergentIds(demo, [id]), [id], 'the copies stay without it until its next write')
})
