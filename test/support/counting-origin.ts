/**
 * A test upstream that names itself (X-Served-By) and counts the requests it received,
 * health checks apart, so resilience tests can tell which URL served and how often a
 * request was tried.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { startOrigin, type Origin } from './origin.js'

interface Teardown { teardown (fn: () => unknown): void }

export interface CountingOrigin extends Origin {
  /** Requests received, health checks excluded. */
  readonly hits: () => number
  /** Health checks received (requests from Junction's checker). */
  readonly checks: () => number
}

export async function startCountingOrigin (t: Teardown, name: string,
  answer: (req: IncomingMessage, res: ServerResponse, hit: number) => void): Promise<CountingOrigin> {
  let hits = 0
  let checks = 0
  const origin = await startOrigin(t, (req, res) => {
    res.setHeader('x-served-by', name)
    if (req.headers['user-agent'] === 'junction-health-check') checks++
    else hits++
    answer(req, res, hits)
  })
  return Object.assign(origin, { hits: () => hits, checks: () => checks })
}

export function unavailable (res: ServerResponse): void {
  res.writeHead(503, { 'content-type': 'text/plain' }).end('busy')
}
