/**
 * The two stores the cache tests run on: an embedded store in a temporary directory and
 * a real redis-server (one per test file, a fresh key prefix per test). `shared` opens
 * what two gateway instances would share: two RedisStore connections to one server, or
 * (embedded, one process) the same EmbeddedStore twice.
 */
import { randomUUID } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { EmbeddedStore } from '../../src/store/embedded-store.js'
import { RedisStore } from '../../src/store/redis-store.js'
import type { Store } from '../../src/store/store.js'
import { startRedis, type RedisServer } from './redis-server.js'

interface Teardown { teardown (fn: () => unknown): void }

export interface StoreKind {
  readonly name: 'embedded' | 'redis'
  /** A fresh store, closed at `t`'s teardown. */
  open (t: Teardown): Promise<Store>
  /** Two handles on one fresh store (as two instances would have), closed at teardown. */
  shared (t: Teardown): Promise<[Store, Store]>
}

export async function cacheStores (top: Teardown): Promise<StoreKind[]> {
  const root = await mkdtemp(join(tmpdir(), 'junction-cache-'))
  top.teardown(() => rm(root, { recursive: true, force: true }))
  let dirs = 0
  let redis: RedisServer | undefined
  const server = async (): Promise<RedisServer> => {
    redis ??= await startRedis(top)
    return redis
  }
  const embedded: StoreKind = {
    name: 'embedded',
    async open (t) {
      const store = await EmbeddedStore.open({ kind: 'embedded', dir: join(root, `s${++dirs}`), fsync: 'batch' })
      t.teardown(() => store.close())
      return store
    },
    async shared (t) {
      const store = await embedded.open(t)
      return [store, store]
    }
  }
  const redisKind: StoreKind = {
    name: 'redis',
    async open (t) {
      const { url } = await server()
      const store = await RedisStore.open({ kind: 'redis', url, prefix: `c:${randomUUID()}:` })
      t.teardown(() => store.close())
      return store
    },
    async shared (t) {
      const { url } = await server()
      const prefix = `c:${randomUUID()}:`
      const a = await RedisStore.open({ kind: 'redis', url, prefix })
      const b = await RedisStore.open({ kind: 'redis', url, prefix })
      t.teardown(() => Promise.all([a.close(), b.close()]))
      return [a, b]
    }
  }
  return [embedded, redisKind]
}
