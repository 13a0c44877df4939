// The backend every scenario proxies to: node:http answering a fixed ~1 KB JSON body
// (optionally after a delay), with keep-alive. Prints its port on stdout.
import { createServer } from 'node:http'

const delayMs = Number(process.env.DELAY_MS ?? 0)
const body = JSON.stringify({
  id: 1,
  name: 'Ada Lovelace',
  email: 'ada@example.com',
  companyId: 1,
  tags: Array.from({ length: 20 }, (_, i) => `tag-${i}`),
  bio: 'x'.repeat(700)
})

const server = createServer((req, res) => {
  const send = () => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
    res.end(body)
  }
  req.resume()
  if (delayMs > 0) setTimeout(send, delayMs)
  else send()
})
server.keepAliveTimeout = 60_000
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  process.stdout.write(`${server.address().port}\n`)
})
process.on('SIGTERM', () => server.close(() => process.exit(0)))
