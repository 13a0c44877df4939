/**
 * An origin that holds every request until the test releases it: for checking that a
 * request in flight survives something (a reload, a shutdown).
 */
import type { Origin } from './origin.js'
import { startOrigin } from './origin.js'

interface Teardown { teardown (fn: () => unknown): void }

export interface HeldOrigin extends Origin {
  /** Resolves once the first request has arrived. */
  readonly arrived: Promise<void>
  /** Answers every held request with `body`. */
  release (): void
}

export async function startHeldOrigin (t: Teardown, body = 'slow done'): Promise<HeldOrigin> {
  let release: () => void = () => {}
  const released = new Promise<void>(resolve => { release = resolve })
  let arrive: () => void = () => {}
  const arrived = new Promise<void>(resolve => { arrive = resolve })
  const origin = await startOrigin(t, (_req, res) => {
    arrive()
    released.then(() => res.end(body), () => {})
  })
  return Object.assign(origin, { arrived, release })
}
