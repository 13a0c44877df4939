/**
 * `propagate[].versionHeader`: a copy may take the version in a header of its own choosing
 * (docs/versioning.md). The delivery carries that header (and not X-Entity-Version), and no
 * client can set it: it is removed from requests on every route, as the default one is.
 */
import t from 'tap'
import { request } from 'undici'
import { startGateway } from './support/gateway.js'
import { startRecordingOrigin } from './support/recording-origin.js'

t.test('a copy gets the version in its configured header; clients cannot set it anywhere', async t => {
  const owner = await startRecordingOrigin(t, (req, res) => {
    res.setHeader('content-type', 'application/json')
    res.setHeader('etag', '"5"')
    res.end(JSON.stringify({ id: req.url.split('/').at(-1), name: 'Ada' }))
  })
  const copy = await startRecordingOrigin(t, (_req, res) => res.end())
  const plain = await startRecordingOrigin(t, (_req, res) => res.end())
  const gw = await startGateway(t, `
services:
  users: { urls: [${owner.url}] }
  copies: { urls: [${copy.url}] }
  other: { urls: [${plain.url}] }
routes:
  - put: /api/users/:id
    write:
      owner: { service: users, path: "/users/{params.id}", version: { etag: true } }
      propagate: [{ service: copies, path: "/copies/{params.id}", versionHeader: X-Copy-Version }]
  - { proxy: /api/other, service: other }
`)

  const put = await request(`${gw.url}/api/users/7`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json', 'x-copy-version': '999999' },
    body: JSON.stringify({ name: 'Ada' })
  })
  await put.body.dump()
  t.equal(put.statusCode, 200)
  t.equal(owner.received[0]?.headers['x-copy-version'], undefined, 'the owner never sees the client\'s copy of the header')

  const deadline = Date.now() + 5000
  while (copy.received.length === 0 && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 10))
  const delivery = copy.received[0]
  t.equal(delivery?.url, '/copies/7')
  t.equal(delivery?.headers['x-copy-version'], '5', 'the owner\'s version, in the configured header')
  t.equal(delivery?.headers['x-entity-version'], undefined, 'not in the default one')
  t.match(delivery?.headers['idempotency-key'], /\S/)

  const get = await request(`${gw.url}/api/other/x`, { headers: { 'x-copy-version': '1', 'x-entity-version': '1' } })
  await get.body.dump()
  t.equal(get.statusCode, 200)
  t.equal(plain.received[0]?.headers['x-copy-version'], undefined, 'stripped on a proxy route too')
  t.equal(plain.received[0]?.headers['x-entity-version'], undefined, 'as the default header is')
})
