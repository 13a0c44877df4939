/**
 * Receiver-side validation of write bodies: a route's `validate.body` JSON Schema,
 * compiled once at boot. A body failing it is refused with 400 and the list of what is
 * wrong, and never reaches the owner. Before it, on every write route: the body must be
 * valid UTF-8 and JSON without a key repeated in one object (docs/hygiene.md).
 */
import type { ErrorObject } from 'ajv'
import { bodyAjv } from '../config/write-route.js'
import { errors } from '../errors.js'
import { duplicateKey } from './duplicate-keys.js'

export type BodyCheck = (body: Buffer | undefined) => unknown

/** Strict: invalid bytes fail, and a byte order mark stays in the text (so JSON.parse refuses it). */
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/** The parsed body, or a thrown 400. `schema` undefined: any JSON (or no body) is accepted. */
export function compileBodyCheck (schema: Readonly<Record<string, unknown>> | undefined): BodyCheck {
  const validate = schema === undefined ? undefined : bodyAjv().compile(structuredClone(schema) as Record<string, unknown>)
  return (body) => {
    let json: unknown
    if (body !== undefined && body.length > 0) {
      let text: string
      try {
        text = UTF8.decode(body)
      } catch {
        // toString('utf8') would validate a repaired copy while the owner gets the original bytes.
        throw errors.invalidBody('The request body is not valid UTF-8 (RFC 8259 §8.1).')
      }
      try {
        json = JSON.parse(text)
      } catch (err) {
        throw errors.invalidBody(`The request body is not valid JSON: ${(err as Error).message}.`)
      }
      const repeated = duplicateKey(text)
      if (repeated !== undefined) {
        throw errors.invalidBody(`The request body repeats the key ${JSON.stringify(repeated.key)} in one object; parsers disagree on which value counts, so send it once.`,
          [{ pointer: repeated.pointer, message: `duplicate key ${JSON.stringify(repeated.key)}` }])
      }
    }
    if (validate === undefined) return json
    if (json === undefined) throw errors.invalidBody('This route needs a JSON body.')
    if (!validate(json)) {
      throw errors.invalidBody('The request body does not match the schema of this route.', (validate.errors ?? []).map(describe))
    }
    return json
  }
}

function describe (error: ErrorObject): { pointer: string, message: string } {
  const missing = error.keyword === 'required' ? `/${String(error.params.missingProperty)}` : ''
  const extra = error.keyword === 'additionalProperties' ? ` ("${String(error.params.additionalProperty)}")` : ''
  return { pointer: `${error.instancePath}${missing}` || '/', message: `${error.message ?? error.keyword}${extra}` }
}
