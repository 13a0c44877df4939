/**
 * Path and tag templates of write routes: `/customers/{params.id}` names a path
 * parameter of the route; `{id}` (POST routes only) is the id the owner assigned to the
 * entity it created. Parsed once at boot, expanded per write.
 *
 * Values are URL-encoded when a path is expanded: a param is one path segment on the
 * gateway, so it must stay one segment (and never become `..` or a query) on the service.
 */
import { pathValueProblem } from '../upstream/request-target.js'

export type TemplatePart =
  | { readonly kind: 'text', readonly text: string }
  | { readonly kind: 'param', readonly name: string }
  | { readonly kind: 'id' }

export interface Template {
  readonly source: string
  readonly parts: readonly TemplatePart[]
}

export type ParseResult = { ok: true, template: Template } | { ok: false, message: string }

const PLACEHOLDER = /\{([^{}]*)\}/g
const PARAM_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/

/** Parses `/customers/{params.id}`; fails on unbalanced braces and unknown placeholder forms. */
export function parseTemplate (source: string): ParseResult {
  const parts: TemplatePart[] = []
  let last = 0
  for (const match of source.matchAll(PLACEHOLDER)) {
    const before = source.slice(last, match.index)
    if (/[{}]/.test(before)) return { ok: false, message: `unbalanced "{" or "}" in ${JSON.stringify(source)}` }
    if (before !== '') parts.push({ kind: 'text', text: before })
    const inner = (match[1] ?? '').trim()
    if (inner === 'id') {
      parts.push({ kind: 'id' })
    } else if (inner.startsWith('params.') && PARAM_NAME.test(inner.slice('params.'.length))) {
      parts.push({ kind: 'param', name: inner.slice('params.'.length) })
    } else {
      return { ok: false, message: `unknown placeholder "{${inner}}" in ${JSON.stringify(source)}; write {params.<name>} for a path parameter of the route, or {id} for the id a POST created` }
    }
    last = match.index + match[0].length
  }
  const rest = source.slice(last)
  if (/[{}]/.test(rest)) return { ok: false, message: `unbalanced "{" or "}" in ${JSON.stringify(source)}` }
  if (rest !== '') parts.push({ kind: 'text', text: rest })
  return { ok: true, template: { source, parts } }
}

/** Like parseTemplate, for templates already checked by the config pipeline. */
export function compileTemplate (source: string): Template {
  const parsed = parseTemplate(source)
  if (!parsed.ok) throw new Error(`internal: unchecked template: ${parsed.message}`)
  return parsed.template
}

export interface TemplateValues {
  readonly params: Readonly<Record<string, string>>
  /** The created entity's id (POST), when known. */
  readonly id?: string | undefined
}

/**
 * Fills a template in. `encode: true` (paths) URL-encodes every value; tags keep them
 * as they are. Throws when a value is missing: the config check makes that a bug.
 */
export function expandTemplate (template: Template, values: TemplateValues, opts: { encode: boolean }): string {
  let out = ''
  for (const part of template.parts) {
    if (part.kind === 'text') {
      out += part.text
      continue
    }
    const value = part.kind === 'id' ? values.id : values.params[part.name]
    if (value === undefined) throw new Error(`no value for ${part.kind === 'id' ? '{id}' : `{params.${part.name}}`} in ${template.source}`)
    if (opts.encode) {
      // Route params are checked with the request path, created ids by the write flow: never reached.
      const problem = pathValueProblem(value)
      if (problem !== undefined) throw new Error(`internal: unchecked value for ${template.source}: ${problem}`)
      out += encodeURIComponent(value)
    } else {
      out += value
    }
  }
  return out
}

/** Names of the route params a template uses, and whether it uses `{id}`. */
export function placeholdersOf (template: Template): { params: string[], usesId: boolean } {
  const params: string[] = []
  let usesId = false
  for (const part of template.parts) {
    if (part.kind === 'param') params.push(part.name)
    else if (part.kind === 'id') usesId = true
  }
  return { params, usesId }
}
