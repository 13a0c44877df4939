/**
 * What every stage of the config pipeline reports: issues, each pointing at the place in
 * the file (`routes[2].service`, `services.users.urls[0]`) with a message that says what is
 * wrong and how to fix it. The loader collects the issues of every stage and throws them
 * together in one ConfigError, so a user fixes a config in one round instead of one error
 * per run.
 *
 * The small helpers here (path formatting, did-you-mean, describing a found value) are
 * shared by every stage so all messages read the same way.
 */
import { closest, distance } from 'fastest-levenshtein'

export interface ConfigIssue {
  /** Where in the config: `routes[2].service`; `(root)` for the document itself; `file:line:col` for syntax errors. */
  readonly path: string
  /** What is wrong and the fix, as one line. */
  readonly message: string
}

export class ConfigError extends Error {
  readonly issues: readonly ConfigIssue[]
  /** The file the config came from, when it came from one. */
  readonly source: string | undefined

  constructor (issues: readonly ConfigIssue[], source?: string) {
    const count = issues.length === 1 ? '1 problem' : `${issues.length} problems`
    const where = source === undefined ? 'The config' : `The config ${source}`
    super(`${where} has ${count}:\n` + issues.map(formatIssue).join('\n'))
    this.name = 'ConfigError'
    this.issues = Object.freeze(issues.map(issue => Object.freeze({ ...issue })))
    this.source = source
  }
}

export function formatIssue (issue: ConfigIssue): string {
  return `${issue.path}: ${issue.message}`
}

/** Path of the document itself, used when the whole file is wrong (empty, not a map). */
export const ROOT_PATH = '(root)'

export type PathSegment = string | number

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_-]*$/

/**
 * `['routes', 2, 'service']` → `routes[2].service`. Keys that are not plain identifiers are
 * quoted (`services["my api"]`) so the path stays unambiguous.
 */
export function formatPath (segments: readonly PathSegment[]): string {
  let out = ''
  for (const segment of segments) {
    if (typeof segment === 'number') out += `[${segment}]`
    else if (IDENTIFIER.test(segment)) out += out === '' ? segment : `.${segment}`
    else out += `[${JSON.stringify(segment)}]`
  }
  return out === '' ? ROOT_PATH : out
}

/**
 * The candidate the user most likely meant, or undefined when none is close: a
 * case-insensitive match, or a small edit distance: 1 for words of one or two letters, else
 * 2, or a third of the word for long ones (max 3). So `sevice` → `service`, `usr` → `users`,
 * `inof` → `info`, but `foo` suggests nothing for `bar`.
 */
export function didYouMean (input: string, candidates: readonly string[]): string | undefined {
  if (candidates.length === 0) return undefined
  const folded = candidates.find(c => c.toLowerCase() === input.toLowerCase())
  if (folded !== undefined) return folded
  const best = closest(input, candidates)
  const allowed = input.length <= 2 ? 1 : Math.min(3, Math.max(2, Math.ceil(input.length / 3)))
  return distance(input, best) <= allowed ? best : undefined
}

/** `"a", "b", "c"` — how lists of allowed values appear in messages. */
export function quoteList (values: readonly unknown[]): string {
  return values.map(v => JSON.stringify(v)).join(', ')
}

/** Describes a value found in the config for "expected X, found Y" messages. */
export function describeValue (value: unknown): string {
  if (value === null || value === undefined) return 'an empty value'
  if (Array.isArray(value)) return 'a list'
  switch (typeof value) {
    case 'string': return `a string (${excerpt(value)})`
    case 'number': return Number.isInteger(value) ? `an integer (${value})` : `a number (${value})`
    case 'boolean': return `a boolean (${value})`
    case 'object': return 'an object'
    default: return typeof value
  }
}

/** A value quoted for a message, cut short so one bad value cannot flood the output. */
export function excerpt (value: unknown): string {
  const text = JSON.stringify(value) ?? String(value)
  return text.length > 60 ? `${text.slice(0, 57)}...` : text
}
