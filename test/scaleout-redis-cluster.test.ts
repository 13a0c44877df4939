/**
 * The multi-instance proof (test/support/scaleout.ts) on a real 3-master Redis Cluster:
 * the same suite, the store block with `cluster: true`, keys listed on every master.
 */
import t from 'tap'
import { Cluster, Redis } from 'ioredis'
import { startRedisCluster } from './support/redis-cluster.js'
import { scaleoutSuite } from './support/scaleout.js'

const cluster = await startRedisCluster(t)
await scaleoutSuite(t, {
  name: 'redis cluster',
  storeConfig: { kind: 'redis', url: cluster.url, prefix: 'junction:', cluster: true },
  client: () => new Cluster([{ host: '127.0.0.1', port: cluster.nodes[0]!.port }]),
  servers: () => cluster.nodes.map(n => new Redis(n.url))
})
