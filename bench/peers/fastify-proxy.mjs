// Baseline: a bare Fastify + @fastify/http-proxy gateway, as its README shows it.
import Fastify from 'fastify'
import proxy from '@fastify/http-proxy'

const app = Fastify({ logger: false })
await app.register(proxy, { upstream: process.env.UPSTREAM, prefix: '/api', rewritePrefix: '/' })
await app.listen({ port: Number(process.env.PORT ?? 0), host: '127.0.0.1' })
process.stdout.write(`${app.server.address().port}\n`)
process.on('SIGTERM', () => app.close().then(() => process.exit(0)))
