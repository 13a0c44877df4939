/**
 * The owner commits but its answer is lost: the users service stands behind a real HTTP
 * front that passes every request on at once but holds the answer to writes past the
 * gateway's timeout. The client gets 504, the intent stays, and recovery reads the owner
 * and propagates the committed version. On both stores.
 */
import t from 'tap'
import { request } from 'undici'
import { startGateway } from './support/gateway.js'
import { readBody, startOrigin } from './support/origin.js'
import { startRedis } from './support/redis-server.js'
import { call, eventually, FAST_OUTBOX, startDemo, versionAt, writeConfig } from './support/writes.js'

for (const kind of ['embedded', 'redis'] as const) {
  t.test(`a write whose answer timed out is propagated by recovery (${kind})`, async t => {
    const env = kind === 'redis' ? { JUNCTION_STORE_URL: (await startRedis(t)).url } : {}
    const demo = await startDemo(t)
    const traces: Array<{ method: string, traceparent: string | undefined }> = []
    const front = await startOrigin(t, (req, res) => {
      traces.push({ method: req.method ?? '', traceparent: req.headers.traceparent as string | undefined })
      ;(async () => {
        const body = await readBody(req)
        const answer = await request(demo.urls.users + (req.url ?? '/'), {
          method: req.method as 'GET',
          headers: body.length > 0 ? { 'content-type': req.headers['content-type'] ?? 'application/json' } : {},
          body: body.length > 0 ? body : undefined
        })
        const text = await answer.body.text()
        // Committed; the answer is late: undici's timers are coarse below a second, hence 1 s vs 3 s.
        if (req.method !== 'GET') await new Promise(resolve => setTimeout(resolve, 3000))
        if (res.destroyed) return
        res.writeHead(answer.statusCode, { 'content-type': String(answer.headers['content-type'] ?? 'application/json'), etag: String(answer.headers.etag ?? '') })
        res.end(text)
      })().catch(() => { res.destroy() })
    })
    const yaml = writeConfig({ ...demo, urls: { ...demo.urls, users: front.url } }, { extra: FAST_OUTBOX, timeout: '1s' })
    const gw = await startGateway(t, yaml, { env })
    const res = await call(`${gw.url}/api/users/2`, 'PUT', { name: 'Grace B. Hopper', email: 'grace@example.com' })
    t.equal(res.status, 504)
    t.match(res.body, { code: 'JUNCTION_UPSTREAM_TIMEOUT', service: 'users' })
    t.equal(await versionAt(demo.urls.users, '/users/2'), 2, 'the owner committed all the same')
    const started = Date.now()
    t.ok(await eventually(async () =>
      await versionAt(demo.urls.orders, '/customers/2') === 2 && await versionAt(demo.urls.catalog, '/owners/2') === 2, 15_000),
    'recovery propagated the committed version to both copies')
    t.comment(`propagated ${Date.now() - started} ms after the 504 (recovery threshold ${2 * (1000 + 500) + 1000} ms)`)
    t.ok(await eventually(async () => (await gw.app.store.queue('write-intents').stats()).length === 0, 5000), 'the intent is resolved')
    // Recovery's read-back joins the interrupted write's trace.
    const traceId = (tp: string | undefined): string | undefined => tp?.split('-')[1]
    const put = traces.find(c => c.method === 'PUT')
    const readBack = traces.find(c => c.method === 'GET')
    t.ok(traceId(put?.traceparent) !== undefined, 'the owner call carried a traceparent')
    t.equal(traceId(readBack?.traceparent), traceId(put?.traceparent), 'recovery\'s read-back carries the write\'s trace id')
    t.match((await call(`${demo.urls.orders}/customers/2`, 'GET')).body, { name: 'Grace B. Hopper' })

    // The same for a DELETE: the owner keeps a tombstone and answers 410 with its version,
    // which recovery propagates as a tombstone to both copies.
    const del = await call(`${gw.url}/api/users/2`, 'DELETE')
    t.equal(del.status, 504)
    const gone = await call(`${demo.urls.users}/users/2`, 'GET')
    t.equal(gone.status, 410, `the owner deleted it all the same (gateway answered ${del.status}: ${JSON.stringify(del.body)})`)
    t.ok(await eventually(async () => {
      const [orders, catalog] = await Promise.all([call(`${demo.urls.orders}/customers/2`, 'GET'), call(`${demo.urls.catalog}/owners/2`, 'GET')])
      return orders.status === 410 && catalog.status === 410
    }, 15_000), 'recovery propagated the tombstone to both copies')
  })
}
