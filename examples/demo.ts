/**
 * `npm run demo`: the three demo services on 127.0.0.1:3001-3003 and the gateway on
 * 127.0.0.1:8080 with examples/junction.yaml on the embedded store, in one process.
 * Ctrl-C stops everything gracefully.
 */
import { fileURLToPath } from 'node:url'
import closeWithGrace from 'close-with-grace'
import { ConfigError } from '../src/config/config-error.js'
import { loadConfig } from '../src/config/load.js'
import { formatRouteTable } from '../src/config/route-table.js'
import { buildGateway } from '../src/gateway.js'
import { startDemoServices } from './services/run.js'

const configFile = fileURLToPath(new URL('../../examples/junction.yaml', import.meta.url))

async function main (): Promise<void> {
  const services = await startDemoServices({ host: '127.0.0.1', ports: { users: 3001, orders: 3002, catalog: 3003 } })
  const config = await loadConfig(configFile)
  const gateway = await buildGateway(config)
  closeWithGrace({ delay: config.server.shutdownTimeoutMs }, async () => {
    await gateway.close()
    await services.close()
  })
  await gateway.listen({ port: config.server.port, host: config.server.host })
  const base = `http://${config.server.host}:${config.server.port}`
  process.stdout.write(`
Junction demo is running: gateway ${base}, services ${Object.values(services.urls).join(' ')}
Config: ${configFile}

${formatRouteTable(config)}

Try:
  curl -i ${base}/api/users/1
  curl -i ${base}/api/orders?userId=1
  curl -i ${base}/api/products
  curl -i -X PUT ${base}/api/users/1 -H 'content-type: application/json' -H 'if-match: "1"' -d '{"name":"Ada L.","email":"ada@example.com","companyId":"1"}'
  curl -s ${services.urls.orders}/customers/1   # orders' copy of user 1: the PUT above propagated to it
  curl -i ${base}/api/nope            # 404 application/problem+json
  curl -i ${base}/ready

Ctrl-C to stop.
`)
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) process.stderr.write(`junction demo: ${err.message}\n`)
  else process.stderr.write(`junction demo: ${(err as Error).stack ?? String(err)}\n`)
  process.exit(1)
})
