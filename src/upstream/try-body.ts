/**
 * The request body as one try sees it. undici destroys the body stream of a request that
 * fails, and a streamed body cannot be read twice, so a retry could never resend it. This
 * wrapper reads from the client's stream only once undici starts sending (after it
 * connected): a try that failed before that (connection refused, connect timeout) leaves
 * the client's stream untouched for the next try, and `started` tells whether a retry is
 * still possible.
 *
 * Hand-written because stream.pipeline() and friends start reading at once; this defers
 * the first read and forwards backpressure (pause/resume) like pipe() does.
 */
import { Readable } from 'node:stream'

export class TryBody extends Readable {
  readonly #source: Readable
  #started = false

  constructor (source: Readable) {
    super()
    this.#source = source
  }

  /** Whether undici began reading: from then on, this body cannot be sent again. */
  get started (): boolean {
    return this.#started
  }

  override _read (): void {
    if (this.#started) {
      this.#source.resume()
      return
    }
    this.#started = true
    const source = this.#source
    if (source.destroyed) {
      this.destroy(source.errored ?? new Error('the request body was closed before it could be sent'))
      return
    }
    source.on('data', this.#onData)
    source.once('end', this.#onEnd)
    source.once('error', this.#onError)
    source.resume()
  }

  override _destroy (err: Error | null, callback: (error?: Error | null) => void): void {
    const source = this.#source
    source.off('data', this.#onData)
    source.off('end', this.#onEnd)
    source.off('error', this.#onError)
    // Once read from, the client's stream is this try's: nobody else can use what is left.
    if (this.#started && !source.destroyed) source.destroy(err ?? undefined)
    callback(err)
  }

  readonly #onData = (chunk: Buffer): void => {
    if (!this.push(chunk)) this.#source.pause()
  }

  readonly #onEnd = (): void => {
    this.push(null)
  }

  readonly #onError = (err: Error): void => {
    this.destroy(err)
  }
}
