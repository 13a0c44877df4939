/**
 * Exposes the store to the gateway and closes it last, after in-flight requests are done,
 * so the embedded journal is flushed on graceful shutdown.
 */
import fp from 'fastify-plugin'
import type { Store } from '../src/store/store.js'

export interface StorePluginOptions {
  store: Store
  /** false: the store outlives this app (reload generations share it); default true. */
  close?: boolean
}

export default fp<StorePluginOptions>(async function storePlugin (app, opts) {
  app.decorate('store', opts.store)
  if (opts.close === false) return
  app.addHook('onClose', async () => {
    await opts.store.close()
  })
}, { name: 'store', fastify: '5.x' })

declare module 'fastify' {
  interface FastifyInstance {
    store: Store
  }
}
