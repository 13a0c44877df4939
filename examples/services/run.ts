/**
 * Starts the three demo services (users, orders, catalog).
 *
 * As a CLI:
 *   node dist/examples/services/run.js [--users-port 3001] [--orders-port 3002]
 *     [--catalog-port 3003] [--host 127.0.0.1] [--control] [--logger]
 *
 * From tests and benchmarks: `startDemoServices()` listens on ephemeral ports by default
 * and returns the base URLs and a `close()`.
 */

import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import type { FastifyInstance } from 'fastify'
import { createUsersService } from './users.js'
import { createOrdersService } from './orders.js'
import { createCatalogService } from './catalog.js'

export type DemoServiceName = 'users' | 'orders' | 'catalog'

export interface StartDemoServicesOptions {
  /** Interface to listen on (default 127.0.0.1). */
  host?: string
  /** Ports per service; 0 or absent = ephemeral. */
  ports?: Partial<Record<DemoServiceName, number>>
  /** Enable `/_control` (fault injection and stats) on all three. */
  control?: boolean
  /** Enable Fastify's logger on all three. */
  logger?: boolean
}

export interface DemoServices {
  /** Base URLs without a trailing slash, e.g. `http://127.0.0.1:3001`. */
  urls: Record<DemoServiceName, string>
  /** The Fastify instances, for tests that want to reach into a store (see `storeOf`). */
  apps: Record<DemoServiceName, FastifyInstance>
  close(): Promise<void>
}

export async function startDemoServices (opts: StartDemoServicesOptions = {}): Promise<DemoServices> {
  const host = opts.host ?? '127.0.0.1'
  const serviceOpts = { control: opts.control ?? false, logger: opts.logger ?? false }
  const apps: Record<DemoServiceName, FastifyInstance> = {
    users: createUsersService(serviceOpts),
    orders: createOrdersService(serviceOpts),
    catalog: createCatalogService(serviceOpts)
  }
  const names = Object.keys(apps) as DemoServiceName[]
  const closeAll = async (): Promise<void> => {
    await Promise.allSettled(names.map(name => apps[name].close()))
  }
  const urls = {} as Record<DemoServiceName, string>
  try {
    for (const name of names) {
      await apps[name].listen({ host, port: opts.ports?.[name] ?? 0 })
      urls[name] = urlOf(apps[name], host)
    }
  } catch (error) {
    // One port taken must not leave the other two listening.
    await closeAll()
    throw error
  }
  return { urls, apps, close: closeAll }
}

function urlOf (app: FastifyInstance, host: string): string {
  const address = app.server.address()
  if (address === null || typeof address === 'string') throw new Error('Service is not listening on TCP.')
  const shownHost = host.includes(':') ? `[${host}]` : host
  return `http://${shownHost}:${address.port}`
}

function parsePort (value: string | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback
  const port = Number(value)
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`${flag} must be a port number, got "${value}".`)
  return port
}

async function main (): Promise<void> {
  const { values } = parseArgs({
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      'users-port': { type: 'string' },
      'orders-port': { type: 'string' },
      'catalog-port': { type: 'string' },
      control: { type: 'boolean', default: false },
      logger: { type: 'boolean', default: false }
    }
  })
  const services = await startDemoServices({
    host: values.host,
    ports: {
      users: parsePort(values['users-port'], '--users-port', 3001),
      orders: parsePort(values['orders-port'], '--orders-port', 3002),
      catalog: parsePort(values['catalog-port'], '--catalog-port', 3003)
    },
    control: values.control,
    logger: values.logger
  })
  for (const [name, url] of Object.entries(services.urls)) {
    console.log(`${name.padEnd(8)} listening on ${url}`)
  }
  const stop = (): void => {
    services.close().then(() => process.exit(0), () => process.exit(1))
  }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
}

// Run only as the entry point, so tests can import startDemoServices without side effects.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error)
    process.exit(1)
  })
}
