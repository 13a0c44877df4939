/**
 * One HTTP exchange whose answer is read whole into memory, bounded: for the write path,
 * which needs the owner's whole answer, and the outbox, which keeps an excerpt of a
 * dependent's. Each client write makes three of them (owner, two copies), so they go
 * through undici's `dispatch` with a small handler rather than `pool.request()`: no
 * Readable body stream, async iterator, AbortController or abort listener per call, which
 * measured about 40% of the client-side CPU of such a call (bench/scenarios/writes.ts).
 * `dispatch` is undici's lower-level API (documented, less stable across its majors);
 * this file is the one place that depends on it.
 */
import type { IncomingHttpHeaders } from 'node:http'
import type { Dispatcher } from 'undici'

export interface BufferedCall {
  readonly method: Dispatcher.HttpMethod
  readonly path: string
  readonly headers: Record<string, string | string[]>
  readonly body?: string | Buffer | null | undefined
  /** Largest answer kept. */
  readonly maxBytes: number
  /** Past `maxBytes`: keep the first `maxBytes` and stop reading (`truncate`), or fail with an AnswerTooLargeError. */
  readonly overflow: 'truncate' | 'fail'
  /** Gives up (CallTimeoutError) after this long, answer included. */
  readonly timeoutMs?: number | undefined
  /** Gives up (CallAbandonedError) when this aborts. */
  readonly signal?: AbortSignal | undefined
}

export interface BufferedAnswer {
  readonly status: number
  readonly headers: IncomingHttpHeaders
  readonly body: Buffer
  /** The answer was longer than `maxBytes` (with `overflow: 'truncate'`). */
  readonly truncated: boolean
}

export class CallTimeoutError extends Error {
  readonly code = 'JUNCTION_CALL_TIMEOUT'
  constructor (ms: number) {
    super(`no complete answer within ${ms} ms`)
    this.name = 'CallTimeoutError'
  }
}

export class CallAbandonedError extends Error {
  readonly code = 'JUNCTION_CALL_ABANDONED'
  constructor () {
    super('the call was abandoned')
    this.name = 'CallAbandonedError'
  }
}

export class AnswerTooLargeError extends Error {
  readonly code = 'JUNCTION_ANSWER_TOO_LARGE'
  constructor (maxBytes: number) {
    super(`answer larger than ${maxBytes} bytes`)
    this.name = 'AnswerTooLargeError'
  }
}

/** Rejects with undici's error (map it with upstreamError) or one of the errors above. */
export async function bufferedCall (dispatcher: Dispatcher, call: BufferedCall): Promise<BufferedAnswer> {
  if (call.signal?.aborted === true) throw new CallAbandonedError()
  return await new Promise<BufferedAnswer>((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    let status = 0
    let headers: IncomingHttpHeaders = {}
    let controller: Dispatcher.DispatchController | undefined
    /** Why we stopped the exchange ourselves, if we did. */
    let stopped: Error | undefined
    let settled = false

    const settle = (err: Error | undefined, truncated = false): void => {
      if (settled) return
      settled = true
      if (timer !== undefined) clearTimeout(timer)
      call.signal?.removeEventListener('abort', onAbandon)
      if (err !== undefined) reject(err)
      else resolve({ status, headers, body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks), truncated })
    }
    // Settles at once; the exchange itself is aborted now, or when it gets a connection
    // (a request still queued in the pool has no controller yet).
    const stop = (reason: Error): void => {
      stopped ??= reason
      controller?.abort(reason)
      settle(reason)
    }
    const timer = call.timeoutMs === undefined ? undefined : setTimeout(() => { stop(new CallTimeoutError(call.timeoutMs!)) }, call.timeoutMs)
    const onAbandon = (): void => { stop(new CallAbandonedError()) }
    call.signal?.addEventListener('abort', onAbandon, { once: true })

    const handler: Dispatcher.DispatchHandler = {
      onRequestStart (c) {
        controller = c
        if (stopped !== undefined) c.abort(stopped)
      },
      onResponseStart (_c, statusCode, responseHeaders) {
        // 1xx informational answers come first and are replaced by the final one.
        status = statusCode
        headers = responseHeaders
      },
      onResponseData (c, chunk) {
        if (settled) return
        const room = call.maxBytes - size
        if (chunk.length <= room) {
          chunks.push(chunk)
          size += chunk.length
          return
        }
        if (call.overflow === 'fail') {
          stop(new AnswerTooLargeError(call.maxBytes))
          return
        }
        // Enough: keep the excerpt and stop reading (this closes the connection), rather
        // than read megabytes of an answer nobody looks at.
        if (room > 0) chunks.push(chunk.subarray(0, room))
        size = call.maxBytes
        settle(undefined, true)
        c.abort(new Error('answer truncated'))
      },
      onResponseEnd () {
        settle(undefined)
      },
      onResponseError (_c, err) {
        settle(stopped ?? err)
      }
    }
    try {
      dispatcher.dispatch({ method: call.method, path: call.path, headers: call.headers, body: call.body ?? null }, handler)
    } catch (err) {
      settle(err as Error)
    }
  })
}
