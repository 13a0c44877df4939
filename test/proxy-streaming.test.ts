import { createHash } from 'node:crypto'
import { Readable } from 'node:stream'
import t from 'tap'
import { request } from 'undici'
import { startOrigin } from './support/origin.js'
import { peakRss, startCliGateway } from './support/cli.js'

// 200 MB each way: buffering either direction would show as 200 MB more resident memory,
// while garbage-collection lag on streamed chunks stays well below that.
const SIZE = 200 * 1024 * 1024
const CHUNK = 64 * 1024

/** Deterministic bytes, generated chunk by chunk: the test never holds 100 MB either. */
function generated (size: number): Readable {
  let sent = 0
  const chunk = Buffer.alloc(CHUNK, 0).map((_, i) => i % 251)
  return new Readable({
    read () {
      if (sent >= size) { this.push(null); return }
      const n = Math.min(CHUNK, size - sent)
      sent += n
      this.push(n === CHUNK ? chunk : chunk.subarray(0, n))
    }
  })
}

async function sha256 (stream: AsyncIterable<Buffer>): Promise<{ hash: string, bytes: number }> {
  const hash = createHash('sha256')
  let bytes = 0
  for await (const chunk of stream) { hash.update(chunk); bytes += chunk.length }
  return { hash: hash.digest('hex'), bytes }
}

t.test('200 MB up and 200 MB down stream through the gateway without buffering', async t => {
  const origin = await startOrigin(t, (req, res) => {
    if (req.method === 'GET') {
      res.setHeader('content-length', SIZE)
      generated(SIZE).pipe(res)
      return
    }
    sha256(req).then(result => res.end(JSON.stringify(result)), () => res.destroy())
  })
  const gw = await startCliGateway(t, `
services:
  files: { urls: [${origin.url}], timeout: 30s }
routes:
  - { proxy: /files, service: files, bodyLimit: 300mb }
`)
  const before = await peakRss(gw.child.pid as number)
  const expected = await sha256(generated(SIZE))

  const up = await request(`${gw.url}/files/upload`, { method: 'PUT', body: generated(SIZE), headers: { 'content-type': 'application/octet-stream' } })
  t.equal(up.statusCode, 200)
  t.same(await up.body.json(), expected, 'the upstream received every byte, in order')

  const down = await request(`${gw.url}/files/download`)
  t.equal(down.statusCode, 200)
  t.equal(down.headers['content-length'], String(SIZE))
  t.same(await sha256(down.body), expected, 'the client received every byte, in order')

  const growth = await peakRss(gw.child.pid as number) - before
  t.ok(growth < 150 * 1024 * 1024, `gateway peak RSS grew by ${Math.round(growth / 1048576)} MB while 400 MB passed through`)

  gw.child.kill('SIGTERM')
  t.same(await gw.exited, { code: 0, signal: null }, 'and it still shuts down cleanly')
})
