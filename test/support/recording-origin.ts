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
  /** Every request whose head arrived, in order (a cut body shows `complete: false`). */
  readonly received: Received[]
  /** Forgets what was received. */
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
  const origin = await startOrigin(t, (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = []
    const index = received.length
    received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.alloc(0), complete: false })
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      const entry = { ...(received[index] as Received), body: Buffer.concat(chunks), complete: true }
      received[index] = entry
      answer(entry, res)
    })
    req.on('error', () => {})
  })
  return Object.assign(origin, { received, reset: () => { received.length = 0 } })
}
