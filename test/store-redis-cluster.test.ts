/**
 * The Redis store on a real 3-master Redis Cluster (`store: { kind: redis, cluster: true }`):
 * the whole store contract, keys spread over the masters with no CROSSSLOT error, and a
 * write fanned out through a gateway whose outbox and cache live on the cluster.
 */
import { randomUUID } from 'node:crypto'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import t from 'tap'
import { request } from 'undici'
import { startDemoServices } from '../examples/services/run.js'
import { parseConfig } from '../src/config/load.js'
import { RedisStore } from '../src/store/redis-store.js'
import { storeContract } from './store-contract.js'
import { startGateway } from './support/gateway.js'
import { startRedisCluster } from './support/redis-cluster.js'

const run = promisify(execFile)
const cluster = await startRedisCluster(t)
const open = async (prefix = `test:${randomUUID()}:`): Promise<RedisStore> => await RedisStore.open({ kind: 'redis', url: cluster.url, prefix, cluster: true })

storeContract(t, 'redis cluster', open)

t.test('config: cluster: true is accepted and normalised; default false', async t => {
  const base = 'services: { a: { urls: ["http://127.0.0.1:1"] } }\nroutes: [{ proxy: /a, service: a }]\n'
  t.equal(parseConfig(`store: { kind: redis, url: "${cluster.url}", cluster: true }\n${base}`, {}).store.kind, 'redis')
  t.match(parseConfig(`store: { kind: redis, url: "${cluster.url}", cluster: true }\n${base}`, {}).store, { cluster: true })
  t.notOk((parseConfig(`store: { kind: redis, url: "${cluster.url}" }\n${base}`, {}).store as { cluster?: boolean }).cluster)
})

t.test('keys of many entities land on every master, and multi-key operations never span slots', { timeout: 30_000 }, async t => {
  const prefix = `spread:${randomUUID()}:`
  const store = await open(prefix)
  t.teardown(() => store.close())
  for (let i = 0; i < 60; i++) {
    await store.set(`k${i}`, 'v')
    await store.queue(`q${i}`).append({ i: String(i) })
  }
  // A delete across keys of many slots: one command per key, no CROSSSLOT.
  t.equal(await store.delete(Array.from({ length: 60 }, (_, i) => `k${i}`)), 60)
  const perNode = await Promise.all(cluster.nodes.map(async n => Number((await run('redis-cli', ['-p', String(n.port), 'dbsize'])).stdout.trim())))
  t.ok(perNode.every(n => n > 0), `every master holds some of the queues (${perNode.join(', ')})`)
})

t.test('a write through a gateway on the cluster reaches every copy; a cached read is invalidated', { timeout: 30_000 }, async t => {
  const services = await startDemoServices()
  t.teardown(() => services.close())
  const store = await open()
  const gw = await startGateway(t, `
services:
  users: { urls: [${services.urls.users}] }
  orders: { urls: [${services.urls.orders}] }
  catalog: { urls: [${services.urls.catalog}] }
routes:
  - { proxy: /api/users, service: users, rewrite: /users, cache: { ttl: 1m, tags: ["user:{response.id}"] } }
  - put: /api/users/:id
    write:
      owner: { service: users, path: "/users/{params.id}", version: { etag: true } }
      propagate:
        - { service: orders, path: "/customers/{params.id}", pick: [id, name, email] }
        - { service: catalog, path: "/owners/{params.id}" }
      invalidate: ["user:{params.id}"]
`, { store })
  t.teardown(() => store.close())
  const read = async (): Promise<{ cache: unknown, body: string }> => {
    const res = await request(`${gw.url}/api/users/3`)
    return { cache: res.headers['x-cache'], body: await res.body.text() }
  }
  t.equal((await read()).cache, 'MISS')
  t.equal((await read()).cache, 'HIT')
  const put = await request(`${gw.url}/api/users/3`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ id: '3', name: 'Alan M. Turing', email: 'alan@example.com', companyId: '2' })
  })
  t.equal(put.statusCode, 200, await put.body.text())
  const after = await read()
  t.equal(after.cache, 'MISS', 'the write invalidated the cached read')
  t.match(after.body, /Alan M\. Turing/)
  for (const url of [`${services.urls.orders}/customers/3`, `${services.urls.catalog}/owners/3`]) {
    let body = ''
    for (let i = 0; i < 100 && !body.includes('Alan M. Turing'); i++) {
      const res = await request(url)
      body = await res.body.text()
      if (!body.includes('Alan M. Turing')) await new Promise(resolve => setTimeout(resolve, 50))
    }
    t.match(body, /Alan M\. Turing/, `${url} holds the new name`)
  }
})
