/**
 * A real pino logger writing into memory: the test reads back every JSON line it wrote,
 * parsed, in order (the gateway's request lines, delivery lines and warnings).
 */
import { Writable } from 'node:stream'
import pino, { type Logger } from 'pino'

export interface CapturedLog {
  readonly lines: Array<Record<string, unknown>>
  readonly logger: Logger
}

export function captureLog (level = 'info'): CapturedLog {
  const lines: Array<Record<string, unknown>> = []
  const sink = new Writable({
    write (chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) if (line !== '') lines.push(JSON.parse(line) as Record<string, unknown>)
      done()
    }
  })
  return { lines, logger: pino({ level }, sink) }
}
