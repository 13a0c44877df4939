/**
 * A real upstream (node:http on 127.0.0.1) that records every request it receives, as it
 * received it, so tests can assert what reached a service and what never did. Answers with
 * `answer` (default: 200 and a small JSON body naming the request).
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http'
import { startOrigin, type Origin } from './origin.js'

export interface Received {
  readonly method: string
  readonly url: string
  readonly headers: IncomingHttpHeaders
  readonly body: Buffer
  /** The whole body arrived (false: the connection was cut mid-request). */
  readonly complete: boolean
}

export interface RecordingOrigin extends Origin {
  /** Every request whose head arrived since the last reset, in order (a cut body shows `complete: false`). */
  readonly received: Received[]
  /** Every request whose head arrived since the origin started: reset leaves it alone. */
  readonly all: readonly Received[]
  /** Forgets what was received (not `all`). */
  reset (): void
}

interface Teardown { teardown (fn: () => unknown): void }

export type Answer = (req: Received, res: ServerResponse) => void

const defaultAnswer: Answer = (req, res) => {
  res.setHeader('content-type', 'application/json')
  res.end(JSON.stringify({ method: req.method, url: req.url }))
}

export async function startRecordingOrigin (t: Teardown, answer: Answer = defaultAnswer): Promise<RecordingOrigin> {
  const received: Received[] = []
  const all: Received[] = []
  const origin = await startOrigin(t, (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = []
    // One record in both lists, completed in place: a request still arriving when a test
    // resets `received` completes its record in `all` and nowhere else.
    const entry: { -readonly [K in keyof Received]: Received[K] } =
      { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.alloc(0), complete: false }
    received.push(entry)
    all.push(entry)
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      entry.body = Buffer.concat(chunks)
      entry.complete = true
      answer(entry, res)
    })
    req.on('error', () => {})
  })
  return Object.assign(origin, { received, all, reset: () => { received.length = 0 } })
}
