#!/usr/bin/env node
/**
 * The `junction` command.
 *   junction start --config FILE   validate, open the store, listen; graceful stop on SIGTERM/SIGINT,
 *                                  config reload on SIGHUP (src/gateway-host.ts)
 *   junction check FILE            validate and print the route table (exit 0), or every error (exit 1)
 */
import cluster from 'node:cluster'
import { parseArgs } from 'node:util'
import closeWithGrace from 'close-with-grace'
import { ConfigError } from './config/config-error.js'
import { loadConfig } from './config/load.js'
import { formatRouteTable } from './config/route-table.js'
import { writeRouteWarnings } from './config/write-route.js'
import type { GatewayConfig } from './config/types.js'
import { SHUTDOWN_MESSAGE } from './server/shutdown-message.js'

const USAGE = `Usage:
  junction start --config FILE   start the gateway
  junction check FILE            validate a config file and print its route table

Environment: JUNCTION_PORT, JUNCTION_HOST, JUNCTION_STORE_URL, ADMIN_TOKEN override the file (docs/config.md).`

function fail (message: string, code = 1): never {
  process.stderr.write(message.endsWith('\n') ? message : message + '\n')
  process.exit(code)
}

async function load (file: string): Promise<GatewayConfig> {
  try {
    return await loadConfig(file)
  } catch (err) {
    if (err instanceof ConfigError) {
      const lines = err.issues.map(i => `  ${i.path}: ${i.message}`)
      fail(`junction: ${file} is not a valid config (${err.issues.length} ${err.issues.length === 1 ? 'error' : 'errors'}):\n${lines.join('\n')}`)
    }
    throw err
  }
}

async function check (file: string): Promise<void> {
  const config = await load(file)
  const workers = config.server.workers > 1 ? ` (${config.server.workers} worker processes)` : ''
  process.stdout.write(`${file} is valid${workers}.\n\n${formatRouteTable(config)}\n`)
  for (const warning of writeRouteWarnings(config.routes)) process.stderr.write(`warning: ${warning}\n`)
}

async function start (file: string): Promise<void> {
  const config = await load(file)
  // server.workers > 1: this process forks the workers, each of which runs the rest of start().
  if (config.server.workers > 1 && cluster.isPrimary) return await startPrimary(config)
  // A worker drains when its primary says so, or when the primary is gone (IPC closed);
  // listened for from the start, so a request to stop that comes while booting is not lost.
  const drainer: { drain?: () => void, requested: boolean } = { requested: false }
  if (cluster.isWorker) {
    const request = (): void => { drainer.requested = true; drainer.drain?.() }
    process.on('message', message => { if (message === SHUTDOWN_MESSAGE) request() })
    process.on('disconnect', request)
  }
  let host
  try {
    // Loaded here, not at the top: `junction check` needs none of the server (Fastify, undici, ioredis) and starts faster without it.
    const { GatewayHost } = await import('./gateway-host.js')
    host = await GatewayHost.start(config)
  } catch (err) {
    fail(`junction: could not start: ${(err as Error).message}`)
  }
  const gateway = host
  let closing = false
  // SIGHUP is not a stop here: it reloads the config (below).
  const grace = closeWithGrace({ delay: config.server.shutdownTimeoutMs, skip: ['SIGHUP'] }, async ({ signal, err, manual }) => {
    closing = true
    if (err !== undefined) gateway.log.error({ err }, 'fatal error, shutting down')
    else gateway.log.info({ signal, manual }, 'shutting down: finishing in-flight requests')
    await gateway.close()
  })
  // SIGHUP: re-read the file (docs/config.md#reloading); the host logs what it did or refused.
  process.on('SIGHUP', () => {
    gateway.log.info({ config: config.source }, 'SIGHUP: reloading the config')
    gateway.reload().catch((err: unknown) => { gateway.log.error({ err }, 'reload failed') })
  })
  drainer.drain = () => { if (!closing) grace.close() }
  let address
  try {
    address = await gateway.listen()
  } catch (err) {
    await gateway.close().catch(() => {})
    fail(`junction: could not listen on ${config.server.host}:${config.server.port}: ${(err as Error).message}`)
  }
  gateway.log.info(`listening at http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`)
  gateway.log.info({ config: config.source, store: config.store.kind }, `routes\n${formatRouteTable(config)}`)
  if (drainer.requested) drainer.drain()
}

/** The cluster primary: forks and supervises the workers (src/server/primary.ts), serves nothing itself. */
async function startPrimary (config: GatewayConfig): Promise<void> {
  const [{ pino }, { Primary }] = await Promise.all([import('pino'), import('./server/primary.js')])
  const log = pino({ level: config.server.logLevel })
  const primary = new Primary({ workers: config.server.workers, shutdownTimeoutMs: config.server.shutdownTimeoutMs, log })
  let signalled = false
  const onSignal = (signal: NodeJS.Signals): void => {
    if (signalled) {
      log.error({ signal }, 'second signal: killing the workers')
      for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGKILL')
      process.exit(1)
    }
    signalled = true
    log.info({ signal }, 'shutting down: draining the workers')
    primary.stop().then(() => process.exit(0), () => process.exit(1))
  }
  process.on('SIGTERM', onSignal)
  process.on('SIGINT', onSignal)
  // Each worker reloads its own generation (docs/config.md#reloading).
  process.on('SIGHUP', () => {
    log.info({ config: config.source }, 'SIGHUP: the workers reload the config')
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGHUP')
  })
  try {
    await primary.start()
  } catch (err) {
    fail(`junction: could not start: ${(err as Error).message}`)
  }
  log.info({ config: config.source, store: config.store.kind, workers: config.server.workers }, `routes\n${formatRouteTable(config)}`)
}

async function main (argv: string[]): Promise<void> {
  const [command, ...rest] = argv
  switch (command) {
    case 'start': {
      const { values, positionals } = parseArgs({ args: rest, options: { config: { type: 'string', short: 'c' } }, allowPositionals: true })
      const file = values.config ?? positionals[0]
      if (file === undefined) fail(`junction start: which config? Pass --config FILE.\n\n${USAGE}`)
      return await start(file)
    }
    case 'check': {
      const { values, positionals } = parseArgs({ args: rest, options: { config: { type: 'string', short: 'c' } }, allowPositionals: true })
      const file = positionals[0] ?? values.config
      if (file === undefined) fail(`junction check: which config? Pass FILE.\n\n${USAGE}`)
      return await check(file)
    }
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE + '\n')
      return
    default:
      fail(`junction: unknown command "${command}".\n\n${USAGE}`)
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  fail(`junction: ${(err as Error).stack ?? String(err)}`)
})
