/**
 * Path templates of composed parts: `/orders?userId={params.id}`, `/companies/{user.companyId}`,
 * `/products/{each orders.items.productId}`. Parsed once at boot (and by `junction check`),
 * expanded per request.
 *
 * Grammar, everything else in the path being literal text:
 *   {params.NAME}        a path parameter of the route (`:NAME` in `get:`)
 *   {query.NAME}         the first value of a query parameter of the client's request
 *   {headers.NAME}       a header of the client's request (name case-insensitive)
 *   {PART.F1.F2...}      a field of an earlier part's JSON body; a segment of digits indexes an array
 *   {each PART.F1...}    a collection: the part runs once per value found (arrays are walked)
 *
 * What is checkable without running anything is checked here: the syntax and the source of
 * each placeholder. Whether a part or route parameter exists is the config check's job
 * (it knows the route), whether a field exists is only known at runtime.
 *
 * Expanded values are percent-encoded (encodeURIComponent): a value is one path segment or
 * one query value, so it can never add a segment, `..`, a `?` or an `&` toward the service.
 */
import { pathValueProblem } from '../upstream/request-target.js'

export type Source = 'params' | 'query' | 'headers' | 'part'

export type Placeholder =
  | { readonly source: 'params' | 'query' | 'headers', readonly name: string, readonly text: string }
  /** `fields` is never empty: a whole part body is not one value. */
  | { readonly source: 'part', readonly part: string, readonly fields: readonly string[], readonly each: boolean, readonly text: string }

export type TemplateSegment = { readonly literal: string } | { readonly placeholder: Placeholder }

export interface Template {
  readonly source: string
  readonly segments: readonly TemplateSegment[]
}

export type ParseResult = { ok: true, template: Template } | { ok: false, message: string }

/** Sources a placeholder may name besides parts; so they cannot be part names either. */
export const REQUEST_SOURCES = ['params', 'query', 'headers'] as const
/** `each` starts a collection placeholder; a part named so would be ambiguous. */
export const RESERVED_PART_NAMES: readonly string[] = [...REQUEST_SOURCES, 'each']

const NAME = /^[A-Za-z][A-Za-z0-9_]*$/
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/
const FIELD = /^[A-Za-z0-9_$-]+$/
const GRAMMAR = 'write {params.<name>}, {query.<name>}, {headers.<name>}, {<part>.<field>} or {each <part>.<field>}'

export function parseTemplate (source: string): ParseResult {
  const segments: TemplateSegment[] = []
  let each = 0
  let at = 0
  // Bounded: every turn consumes at least one character.
  while (at < source.length) {
    const open = source.indexOf('{', at)
    const close = source.indexOf('}', at)
    if (close !== -1 && (open === -1 || close < open)) {
      return { ok: false, message: `unmatched "}" in ${JSON.stringify(source)}; ${GRAMMAR}` }
    }
    if (open === -1) {
      segments.push({ literal: source.slice(at) })
      break
    }
    if (open > at) segments.push({ literal: source.slice(at, open) })
    if (close === -1) return { ok: false, message: `unclosed "{" in ${JSON.stringify(source)}; ${GRAMMAR}` }
    const inner = source.slice(open + 1, close)
    if (inner.includes('{')) return { ok: false, message: `unclosed "{" in ${JSON.stringify(source)}; ${GRAMMAR}` }
    const parsed = parsePlaceholder(inner)
    if (typeof parsed === 'string') return { ok: false, message: parsed }
    if (parsed.source === 'part' && parsed.each) each++
    segments.push({ placeholder: parsed })
    at = close + 1
  }
  if (each > 1) return { ok: false, message: `${JSON.stringify(source)} has ${each} {each ...} placeholders; a part can run once per element of one collection only` }
  return { ok: true, template: { source, segments } }
}

/** A placeholder, or the message saying what is wrong with it. */
function parsePlaceholder (inner: string): Placeholder | string {
  const text = `{${inner}}`
  const trimmed = inner.trim()
  if (trimmed === '') return `empty placeholder "{}"; ${GRAMMAR}`
  const eachMatch = /^each\s+(.*)$/.exec(trimmed)
  const body = eachMatch === null ? trimmed : (eachMatch[1] ?? '').trim()
  const names = body.split('.')
  const [head, ...rest] = names
  if (head === undefined || head === '' || names.some(n => n === '')) return `malformed placeholder "${text}"; ${GRAMMAR}`
  if ((REQUEST_SOURCES as readonly string[]).includes(head)) {
    if (eachMatch !== null) return `"${text}": {each ...} takes a part's field, e.g. {each orders.items.productId}; ${head} values are single values`
    const name = rest.join('.')
    const pattern = head === 'params' ? NAME : head === 'query' ? FIELD : HEADER_NAME
    if (rest.length !== 1 || !pattern.test(name)) {
      return `malformed placeholder "${text}"; write {${head}.<name>} with one name`
    }
    return { source: head as 'params' | 'query' | 'headers', name: head === 'headers' ? name.toLowerCase() : name, text }
  }
  if (!NAME.test(head)) return `malformed placeholder "${text}": "${head}" is not a part name; ${GRAMMAR}`
  if (rest.length === 0) return `"${text}" names a whole part; name one of its fields, e.g. {${eachMatch === null ? '' : 'each '}${head}.id}`
  const bad = rest.find(field => !FIELD.test(field))
  if (bad !== undefined) return `malformed placeholder "${text}": field "${bad}" may hold only letters, digits, "_", "-" and "$"`
  return { source: 'part', part: head, fields: rest, each: eachMatch !== null, text }
}

/** Like parseTemplate, for templates the config pipeline has accepted. */
export function compileTemplate (source: string): Template {
  const parsed = parseTemplate(source)
  if (!parsed.ok) throw new Error(`internal: unchecked template: ${parsed.message}`)
  return parsed.template
}

/** The placeholders of a template, in order. */
export function placeholders (template: Template): Placeholder[] {
  return template.segments.flatMap(segment => 'placeholder' in segment ? [segment.placeholder] : [])
}

/** The parts a template reads (each once), in order of appearance. */
export function partsReferenced (template: Template): string[] {
  return [...new Set(placeholders(template).flatMap(p => p.source === 'part' ? [p.part] : []))]
}

/** The collection placeholder of a template, if it has one. */
export function eachPlaceholder (template: Template): Extract<Placeholder, { source: 'part' }> | undefined {
  return placeholders(template).find((p): p is Extract<Placeholder, { source: 'part' }> => p.source === 'part' && p.each)
}

/** What a template reads at expansion time. */
export interface TemplateInput {
  readonly params: Readonly<Record<string, string | undefined>>
  readonly query: Readonly<Record<string, string | string[] | undefined>>
  /** Lower-case names, as node:http gives them. */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>
  /** Bodies of the parts finished so far. */
  readonly parts: ReadonlyMap<string, unknown>
  /** The current element's value, for the {each ...} placeholder. */
  readonly eachValue?: unknown
}

export type Expansion =
  | { readonly ok: true, readonly path: string }
  /**
   * `request`: the client did not send it (a client error); `field`: a part body lacks it.
   * `unsafe`: the value is there but cannot go into a path (`..`, empty: docs/hygiene.md).
   */
  | { readonly ok: false, readonly placeholder: string, readonly missing: 'request' | 'field', readonly why: string, readonly unsafe?: true }

/**
 * `encode` turns each value into text: percent-encoding by default (paths); cache tags pass
 * `String` so a tag reads like the value (`user:a b`), as write routes expand theirs.
 */
export function expandTemplate (template: Template, input: TemplateInput, encode: (value: string) => string = encodeURIComponent): Expansion {
  let path = ''
  // Paths only (not tags), and only before the query: there a service may resolve `..` in a value.
  let inPath = encode === encodeURIComponent
  for (const segment of template.segments) {
    if ('literal' in segment) {
      path += segment.literal
      if (segment.literal.includes('?')) inPath = false
      continue
    }
    const p = segment.placeholder
    let value: unknown
    if (p.source === 'part') {
      value = p.each ? input.eachValue : readField(input.parts.get(p.part), p.fields)
    } else {
      const raw = input[p.source][p.name]
      value = Array.isArray(raw) ? raw[0] : raw
    }
    if (!isScalar(value)) {
      return { ok: false, placeholder: p.text, missing: p.source === 'part' ? 'field' : 'request', why: whyMissing(p) }
    }
    const text = String(value)
    const unsafe = inPath ? pathValueProblem(text) : undefined
    if (unsafe !== undefined) {
      const shown = JSON.stringify(text.length > 40 ? text.slice(0, 37) + '...' : text)
      return { ok: false, placeholder: p.text, missing: p.source === 'part' ? 'field' : 'request', why: `${p.text} (${shown}) ${unsafe}, so it cannot be put in a path`, unsafe: true }
    }
    path += encode(text)
  }
  return { ok: true, path }
}

/** Built only when a value is missing: expanding runs on every request. */
function whyMissing (p: Placeholder): string {
  switch (p.source) {
    case 'part': return `field "${p.fields.join('.')}" of part "${p.part}" is missing or not a string, number or boolean`
    case 'params': return `route parameter "${p.name}" is missing`
    case 'query': return `query parameter "${p.name}" is missing`
    case 'headers': return `header "${p.name}" is missing`
  }
}

export function isScalar (value: unknown): value is string | number | boolean {
  return typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value)) || typeof value === 'boolean'
}

/** The value at `fields` under `value`; a digits-only field indexes an array. Own properties only. */
export function readField (value: unknown, fields: readonly string[]): unknown {
  let node = value
  for (const field of fields) {
    if (Array.isArray(node)) {
      if (!/^\d+$/.test(field)) return undefined
      node = node[Number(field)]
    } else if (typeof node === 'object' && node !== null && Object.hasOwn(node, field)) {
      node = (node as Record<string, unknown>)[field]
    } else {
      return undefined
    }
  }
  return node
}
