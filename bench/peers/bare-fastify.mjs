// Baseline for cache hits: a bare Fastify route answering the same ~1 KB body from memory.
import Fastify from 'fastify'

const body = process.env.BODY ?? '{}'
const app = Fastify({ logger: false })
app.get('/*', async (_req, reply) => reply.type('application/json').send(body))
await app.listen({ port: Number(process.env.PORT ?? 0), host: '127.0.0.1' })
process.stdout.write(`${app.server.address().port}\n`)
process.on('SIGTERM', () => app.close().then(() => process.exit(0)))
