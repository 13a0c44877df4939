/**
 * The gateway path of a method route (`get:` compose routes, `put:`/`post:`/... write
 * routes): a Fastify path whose only dynamic parts are whole `:name` segments. One check
 * for every route kind that has such a path, so their messages agree.
 */
import { type ConfigIssue, type PathSegment, formatPath } from './config-error.js'

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
