/**
 * The crash scenario of the write fan-out, run on either store: a burst of PUTs through
 * the real `junction` process, SIGKILL at a random moment, restart on the same store, and
 * a bounded wait until every copy of every entity holds the owner's version. Then the
 * rest of the burst through the restarted gateway, and the same check again.
 */
import type { Test } from 'tap'
import { startCliGateway, type RunningGateway } from './cli.js'
import { tempDir } from './gateway.js'
import { burst, divergent, eventually, FAST_OUTBOX, startDemo, writeConfig } from './writes.js'

export interface CrashScenarioOptions {
  env?: NodeJS.ProcessEnv
  total?: number
  entities?: number
  clients?: number
}

export async function gatewayCrashScenario (t: Test, opts: CrashScenarioOptions = {}): Promise<void> {
  const total = opts.total ?? 2000
  const entities = opts.entities ?? 50
  const clients = opts.clients ?? 8
  const demo = await startDemo(t)
  const dir = await tempDir(t)
  const yaml = writeConfig(demo, { extra: FAST_OUTBOX, timeout: '1s' }) + 'server: { logLevel: info }\n'
  const env = opts.env ?? {}

  let gw: RunningGateway = await startCliGateway(t, yaml, { dir, env })
  const killAt = 200 + Math.floor(Math.random() * Math.min(1300, total - 400))
  t.comment(`SIGKILL after ${killAt} completed writes`)
  let killed = false
  const first = await burst(() => gw.url, {
    total,
    entities,
    clients,
    onDone: completed => {
      if (completed >= killAt && !killed) {
        killed = true
        gw.child.kill('SIGKILL')
      }
      return killed
    }
  })
  const exit = await gw.exited
  t.equal(exit.signal, 'SIGKILL', 'the gateway was killed')
  t.comment(`before the kill: ${first.ok} writes acknowledged in ${first.ms} ms (${Math.round(first.ok / (first.ms / 1000))} writes/s), ${first.failed} failed or cut off`)

  gw = await startCliGateway(t, yaml, { dir, env })
  const restarted = Date.now()
  const recovered = await eventually(async () => divergent(demo, entities).length === 0, 40_000)
  t.ok(recovered, `after the restart every copy converges to the owner's version (divergent: ${divergent(demo, entities).join(',')})`)
  t.comment(`converged ${Date.now() - restarted} ms after the restart; recovery log lines: ${(gw.output().match(/recovered a write/g) ?? []).length}`)

  const rest = total - first.completed
  const second = await burst(() => gw.url, { total: rest, entities, clients })
  t.equal(second.failed, 0, 'the restarted gateway acknowledges every write')
  t.comment(`after the restart: ${second.ok} writes in ${second.ms} ms (${Math.round(second.ok / (second.ms / 1000))} writes/s)`)
  const done = Date.now()
  t.ok(await eventually(async () => divergent(demo, entities).length === 0, 30_000), 'and the copies converge again')
  t.comment(`converged ${Date.now() - done} ms after the last acknowledged write`)
}
