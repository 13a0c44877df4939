/**
 * The gateway path of a method route (`get:` compose routes, `put:`/`post:`/... write
 * routes): a Fastify path whose only dynamic parts are whole `:name` segments. One check
 * for every route kind that has such a path, so their messages agree.
 */
import { type ConfigIssue, type PathSegment, formatPath } from './config-error.js'
import { pathProblem } from '../upstream/request-target.js'

/**
 * A path in the config (a prefix, a rewrite, a route path, a template toward a service) must
 * pass the same check as request paths (docs/hygiene.md): no dot segments, no "//", no
 * layered encoding. Placeholders (`{params.id}`, `:id`) stand for one plain segment.
 * Returns whether the path passed; pushes the issue when it did not.
 */
export function checkPlainPath (path: string, at: PathSegment[], issues: ConfigIssue[]): boolean {
  const problem = pathProblem(path.replace(/\{[^{}]*\}/g, 'x'))
  if (problem === undefined) return true
  issues.push({ path: formatPath(at), message: `must be a plain path: ${JSON.stringify(path)} ${problem} (see docs/hygiene.md)` })
  return false
}

const PARAM_SEGMENT = /^:[A-Za-z_][A-Za-z0-9_]*$/

/**
 * Checks `path` (found at `at`) and returns its parameter names in order, or undefined
 * after pushing the issue that makes it unusable. `example` shows a good path in messages.
 */
export function checkRoutePath (path: string, at: PathSegment[], reserved: readonly string[], issues: ConfigIssue[], example: string): string[] | undefined {
  const where = formatPath(at)
  if (!path.startsWith('/')) {
    issues.push({ path: where, message: `must start with "/" (found ${JSON.stringify(path)}); write ${JSON.stringify('/' + path)}` })
    return undefined
  }
  if (/[?#*{}]/.test(path)) {
    issues.push({ path: where, message: `must be a path with ":name" parameters only, without "?", "#", "*" or braces (found ${JSON.stringify(path)}), e.g. ${JSON.stringify(example)}` })
    return undefined
  }
  if (!checkPlainPath(path, at, issues)) return undefined
  const hit = reserved.find(r => path === r || path.startsWith(r + '/'))
  if (hit !== undefined) {
    issues.push({ path: where, message: `${JSON.stringify(hit)} is reserved for the gateway's own endpoints (${reserved.join(', ')}); choose another path, e.g. ${JSON.stringify('/api' + path)}` })
    return undefined
  }
  const names: string[] = []
  for (const segment of path.split('/')) {
    if (!segment.includes(':')) continue
    if (!PARAM_SEGMENT.test(segment)) {
      issues.push({ path: where, message: `a path parameter is a whole segment ":name" (letters, digits and "_"); found ${JSON.stringify(segment)} in ${JSON.stringify(path)}` })
      return undefined
    }
    const name = segment.slice(1)
    if (names.includes(name)) {
      issues.push({ path: where, message: `names the parameter ":${name}" twice; give each parameter its own name` })
      return undefined
    }
    names.push(name)
  }
  return names
}
