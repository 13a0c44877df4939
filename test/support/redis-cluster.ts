/**
 * A real Redis Cluster for tests: three masters (redis-server --cluster-enabled yes) on
 * free ports of 127.0.0.1, joined with `redis-cli --cluster create`, each node in its own
 * temporary directory. Stopped at teardown like every server of ./redis-server.ts.
 */
import { execFile } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { startRedis, type RedisServer } from './redis-server.js'

const run = promisify(execFile)

interface Teardown { teardown (fn: () => unknown): void }

export interface RedisCluster {
  /** One node's URL: the seed a client starts from. */
  readonly url: string
  readonly nodes: readonly RedisServer[]
}

export async function startRedisCluster (t: Teardown, size = 3): Promise<RedisCluster> {
  const dir = await mkdtemp(join(tmpdir(), 'junction-redis-cluster-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const nodes: RedisServer[] = []
  for (let i = 0; i < size; i++) {
    nodes.push(await startRedis(t, {
      args: ['--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${i}.conf`, '--cluster-node-timeout', '2000', '--dir', dir, '--dbfilename', `dump-${i}.rdb`]
    }))
  }
  await run('redis-cli', ['--cluster', 'create', ...nodes.map(n => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes'])
  // `create` returns once slots are assigned; every node must also agree the cluster is up.
  const deadline = Date.now() + 20_000
  for (;;) {
    const states = await Promise.all(nodes.map(async n => (await run('redis-cli', ['-p', String(n.port), 'cluster', 'info'])).stdout))
    if (states.every(info => info.includes('cluster_state:ok'))) break
    if (Date.now() > deadline) throw new Error(`Redis Cluster did not become ready:\n${states.join('\n')}`)
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  return { url: nodes[0]!.url, nodes }
}
