/**
 * The bytes of a composed answer: without merge and shaping rules each part's body is copied
 * in as its service sent it; with them the document is rebuilt. Either way the ETag is the
 * SHA-256 of exactly the bytes sent, and a `__proto__` key in a part stays a plain key.
 */
import t from 'tap'
import { hash } from 'node:crypto'
import { startOrigin } from './support/origin.js'
import { startGateway } from './support/gateway.js'

// Spacing, a number spelled `1.0`, an integer beyond 2^53 and an escape: all lost by a
// parse-and-serialise round trip, all kept by copying.
const USER = '{ "id": 1.0, "big": 12345678901234567890, "name": "Ad\\u0061" }'
const PROTO = '{"__proto__":{"polluted":true},"a":1}'

async function origin (t: Parameters<typeof startOrigin>[0]): Promise<string> {
  const o = await startOrigin(t, (req, res) => {
    const body = req.url === '/u' ? USER : req.url === '/proto' ? PROTO : req.url === '/list' ? '[{"id":"x"}]' : req.url === '/x' ? '{"name":"X"}' : undefined
    res.writeHead(body === undefined ? 404 : 200, { 'content-type': 'application/json' }).end(body ?? '{}')
  })
  return o.url
}

async function fetchBytes (url: string): Promise<{ status: number, etag: string | null, text: string, bytes: Buffer }> {
  const res = await fetch(url)
  const bytes = Buffer.from(await res.arrayBuffer())
  return { status: res.status, etag: res.headers.get('etag'), text: bytes.toString('utf8'), bytes }
}

t.test('without shaping, part bodies are copied as sent; the ETag is the SHA-256 of the bytes sent', async t => {
  const url = await origin(t)
  const gw = await startGateway(t, `
services:
  s: { urls: ["${url}"] }
routes:
  - get: /plain
    compose:
      user: { service: s, path: /u }
      gone: { service: s, path: /missing, optional: true }
  - get: /shaped
    compose:
      user: { service: s, path: /u }
    shape: { omit: [user.big] }
`)
  const plain = await fetchBytes(`${gw.url}/plain`)
  t.equal(plain.status, 200)
  t.equal(plain.text, `{"user":${USER},"gone":null}`)
  t.equal(plain.etag, `"${hash('sha256', plain.bytes, 'base64url').slice(0, 27)}"`)

  const shaped = await fetchBytes(`${gw.url}/shaped`)
  t.equal(shaped.text, '{"user":{"id":1,"name":"Ada"}}', 'shaping rebuilds the document')
  t.equal(shaped.etag, `"${hash('sha256', shaped.bytes, 'base64url').slice(0, 27)}"`)
})

t.test('a part a collection writes into is rebuilt; the others are still copied', async t => {
  const url = await origin(t)
  const gw = await startGateway(t, `
services:
  s: { urls: ["${url}"] }
routes:
  - get: /p
    compose:
      user: { service: s, path: /u }
      list: { service: s, path: /list }
      item: { service: s, path: "/{each list.id}" }
`)
  const res = await fetchBytes(`${gw.url}/p`)
  t.equal(res.text, `{"user":${USER},"list":[{"id":"x","item":{"name":"X"}}]}`)
})

t.test('a __proto__ key from a part stays a plain key, copied or shaped', async t => {
  const url = await origin(t)
  const gw = await startGateway(t, `
services:
  s: { urls: ["${url}"] }
routes:
  - get: /copied
    compose: { p: { service: s, path: /proto } }
  - get: /merged
    compose: { p: { service: s, path: /proto } }
    shape: { merge: [p], omit: [a] }
`)
  t.equal((await fetchBytes(`${gw.url}/copied`)).text, `{"p":${PROTO}}`)
  const merged = (await fetchBytes(`${gw.url}/merged`)).text
  t.equal(merged, '{"__proto__":{"polluted":true}}')
  t.ok(Object.hasOwn(JSON.parse(merged) as object, '__proto__'), 'an own key of the answer')
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'nothing reached Object.prototype')
})

t.test('copied bodies are UTF-8: multi-byte text is copied as is, invalid sequences are replaced', async t => {
  // "Zoë 🚀" in UTF-8, then the same with a stray continuation byte and a truncated sequence.
  const valid = Buffer.from('{"name":"Zoë 🚀"}')
  const invalid = Buffer.concat([Buffer.from('{"name":"Zo'), Buffer.from([0x80]), Buffer.from('e '), Buffer.from([0xf0, 0x9f]), Buffer.from('"}')])
  const o = await startOrigin(t, (req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end(req.url === '/valid' ? valid : invalid)
  })
  const gw = await startGateway(t, `
services:
  s: { urls: ["${o.url}"] }
routes:
  - get: /p
    compose:
      valid: { service: s, path: /valid }
      invalid: { service: s, path: /invalid }
`)
  const res = await fetchBytes(`${gw.url}/p`)
  t.equal(res.status, 200)
  t.same(res.bytes, Buffer.concat([Buffer.from('{"valid":'), valid, Buffer.from(',"invalid":{"name":"Zo\uFFFDe \uFFFD"}}')]), 'valid bytes copied, invalid ones replaced by U+FFFD')
  t.ok(res.bytes.equals(Buffer.from(res.bytes.toString('utf8'))), 'the answer is valid UTF-8')
  t.same(JSON.parse(res.text), { valid: { name: 'Zoë 🚀' }, invalid: { name: 'Zo\uFFFDe \uFFFD' } })
})
