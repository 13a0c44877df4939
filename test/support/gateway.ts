/**
 * Boots a real gateway from YAML text for a test: the config goes through the same
 * pipeline as a file (parse, env, validate, freeze), the embedded store lives in a
 * fresh temporary directory, and the server listens on 127.0.0.1 port 0.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import pino from 'pino'
import { parseConfig } from '../../src/config/load.js'
import type { GatewayConfig } from '../../src/config/types.js'
import { buildGateway, type GatewayOptions } from '../../src/gateway.js'
import type { Store } from '../../src/store/store.js'

interface Teardown { teardown (fn: () => unknown): void }

export interface TestGateway {
  readonly url: string
  readonly app: FastifyInstance
  readonly config: GatewayConfig
  readonly dir: string
}

export async function tempDir (t: Teardown, prefix = 'junction-test-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

/**
 * `yaml` is a complete config without `store` (an embedded store in a temp dir is added
 * unless `opts.store` is given) and without `server.port` (0 is used).
 */
export async function startGateway (t: Teardown, yaml: string, opts: { env?: NodeJS.ProcessEnv, store?: Store, logger?: FastifyBaseLogger, adminDashboard?: GatewayOptions['adminDashboard'] } = {}): Promise<TestGateway> {
  const dir = await tempDir(t)
  const storeBlock = `store: { kind: embedded, dir: ${JSON.stringify(join(dir, 'data'))} }\n`
  const config = parseConfig(storeBlock + yaml, {
    source: join(dir, 'junction.yaml'),
    format: 'yaml',
    env: { JUNCTION_PORT: '0', JUNCTION_HOST: '127.0.0.1', ...opts.env }
  })
  const app = await buildGateway(config, {
    logger: opts.logger ?? pino({ level: process.env.JUNCTION_TEST_LOG ?? 'silent' }),
    ...(opts.store === undefined ? {} : { store: opts.store }),
    ...(opts.adminDashboard === undefined ? {} : { adminDashboard: opts.adminDashboard })
  })
  t.teardown(() => app.close())
  await app.listen({ port: 0, host: '127.0.0.1' })
  const address = app.server.address()
  if (address === null || typeof address === 'string') throw new Error('gateway did not listen on TCP')
  return { url: `http://127.0.0.1:${address.port}`, app, config, dir }
}
