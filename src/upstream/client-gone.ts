/**
 * The cancellation signal of one proxied request: it fires ('abort') when the client's
 * connection closes before the gateway finished answering, so the upstream call (and any
 * retry wait) stops too.
 *
 * Not an AbortController: one per request was among the largest costs of a pass-through
 * (an AbortSignal is an EventTarget, slow to create and to add and remove listeners on).
 * undici takes an EventEmitter with an `aborted` flag as a request's signal just as well
 * (Dispatcher.RequestOptions.signal), and a plain EventEmitter is cheap.
 */
import { EventEmitter } from 'node:events'
import type { ServerResponse } from 'node:http'

export class ClientGone extends EventEmitter {
  /** True once the client went away before its answer was finished. */
  aborted = false

  constructor (res: ServerResponse) {
    super()
    res.once('close', () => {
      if (res.writableFinished) return
      this.aborted = true
      this.emit('abort')
    })
  }
}

/** What a call can be cancelled by: the client going away, or a caller's own AbortSignal. */
export type CallSignal = AbortSignal | ClientGone

/**
 * Waits `ms`, or rejects with an AbortError once `signal` fires (as timers/promises' setTimeout
 * does with an AbortSignal, which a ClientGone is not).
 */
export async function sleepUnlessAborted (ms: number, signal: CallSignal | undefined): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    if (signal?.aborted === true) {
      reject(abortError())
      return
    }
    const onAbort = (): void => {
      clearTimeout(timer)
      reject(abortError())
    }
    const timer = setTimeout(() => {
      if (signal instanceof ClientGone) signal.removeListener('abort', onAbort)
      else signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    if (signal instanceof ClientGone) signal.once('abort', onAbort)
    else signal?.addEventListener('abort', onAbort, { once: true })
  })
}

function abortError (): Error {
  return new DOMException('The operation was aborted', 'AbortError')
}
