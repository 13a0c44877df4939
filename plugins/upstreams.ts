/**
 * Keep-alive pools for every configured service, with their circuit breakers and active
 * health checks (started once the gateway is ready). Closed on shutdown after the server
 * stopped accepting, so in-flight proxied requests finish first.
 */
import fp from 'fastify-plugin'
import type { ServiceConfig } from '../src/config/types.js'
import { Upstreams } from '../src/upstream/service-pool.js'

export interface UpstreamsPluginOptions {
  services: Readonly<Record<string, ServiceConfig>>
}

export default fp<UpstreamsPluginOptions>(async function upstreamsPlugin (app, opts) {
  const upstreams = new Upstreams(opts.services, app.log)
  app.decorate('upstreams', upstreams)
  app.addHook('onReady', async () => {
    upstreams.startHealthChecks(app.log)
  })
  app.addHook('onClose', async () => {
    await upstreams.close()
  })
}, { name: 'upstreams', fastify: '5.x' })

declare module 'fastify' {
  interface FastifyInstance {
    upstreams: Upstreams
  }
}
