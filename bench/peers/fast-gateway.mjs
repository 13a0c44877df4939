// Peer: fast-gateway (restana + fast-proxy-lite), as its README shows it.
import gateway from 'fast-gateway'

const server = gateway({
  routes: [{ prefix: '/api', target: process.env.UPSTREAM }]
})
const port = Number(process.env.PORT)
await server.start(port, '127.0.0.1')
process.stdout.write(`${port}\n`)
process.on('SIGTERM', () => server.close().then(() => process.exit(0)))
