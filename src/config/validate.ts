/**
 * Schema validation: ajv compiled once from ./schema.ts, and the translation of its errors
 * into issues a human can act on. Raw ajv output is written for schema authors ("must NOT
 * have additional properties", one error per union branch); here each error becomes one line
 * naming the key in config terms (`routes[0].sevice`) and the fix (`did you mean "service"?`).
 *
 * ajv options, and why:
 * - strict: schema mistakes (unknown keywords, misplaced defaults) fail at startup, not silently.
 * - allErrors: report every problem in one run.
 * - useDefaults: fill in the defaults written in the schema, so they live in one place.
 * - coerceTypes: `port: ${PORT}` yields the string "8080" after env substitution; coercion
 *   turns it into the integer the schema asks for (and only where the schema asks for one,
 *   so a numeric admin token stays a string).
 * - allowUnionTypes: durations and sizes are `string | integer`.
 * - verbose: errors carry the offending value and schema, for "found ..." and hints.
 */
import { Ajv, type ErrorObject } from 'ajv'
import {
  ConfigSchema, ROUTE_KINDS, STORE_KINDS, SERVICE_NAME_PATTERN, type ValidConfig
} from './schema.js'
import {
  type ConfigIssue, type PathSegment, formatPath, didYouMean, quoteList, describeValue, excerpt
} from './config-error.js'
import { settleHeap } from '../server/settle-heap.js'

const ajv = new Ajv({ strict: true, allErrors: true, useDefaults: true, coerceTypes: true, allowUnionTypes: true, verbose: true })
const validator = ajv.compile<ValidConfig>(ConfigSchema)
// At once, before any other code runs: the compile fills V8's transition table of `{}`, and
// code run while it is full stays slow for good (src/server/settle-heap.ts says why).
settleHeap()

export type ValidationResult =
  | { readonly ok: true, readonly config: ValidConfig }
  | { readonly ok: false, readonly issues: readonly ConfigIssue[] }

/**
 * Validates a parsed, env-substituted document against the schema. Mutates `doc`: ajv fills in
 * defaults and coerces scalars in place (the caller passes its own copy).
 */
export function validateConfig (doc: unknown): ValidationResult {
  // As written, before ajv adds defaults: "did you mean" must not suggest a key the user did not write.
  const written = structuredClone(doc)
  if (validator(doc)) return { ok: true, config: doc }
  return { ok: false, issues: translateErrors(validator.errors ?? [], doc, written) }
}

/**
 * Turns ajv's errors into one issue per real problem, deduplicated. `doc` is the validated
 * document (defaults filled in), `written` the document as the user wrote it.
 */
export function translateErrors (errors: readonly ErrorObject[], doc: unknown, written: unknown = doc): ConfigIssue[] {
  const issues: ConfigIssue[] = []
  const seen = new Set<string>()
  const push = (issue: ConfigIssue): void => {
    const key = `${issue.path}\n${issue.message}`
    if (seen.has(key)) return
    seen.add(key)
    issues.push(issue)
  }
  const selected = selectUnionBranches(errors, doc)
  const misspelt = misspeltRequiredKeys(selected, written)
  for (const item of selected) {
    if ('issue' in item) push(item.issue)
    else if (!misspelt.has(item.error)) push(translateError(item.error, doc, written))
  }
  return issues
}

/**
 * `sevice: users` yields both "service is missing" and "sevice is unknown (did you mean
 * service?)". The second says it all: drop the first.
 */
function misspeltRequiredKeys (selected: readonly Selected[], written: unknown): Set<ErrorObject> {
  const errors = selected.flatMap(item => 'error' in item ? [item.error] : [])
  const suggested = new Set<string>()
  for (const error of errors) {
    if (error.keyword !== 'additionalProperties') continue
    const allowed = Object.keys(error.parentSchema?.properties ?? {})
    const suggestion = didYouMean(String(error.params.additionalProperty), unusedKeys(allowed, valueAt(written, pointerSegments(error.instancePath))))
    if (suggestion !== undefined) suggested.add(`${error.instancePath}/${suggestion}`)
  }
  return new Set(errors.filter(error => error.keyword === 'required' &&
    suggested.has(`${error.instancePath}/${String(error.params.missingProperty)}`)))
}

type Selected = { error: ErrorObject } | { issue: ConfigIssue }

const ROUTE_UNION = '#/properties/routes/items'
const STORE_UNION = '#/properties/store'

/**
 * A union (routes, store) makes ajv report the failures of every branch, most of them
 * irrelevant: a proxy route is not wrong for lacking a `get:` key. Each union is
 * discriminated (routes by which kind key is present, the store by `kind`), so pick the
 * branch the user meant and keep only its errors; when no branch can be picked, say that
 * instead, once.
 */
function selectUnionBranches (errors: readonly ErrorObject[], doc: unknown): Selected[] {
  const out: Selected[] = []
  const decided = new Map<string, number | ConfigIssue>()
  for (const error of errors) {
    const union = unionOf(error)
    if (union === undefined) {
      out.push({ error })
      continue
    }
    let choice = decided.get(union.dataPath)
    if (choice === undefined) {
      choice = union.decide(valueAt(doc, union.segments), union.segments)
      decided.set(union.dataPath, choice)
      if (typeof choice !== 'number') out.push({ issue: choice })
    }
    if (typeof choice !== 'number' || error.keyword === 'anyOf') continue
    // TypeBox emits a single-branch union as the branch itself, without `anyOf`: then every error belongs to it.
    const branch = new RegExp(`^${escapeRegExp(union.schemaPath)}/anyOf/(\\d+)/`).exec(error.schemaPath)
    if (branch === null || Number(branch[1]) === choice) out.push({ error })
  }
  return out
}

interface Union {
  schemaPath: string
  dataPath: string
  segments: PathSegment[]
  /** The branch index the user meant, or the issue that explains why none fits. */
  decide: (value: unknown, segments: PathSegment[]) => number | ConfigIssue
}

function unionOf (error: ErrorObject): Union | undefined {
  const segments = pointerSegments(error.instancePath)
  if (error.schemaPath.startsWith(ROUTE_UNION + '/') && segments[0] === 'routes' && segments.length >= 2) {
    const own = segments.slice(0, 2)
    return { schemaPath: ROUTE_UNION, dataPath: `/routes/${String(segments[1])}`, segments: own, decide: decideRoute }
  }
  if (error.schemaPath.startsWith(STORE_UNION + '/') && segments[0] === 'store') {
    return { schemaPath: STORE_UNION, dataPath: '/store', segments: ['store'], decide: decideStore }
  }
  return undefined
}

function decideRoute (route: unknown, segments: PathSegment[]): number | ConfigIssue {
  if (!isPlainObject(route)) return { path: formatPath(segments), message: `expected an object, found ${describeValue(route)}` }
  const keys = ROUTE_KINDS.flatMap(kind => kind.keys)
  const present = keys.filter(key => Object.hasOwn(route, key))
  if (present.length === 1) return ROUTE_KINDS.findIndex(kind => kind.keys.includes(present[0] as string))
  const wanted = ROUTE_KINDS.map(kind => `${kind.keys.map(k => `"${k}"`).join('/')} (${kind.summary})`).join(', ')
  let found: string
  if (present.length === 0) {
    const near = Object.keys(route)
      .map(key => ({ key, suggestion: didYouMean(key, keys) }))
      .find(candidate => candidate.suggestion !== undefined)
    found = near === undefined ? 'found none' : `found none (did you mean "${near.suggestion}" instead of "${near.key}"?)`
  } else {
    found = `found ${present.map(key => `"${key}"`).join(' and ')}; split it into one route per kind`
  }
  return { path: formatPath(segments), message: `a route needs exactly one of ${wanted}; ${found}` }
}

function decideStore (store: unknown, segments: PathSegment[]): number | ConfigIssue {
  if (!isPlainObject(store)) return { path: formatPath(segments), message: `expected an object, found ${describeValue(store)}` }
  // `kind` may be left out for the default, embedded store.
  const kind = store.kind ?? 'embedded'
  const index = STORE_KINDS.indexOf(kind as typeof STORE_KINDS[number])
  if (index >= 0) return index
  const suggestion = typeof kind === 'string' ? didYouMean(kind, STORE_KINDS) : undefined
  return {
    path: formatPath([...segments, 'kind']),
    message: `must be one of ${quoteList(STORE_KINDS)} (found ${excerpt(kind)}${suggestion === undefined ? '' : `; did you mean "${suggestion}"?`})`
  }
}

/** One ajv error → one issue, by keyword. */
function translateError (error: ErrorObject, doc: unknown, written: unknown): ConfigIssue {
  const segments = pointerSegments(error.instancePath, doc)
  const at = (...more: PathSegment[]): string => formatPath([...segments, ...more])
  const schema = error.parentSchema ?? {}
  const params = error.params as Record<string, unknown>
  const data = error.data

  switch (error.keyword) {
    case 'additionalProperties': {
      const key = String(params.additionalProperty)
      if (schema.patternProperties !== undefined && segments.length === 1 && segments[0] === 'services') {
        return { path: at(key), message: `invalid service name; use letters, digits, "-" and "_", starting with a letter (${SERVICE_NAME_PATTERN})` }
      }
      const allowed = Object.keys(schema.properties ?? {})
      const suggestion = didYouMean(key, unusedKeys(allowed, valueAt(written, segments)))
      return {
        path: at(key),
        message: suggestion === undefined
          ? `unknown key; allowed keys here: ${quoteList(allowed)}`
          : `unknown key (did you mean "${suggestion}"?)`
      }
    }
    case 'required': {
      const key = String(params.missingProperty)
      const description = schema.properties?.[key]?.description
      return { path: at(key), message: `required key is missing.${typeof description === 'string' ? ` ${description}` : ''}` }
    }
    case 'type': {
      const examples = Array.isArray(schema.examples) ? ` (e.g. ${quoteList(schema.examples.slice(0, 2))})` : ''
      return { path: at(), message: `expected ${typePhrase(params.type)}${examples}, found ${describeValue(data)}` }
    }
    case 'enum': {
      const allowed = Array.isArray(params.allowedValues) ? params.allowedValues : []
      const suggestion = typeof data === 'string' ? didYouMean(data, allowed.map(String)) : undefined
      return {
        path: at(),
        message: `must be one of ${quoteList(allowed)} (found ${excerpt(data)}${suggestion === undefined ? '' : `; did you mean "${suggestion}"?`})`
      }
    }
    case 'const':
      return { path: at(), message: `must be ${excerpt(params.allowedValue)} (found ${excerpt(data)})` }
    case 'minItems':
      return { path: at(), message: params.limit === 1 ? 'must not be an empty list' : `must list at least ${String(params.limit)} items` }
    case 'uniqueItems': {
      const list = Array.isArray(data) ? data : []
      const first = Math.min(Number(params.i), Number(params.j))
      const second = Math.max(Number(params.i), Number(params.j))
      return { path: at(), message: `lists ${excerpt(list[first])} twice ([${first}] and [${second}]); list each value once` }
    }
    case 'minLength':
      return { path: at(), message: 'must not be empty' }
    case 'minimum':
      return { path: at(), message: `must be at least ${String(params.limit)} (found ${excerpt(data)})` }
    case 'maximum':
      return { path: at(), message: `must be at most ${String(params.limit)} (found ${excerpt(data)})` }
    case 'exclusiveMinimum':
      return { path: at(), message: `must be greater than ${String(params.limit)} (found ${excerpt(data)})` }
    case 'exclusiveMaximum':
      return { path: at(), message: `must be less than ${String(params.limit)} (found ${excerpt(data)})` }
    default:
      // A keyword this translator does not know yet: ajv's own wording is still better than nothing.
      return { path: at(), message: error.message ?? `fails the "${error.keyword}" rule of the schema` }
  }
}

/** Suggesting a key the object already has would only lead to a duplicate. */
function unusedKeys (allowed: readonly string[], object: unknown): string[] {
  return isPlainObject(object) ? allowed.filter(key => !Object.hasOwn(object, key)) : [...allowed]
}

const TYPE_NAMES: Record<string, string> = {
  string: 'a string',
  integer: 'an integer',
  number: 'a number',
  boolean: 'a boolean (true or false)',
  object: 'an object',
  array: 'a list',
  null: 'null'
}

function typePhrase (type: unknown): string {
  const types = Array.isArray(type) ? type.map(String) : String(type).split(',')
  return types.map(t => TYPE_NAMES[t] ?? t).join(' or ')
}

/**
 * `/routes/0/service` → `['routes', 0, 'service']`. A segment is an index when the value it
 * indexes is an array (when `doc` is given), or when it is all digits (without `doc`).
 */
function pointerSegments (pointer: string, doc?: unknown): PathSegment[] {
  if (pointer === '') return []
  const segments: PathSegment[] = []
  let node = doc
  for (const raw of pointer.slice(1).split('/')) {
    const key = raw.replaceAll('~1', '/').replaceAll('~0', '~')
    const isIndex = doc === undefined ? /^\d+$/.test(key) : Array.isArray(node)
    segments.push(isIndex ? Number(key) : key)
    node = isPlainObject(node) || Array.isArray(node) ? (node as Record<string, unknown>)[key] : undefined
  }
  return segments
}

function valueAt (doc: unknown, segments: readonly PathSegment[]): unknown {
  let node = doc
  for (const segment of segments) {
    if (!isPlainObject(node) && !Array.isArray(node)) return undefined
    node = (node as Record<string, unknown>)[String(segment)]
  }
  return node
}

function isPlainObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function escapeRegExp (text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}
