/**
 * Guarantee 2 on the embedded store: SIGKILL of the gateway process at a random moment
 * of a 2,000-write burst loses nothing; after the restart every dependent holds the
 * owner's final version of every entity.
 */
import t from 'tap'
import { gatewayCrashScenario } from './support/crash-scenario.js'

t.test('SIGKILL mid-burst, restart on the same journal: the copies converge', async t => {
  await gatewayCrashScenario(t)
})
