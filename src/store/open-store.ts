/**
 * Opens the store the configuration asks for. The rest of Junction only ever sees the
 * `Store` interface.
 */
import type { StoreConfig } from '../config/types.js'
import { EmbeddedStore } from './embedded-store.js'
import { RedisStore } from './redis-store.js'
import type { Store } from './store.js'

export async function openStore (config: StoreConfig): Promise<Store> {
  switch (config.kind) {
    case 'embedded': return await EmbeddedStore.open(config)
    case 'redis': return await RedisStore.open(config)
  }
}
