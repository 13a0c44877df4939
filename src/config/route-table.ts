/**
 * The route table as people read it: what `junction check` prints and what the gateway logs
 * at start, so "which request goes where" can be answered without reading the config.
 *
 *   METHODS  GATEWAY PATH  →  SERVICE  UPSTREAM PATH  UPSTREAM URLS
 *   GET,PUT  /api/users    →  users    /users         http://127.0.0.1:3001, http://127.0.0.1:3011
 *   any      /api/orders   →  orders   /api/orders    http://127.0.0.1:3002
 */
import { HTTP_METHODS } from './schema.js'
import type { GatewayConfig, HttpMethod, WriteRouteConfig } from './types.js'
import { composeRouteRows } from './compose-route.js'

const HEADER = ['METHODS', 'GATEWAY PATH', '→', 'SERVICE', 'UPSTREAM PATH', 'UPSTREAM URLS'] as const

export function formatRouteTable (config: Pick<GatewayConfig, 'routes' | 'services'>): string {
  if (config.routes.length === 0) return '(no routes)'
  const rows: string[][] = [[...HEADER]]
  for (const route of config.routes) {
    if (route.kind === 'compose') {
      rows.push(...composeRouteRows(route, config.services))
      continue
    }
    if (route.kind === 'write') {
      rows.push(...writeRouteRows(route, config.services))
      continue
    }
    rows.push([
      formatMethods(route.methods),
      route.prefix,
      '→',
      route.service,
      route.rewrite,
      config.services[route.service]?.urls.join(', ') ?? '(unknown service)'
    ])
  }
  const widths = HEADER.map((_, column) => Math.max(...rows.map(row => (row[column] ?? '').length)))
  return rows
    .map(row => row.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join('  ').trimEnd())
    .join('\n')
}

/**
 * A write route is one row toward its owner and one `↳` row per service keeping a copy:
 *   PUT      /api/users/:id  →  users   /users/{params.id}      http://127.0.0.1:3001
 *                            ↳  orders  /customers/{params.id}  http://127.0.0.1:3002
 */
function writeRouteRows (route: WriteRouteConfig, services: GatewayConfig['services']): string[][] {
  const urls = (service: string): string => services[service]?.urls.join(', ') ?? '(unknown service)'
  return [
    [route.method, route.path, '→', route.owner.service, route.owner.path, urls(route.owner.service)],
    ...route.propagate.map(target => ['', '', '↳', target.service, target.path, urls(target.service)])
  ]
}

/** "any" when a route takes every method, so the common case stays short. */
function formatMethods (methods: readonly HttpMethod[]): string {
  return HTTP_METHODS.every(method => methods.includes(method)) ? 'any' : methods.join(',')
}
