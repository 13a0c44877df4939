/**
 * Environment variables in the config: `${VAR}` / `${VAR:-default}` substitution, then the
 * JUNCTION_* overrides.
 *
 * Substitution runs over the strings of the parsed document, not over the file's text: a
 * value containing quotes, colons or newlines cannot break the YAML around it, and every
 * reference knows the config path it sits at, which is what a "missing variable" message
 * must name. Keys are never substituted (a key that varies by environment is a design smell).
 *
 * Syntax, as in shells and docker compose:
 * - `${NAME}`            the variable's value; an error when it is not set (set but empty is fine)
 * - `${NAME:-fallback}`  the value, or `fallback` when the variable is unset or empty
 * - `$${...}`            a literal `${...}`
 *
 * `env` is always a parameter (default process.env) so tests never mutate process.env.
 */
import { type ConfigIssue, type PathSegment, formatPath } from './config-error.js'

export interface EnvResult {
  /** A new document; the input is never modified. */
  readonly document: unknown
  readonly issues: readonly ConfigIssue[]
}

/** `${`, optionally escaped by a leading `$`, up to the next `}` (or the end when unclosed). */
const REFERENCE = /(\$?)\$\{([^}]*)(\}?)/g
const NAME_WITH_DEFAULT = /^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$/s

/** Replaces `${...}` in every string of the document, collecting every problem rather than stopping at the first. */
export function substituteEnv (document: unknown, env: NodeJS.ProcessEnv = process.env): EnvResult {
  const issues: ConfigIssue[] = []
  const walk = (node: unknown, path: PathSegment[]): unknown => {
    if (typeof node === 'string') return substituteString(node, env, path, issues)
    if (Array.isArray(node)) return node.map((item, i) => walk(item, [...path, i]))
    if (isPlainObject(node)) {
      // fromEntries defines own properties, so even a `__proto__` key stays plain data.
      return Object.fromEntries(Object.entries(node).map(([key, value]) => [key, walk(value, [...path, key])]))
    }
    return node
  }
  return { document: walk(document, []), issues }
}

function substituteString (text: string, env: NodeJS.ProcessEnv, path: PathSegment[], issues: ConfigIssue[]): string {
  if (!text.includes('${')) return text
  return text.replace(REFERENCE, (whole: string, escape: string, body: string, close: string) => {
    if (escape === '$') return whole.slice(1)
    if (close === '') {
      issues.push({ path: formatPath(path), message: `unclosed "\${" in ${JSON.stringify(text)}; write \${NAME}, or $\${ for a literal "\${"` })
      return whole
    }
    const match = NAME_WITH_DEFAULT.exec(body)
    if (match === null) {
      issues.push({ path: formatPath(path), message: `invalid reference "\${${body}}"; write \${NAME} or \${NAME:-default}, NAME being letters, digits and "_"` })
      return whole
    }
    const name = match[1] as string
    const fallback = match[2]
    const value = env[name]
    if (fallback !== undefined) return value === undefined || value === '' ? fallback : value
    if (value !== undefined) return value
    issues.push({ path: formatPath(path), message: `environment variable ${name} is not set; set it, or give a default with \${${name}:-default}` })
    // Left as written: later stages skip paths that already have an env issue, so no follow-up noise.
    return whole
  })
}

/**
 * Applies the environment overrides on a substituted document, returning a new document.
 * Empty variables are ignored, as if unset: `JUNCTION_PORT=` in a compose file means "no override".
 *
 * - JUNCTION_PORT → server.port (a whole number; coerced here so the message can name the variable)
 * - JUNCTION_HOST → server.host
 * - JUNCTION_STORE_URL → store becomes { kind: redis, url }, keeping `prefix`, `timeout` and `cluster` when the file sets them
 * - ADMIN_TOKEN, then JUNCTION_ADMIN_TOKEN (which wins) → admin.token
 */
export function applyEnvOverrides (document: unknown, env: NodeJS.ProcessEnv = process.env): EnvResult {
  // Not an object: nothing to override; the validator reports the document's shape.
  if (!isPlainObject(document)) return { document, issues: [] }
  const issues: ConfigIssue[] = []
  const doc: Record<string, unknown> = { ...document }
  const section = (key: string): Record<string, unknown> => {
    const current = doc[key]
    const copy = isPlainObject(current) ? { ...current } : {}
    doc[key] = copy
    return copy
  }

  const port = nonEmpty(env.JUNCTION_PORT)
  if (port !== undefined) {
    if (/^\d+$/.test(port) && Number(port) <= 65535) section('server').port = Number(port)
    else issues.push({ path: 'server.port', message: `JUNCTION_PORT must be a port number from 0 to 65535 (found ${JSON.stringify(port)})` })
  }
  const host = nonEmpty(env.JUNCTION_HOST)
  if (host !== undefined) section('server').host = host

  const storeUrl = nonEmpty(env.JUNCTION_STORE_URL)
  if (storeUrl !== undefined) {
    // The file's other Redis settings (prefix, timeout, cluster) stay; only the URL is replaced.
    const kept = isPlainObject(doc.store) && doc.store.kind === 'redis' ? doc.store : {}
    doc.store = { ...kept, kind: 'redis', url: storeUrl }
  }

  const token = nonEmpty(env.JUNCTION_ADMIN_TOKEN) ?? nonEmpty(env.ADMIN_TOKEN)
  if (token !== undefined) section('admin').token = token

  return { document: doc, issues }
}

/** Config paths an override replaces: a missing `${VAR}` there does not matter, the override wins. */
export function overriddenPaths (env: NodeJS.ProcessEnv = process.env): string[] {
  const paths: string[] = []
  if (nonEmpty(env.JUNCTION_PORT) !== undefined) paths.push('server.port')
  if (nonEmpty(env.JUNCTION_HOST) !== undefined) paths.push('server.host')
  if (nonEmpty(env.JUNCTION_STORE_URL) !== undefined) paths.push('store')
  if (nonEmpty(env.JUNCTION_ADMIN_TOKEN) !== undefined || nonEmpty(env.ADMIN_TOKEN) !== undefined) paths.push('admin.token')
  return paths
}

/**
 * Substitution then overrides: what the loader calls. A missing variable at a path an
 * override replaces is not reported (e.g. `token: ${ADMIN_TOKEN}` with only
 * JUNCTION_ADMIN_TOKEN set).
 */
export function resolveEnv (document: unknown, env: NodeJS.ProcessEnv = process.env): EnvResult {
  const substituted = substituteEnv(document, env)
  const overridden = applyEnvOverrides(substituted.document, env)
  const replaced = overriddenPaths(env)
  const relevant = substituted.issues.filter(issue => !replaced.some(path => isAtOrUnder(issue.path, path)))
  return { document: overridden.document, issues: [...relevant, ...overridden.issues] }
}

/** `store.url` is at or under `store`; `storeX` is not. */
export function isAtOrUnder (path: string, base: string): boolean {
  return path === base || path.startsWith(base + '.') || path.startsWith(base + '[')
}

function nonEmpty (value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value
}

function isPlainObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
