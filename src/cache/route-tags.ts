/**
 * A cached route's tag templates (`user:{params.id}`, `company:{company.id}`,
 * `product:{each orders.items.productId}`), expanded per answer with the placeholder
 * grammar and expansion of src/compose/template.ts. Values go into tags as they are (not
 * percent-encoded), the way write routes expand their `invalidate` tags, so both sides
 * spell a tag alike.
 *
 * Templates reading only route parameters are known before the fill (request tags); the
 * others read the answer (a part's body, or a proxy route's JSON body as part `response`).
 * `{each ...}` gives one tag per value found, arrays walked at every step.
 */
import { collectSlots } from '../compose/collection.js'
import { compileTemplate, eachPlaceholder, expandTemplate, isScalar, placeholders, type Template, type TemplateInput } from '../compose/template.js'

export interface ResponseTags {
  readonly tags: readonly string[]
  /**
   * false when a template could not be filled (a field missing, a body that is not JSON):
   * the answer could never be invalidated by that tag, so it must not be kept as if complete.
   */
  readonly complete: boolean
}

type Params = Readonly<Record<string, string | undefined>>

const NO_TAGS: readonly string[] = Object.freeze([])

export class RouteTags {
  readonly #request: readonly Template[]
  readonly #response: readonly Template[]

  constructor (sources: readonly string[]) {
    const templates = sources.map(compileTemplate)
    const readsAnswer = (t: Template): boolean => placeholders(t).some(p => p.source === 'part')
    this.#request = templates.filter(t => !readsAnswer(t))
    this.#response = templates.filter(readsAnswer)
  }

  /** Whether some tag reads the answer's body. */
  get readsAnswer (): boolean {
    return this.#response.length > 0
  }

  /** Tags known from the request alone (route parameters). */
  requestTags (params: Params): readonly string[] {
    // The usual route has none: no array per request.
    if (this.#request.length === 0) return NO_TAGS
    const tags: string[] = []
    for (const template of this.#request) {
      const expansion = expandTemplate(template, input(params, new Map()), String)
      // A parameter of the route path is always there; the config check made sure of it.
      if (expansion.ok) tags.push(expansion.path)
    }
    return tags
  }

  /** Tags read from the answer: `parts` are the bodies by part name (`response` for a proxy). */
  responseTags (params: Params, parts: ReadonlyMap<string, unknown>): ResponseTags {
    const tags: string[] = []
    let complete = true
    for (const template of this.#response) {
      const each = eachPlaceholder(template)
      const values = each === undefined ? [undefined] : collectSlots(parts.get(each.part), each.fields).map(slot => slot.value).filter(isScalar)
      for (const value of values) {
        const expansion = expandTemplate(template, { ...input(params, parts), eachValue: value }, String)
        if (expansion.ok) tags.push(expansion.path)
        else complete = false
      }
    }
    return { tags: [...new Set(tags)], complete }
  }
}

function input (params: Params, parts: ReadonlyMap<string, unknown>): TemplateInput {
  return { params, query: {}, headers: {}, parts }
}

/**
 * A proxy route's answer tags: its body, parsed as JSON, is part `response`. A body that is
 * not JSON leaves `{response.…}` tags unfilled (incomplete).
 */
export function proxyResponseTags (tags: RouteTags, contentType: string | undefined, body: Buffer): ResponseTags {
  if (!tags.readsAnswer) return { tags: [], complete: true }
  let json: unknown
  try {
    json = contentType !== undefined && /[/+]json\b/i.test(contentType) ? JSON.parse(body.toString('utf8')) : undefined
  } catch {
    json = undefined
  }
  return tags.responseTags({}, new Map([['response', json]]))
}
