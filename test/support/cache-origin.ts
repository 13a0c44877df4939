/**
 * A real upstream for the cache tests: an HTTP origin whose answer the test controls
 * (status, headers, body, delay, a gate to hold a response), counting the requests it
 * served, and the fetch function the cache calls (undici, like the proxy).
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { request } from 'undici'
import type { Validators } from '../../src/cache/entry.js'
import type { Fetch } from '../../src/cache/response-cache.js'
import type { HttpHeaders } from '../../src/cache/types.js'
import { startOrigin } from './origin.js'

interface Teardown { teardown (fn: () => unknown): void }

export interface Reply {
  status?: number
  headers?: Record<string, string | string[]>
  body?: string | Buffer
  /** Milliseconds before answering. */
  delayMs?: number
  /** Answer only once this resolves. */
  gate?: Promise<void>
}

export interface CacheOrigin {
  readonly url: string
  /** Requests the origin received. */
  count: () => number
  /** What the next requests get (a function sees the request). */
  reply: Reply | ((req: IncomingMessage) => Reply)
  /** A fetch function for `path`, as the proxy would make it. */
  fetch: (path?: string, headers?: Record<string, string>) => Fetch
  close: () => Promise<void>
}

export async function startCacheOrigin (t: Teardown, initial: Reply | ((req: IncomingMessage) => Reply) = {}): Promise<CacheOrigin> {
  let served = 0
  const state: { reply: Reply | ((req: IncomingMessage) => Reply) } = { reply: initial }
  const origin = await startOrigin(t, (req: IncomingMessage, res: ServerResponse) => {
    served++
    const r = typeof state.reply === 'function' ? state.reply(req) : state.reply
    const answer = (): void => {
      res.statusCode = r.status ?? 200
      for (const [name, value] of Object.entries(r.headers ?? {})) res.setHeader(name, value)
      res.end(r.body ?? 'ok')
    }
    const delayed = (): void => {
      if (r.delayMs !== undefined) setTimeout(answer, r.delayMs)
      else answer()
    }
    if (r.gate !== undefined) r.gate.then(delayed, () => res.destroy())
    else delayed()
  })
  return {
    url: origin.url,
    count: () => served,
    get reply () { return state.reply },
    set reply (r) { state.reply = r },
    fetch: (path = '/', headers = {}) => async (validators?: Validators) => {
      // Like the proxy: the cache's validators become conditional headers.
      const conditional = { ...headers }
      if (validators?.etag !== undefined) conditional['if-none-match'] = validators.etag
      if (validators?.lastModified !== undefined) conditional['if-modified-since'] = validators.lastModified
      const res = await request(origin.url + path, { headers: conditional })
      const body = Buffer.from(await res.body.arrayBuffer())
      return { status: res.statusCode, headers: res.headers as HttpHeaders, body }
    },
    close: () => origin.close()
  }
}

/** A promise and the function that resolves it. */
export function gate (): { promise: Promise<void>, open: () => void } {
  let open!: () => void
  const promise = new Promise<void>(resolve => { open = resolve })
  return { promise, open }
}

export const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))
