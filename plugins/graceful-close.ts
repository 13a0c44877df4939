/**
 * Graceful shutdown over keep-alive. `close()` stops accepting and closes idle
 * connections, but a connection busy with a request at that moment would stay open
 * after its response and hold shutdown until the timeout. Answers given while closing
 * carry `Connection: close`, so each such connection ends with the request it served.
 */
import fp from 'fastify-plugin'

export default fp(async function gracefulClose (app) {
  let closing = false
  app.addHook('preClose', async () => { closing = true })
  // Callback style: this hook runs on every answer and an async one costs a promise each.
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (closing) reply.header('connection', 'close')
    done(null, payload)
  })
}, { name: 'graceful-close', fastify: '5.x' })
