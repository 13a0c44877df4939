/**
 * A cached proxy route hands the cache whole answers, so the upstream's streamed body is
 * read into memory here, up to the cache's maxEntryBytes. A larger body is not cached: the
 * read stops, and TooLargeToCache carries the status, headers, the bytes read so far and
 * the rest of the stream, for the request to stream through (X-Cache: BYPASS).
 */
import type { OutgoingHttpHeaders } from 'node:http'
import { Readable } from 'node:stream'
import type { ServiceConfig } from '../config/types.js'
import { upstreamError } from '../upstream/error-map.js'
import type { ForwardResponse } from '../upstream/forward.js'
import type { HttpHeaders } from './types.js'

/** How long an unclaimed oversized answer keeps its upstream connection before it is dropped. */
const UNCLAIMED_MS = 1000

export class TooLargeToCache extends Error {
  readonly status: number
  readonly headers: OutgoingHttpHeaders
  #body: Readable | undefined
  readonly #timer: NodeJS.Timeout

  constructor (status: number, headers: OutgoingHttpHeaders, head: readonly Buffer[], rest: Readable) {
    super('the upstream answer is larger than the cache takes')
    this.name = 'TooLargeToCache'
    this.status = status
    this.headers = headers
    // Until someone reads it, an upstream failure must not become an unhandled 'error' event.
    rest.on('error', () => {})
    this.#body = Readable.from((async function * () {
      yield * head
      yield * rest
    })())
    // Coalesced requests share this error: one claims the stream, the others fetch their own.
    // Nobody claiming it (a background refresh) must not pin the upstream connection.
    this.#timer = setTimeout(() => { this.claim()?.destroy(); rest.destroy() }, UNCLAIMED_MS)
    this.#timer.unref()
  }

  /** The whole body as a stream, for the first caller; undefined afterwards. */
  claim (): Readable | undefined {
    const body = this.#body
    this.#body = undefined
    if (body !== undefined) clearTimeout(this.#timer)
    return body
  }
}

export interface BufferedAnswer {
  readonly status: number
  readonly headers: HttpHeaders
  readonly body: Buffer
}

/** Reads the answer whole, or throws TooLargeToCache past `maxBytes`; body errors map like the proxy's. */
export async function bufferAnswer (service: ServiceConfig, res: ForwardResponse, maxBytes: number): Promise<BufferedAnswer> {
  let read: { chunks: Buffer[], done: boolean }
  try {
    read = await readUpTo(res.body, maxBytes)
  } catch (err) {
    throw upstreamError(service, err)
  }
  if (!read.done) throw new TooLargeToCache(res.statusCode, res.headers, read.chunks, res.body)
  const headers: Record<string, string | string[]> = {}
  for (const [name, value] of Object.entries(res.headers)) {
    if (value !== undefined) headers[name] = typeof value === 'number' ? String(value) : value
  }
  return { status: res.statusCode, headers, body: Buffer.concat(read.chunks) }
}

/** Reads until the end, or until more than `limit` bytes arrived (then pauses: the rest stays readable). */
function readUpTo (body: Readable, limit: number): Promise<{ chunks: Buffer[], done: boolean }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    const cleanup = (): void => {
      body.off('data', onData)
      body.off('end', onEnd)
      body.off('error', onError)
    }
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk)
      size += chunk.length
      if (size > limit) {
        cleanup()
        body.pause()
        resolve({ chunks, done: false })
      }
    }
    const onEnd = (): void => { cleanup(); resolve({ chunks, done: true }) }
    const onError = (err: Error): void => { cleanup(); reject(err) }
    body.on('data', onData)
    body.once('end', onEnd)
    body.once('error', onError)
  })
}
