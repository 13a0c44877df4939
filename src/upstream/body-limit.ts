/**
 * Enforces a body size limit on a stream without buffering it: bytes flow through and
 * the stream fails with a 413 error as soon as the limit is crossed.
 */
import { Transform, type TransformCallback } from 'node:stream'
import { errors } from '../errors.js'

export class BodyLimit extends Transform {
  readonly #limit: number
  #seen = 0

  constructor (limit: number) {
    super()
    this.#limit = limit
  }

  override _transform (chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#seen += chunk.length
    if (this.#seen > this.#limit) {
      callback(errors.bodyTooLarge(this.#limit))
      return
    }
    callback(null, chunk)
  }
}
