// Baseline for composition: the smallest hand-written aggregator — node:http, three
// parallel undici requests over keep-alive pools, JSON parse, one JSON answer.
import { createServer } from 'node:http'
import { Pool } from 'undici'

const pool = new Pool(process.env.UPSTREAM, { connections: 128 })

async function part (path) {
  const res = await pool.request({ method: 'GET', path })
  return await res.body.json()
}

const server = createServer((req, res) => {
  const id = req.url.split('/').pop()
  Promise.all([part(`/a/${id}`), part(`/b/${id}`), part(`/c/${id}`)]).then(([a, b, c]) => {
    const body = JSON.stringify({ a, b, c })
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
    res.end(body)
  }, () => {
    res.writeHead(502)
    res.end()
  })
})
server.keepAliveTimeout = 60_000
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  process.stdout.write(`${server.address().port}\n`)
})
process.on('SIGTERM', () => server.close(() => process.exit(0)))
