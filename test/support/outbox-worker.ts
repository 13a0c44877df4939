/**
 * Child process for test/outbox-shared.test.ts: one outbox instance in its own process,
 * so a test can SIGKILL it while it holds deliveries in flight or in backoff.
 *
 *   OUTBOX_WORKER='{"store":{...StoreConfig},"dependentUrl":"http://...","consumer":"c1",
 *                   "options":{...},"enqueue":[...DeliveryRequest]}' node outbox-worker.js
 *
 * Prints `enqueued` once its deliveries (if any) are durable, then `ready`, then one
 * `outcome <kind> <entity> <version>` line per outcome.
 */
import { openStore } from '../../src/store/open-store.js'
import type { StoreConfig } from '../../src/config/types.js'
import { StoreOutbox } from '../../src/outbox/store-outbox.js'
import type { DeliveryRequest } from '../../src/outbox/types.js'
import { Upstreams } from '../../src/upstream/service-pool.js'
import { serviceConfig } from './outbox-harness.js'

interface WorkerConfig {
  store: StoreConfig
  dependentUrl: string
  consumer: string
  options: Record<string, number>
  enqueue?: DeliveryRequest[]
}

const config = JSON.parse(process.env.OUTBOX_WORKER ?? '{}') as WorkerConfig
const out = (line: string): void => { process.stdout.write(line + '\n') }
const store = await openStore(config.store)
const upstreams = new Upstreams({ orders: serviceConfig('orders', config.dependentUrl) })
const outbox = new StoreOutbox({ ...config.options, store, services: upstreams, dependents: ['orders'], consumer: config.consumer })
outbox.onOutcome(e => { out(`outcome ${e.outcome} ${e.request.entity} ${e.request.version}`) })
if (config.enqueue !== undefined) {
  await outbox.enqueue(config.enqueue)
  out('enqueued')
}
outbox.start()
out('ready')
// Runs until killed.
setInterval(() => {}, 60_000)
