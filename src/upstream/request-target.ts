/**
 * Which request paths Junction accepts (docs/hygiene.md). The router matches the decoded
 * path, but the path goes to services byte for byte (only the route prefix is replaced, see
 * ./rewrite.ts), and services decode, split and normalise it their own way: some decode
 * twice, some treat `\` as `/`, Tomcat drops `;params` before resolving `..`, old IIS
 * accepted overlong UTF-8. So Junction does not normalise (a normalised path is still read
 * differently by the next parser); it refuses every path that could mean something else
 * one decoding later:
 *
 * - a dot segment (`.` or `..`, also `..;x`, and full-width dots that NFKC folds to `.`),
 *   found after splitting on `/` and `\`, at any depth of percent-decoding
 *   (`%2e%2e%2f`, `%252e%252e%252f`, `..%5c`);
 * - an empty segment (`//`) in the path as sent;
 * - percent-encoding that is not valid UTF-8 (overlong `%c0%ae`, Latin-1 `%e9`, a lone `%`)
 *   as sent, or decoding to invalid UTF-8 one level deeper, or a control character;
 * - a fragment (`#`: never part of a request) and paths not starting with `/`.
 *
 * Everything else, `%2F` inside a segment included (identifiers such as `group%2Fproject`),
 * is forwarded as sent. Plain functions, no Fastify.
 */

/** Deeper than this, a path is not an API path but an attempt to outlast the checks. */
const MAX_DECODINGS = 4

/**
 * Only a path with one of these can hide a dot segment, an empty segment or an encoding;
 * every other path (the common case) is accepted without further work.
 */
const SUSPICIOUS = /[%\\]|\/\/|\/\.\.?(?:[/;]|$)/
/** A value without these is one plain segment whatever a service does with it. */
// eslint-disable-next-line no-control-regex -- control characters are exactly what is looked for
const VALUE_SUSPICIOUS = /[%./\\\u0000-\u001f\u007f]|[^\u0000-\u007f]/
const PERCENT_RUN = /(?:%[0-9A-Fa-f]{2})+/g
const BAD_PERCENT = /%(?![0-9A-Fa-f]{2})/
const ENCODED = /%[0-9A-Fa-f]{2}/
// eslint-disable-next-line no-control-regex -- control characters are exactly what is looked for
const CONTROL = /[\u0000-\u001f\u007f]/
// eslint-disable-next-line no-control-regex -- the range starts at NUL: everything outside ASCII
const NON_ASCII = /[^\u0000-\u007f]/
/** `.` or `..` as a whole segment between `/` or `\\`; `..;jsessionid=x` is `..` to servlet containers. */
const DOT_SEGMENT = /(?:^|[/\\])(\.\.?(?:;[^/\\]*)?)(?=[/\\]|$)/

/**
 * An absolute-form target (`GET http://host/path HTTP/1.1`, RFC 9112 §3.2.2) as the
 * origin-form the router and the rewrite work on; other forms are returned as they are.
 */
export function originForm (url: string): string {
  if (url.charCodeAt(0) === 47 /* / */) return url
  const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*/.exec(url)
  if (scheme === null) return url
  const rest = url.slice(scheme[0].length)
  return rest.charCodeAt(0) === 47 ? rest : '/' + rest
}

/** Why the path of `url` (a request target in origin-form) is refused, or undefined when it is accepted. */
export function pathProblem (url: string): string | undefined {
  if (url.charCodeAt(0) !== 47 /* / */) return 'is not an absolute path (it must start with "/")'
  if (url.includes('#')) return 'contains "#" (a fragment is never sent to a server)'
  const q = url.indexOf('?')
  const path = q === -1 ? url : url.slice(0, q)
  if (!SUSPICIOUS.test(path)) return undefined
  if (path.includes('//')) return 'has an empty segment ("//")'
  if (BAD_PERCENT.test(path)) return 'has a "%" that is not followed by two hex digits'
  return layersProblem(path)
}

/**
 * Why a value (a route parameter, query parameter, header or part field) cannot be placed
 * in an upstream path, or undefined when it can. It is percent-encoded there, so it stays
 * within its segment, but a service that decodes before resolving dot segments would still
 * see `..` in `..`, `a/../..` or `%2e%2e`.
 */
export function pathValueProblem (value: string): string | undefined {
  if (value === '') return 'is empty'
  if (!VALUE_SUSPICIOUS.test(value)) return undefined
  return layersProblem(value)
}

/** Checks `text` and each of its percent-decodings in turn. */
function layersProblem (text: string): string | undefined {
  let layer = text
  for (let depth = 0; ; depth++) {
    const problem = segmentsProblem(layer)
    if (problem !== undefined) return depth === 0 ? problem : `${problem} once percent-decoded${depth > 1 ? ` ${depth} times` : ''}`
    if (!ENCODED.test(layer)) return undefined
    if (depth === MAX_DECODINGS) return `is still percent-encoded after ${MAX_DECODINGS} decodings`
    const decoded = decodeRuns(layer)
    if (decoded === undefined) {
      return depth === 0
        ? 'is not valid percent-encoded UTF-8 (e.g. overlong "%c0%ae" or Latin-1 "%e9")'
        : `decodes to bytes that are not valid UTF-8 after ${depth + 1} percent-decodings`
    }
    layer = decoded
  }
}

/** Every run of `%XX` decoded as UTF-8; a lone `%` stays (it is data after the first decoding). */
function decodeRuns (text: string): string | undefined {
  try {
    return text.replace(PERCENT_RUN, run => decodeURIComponent(run))
  } catch {
    return undefined
  }
}

function segmentsProblem (text: string): string | undefined {
  if (CONTROL.test(text)) return 'contains a control character'
  // Full-width dots and slashes (U+FF0E, U+FF0F, U+2024...) become "." and "/" under NFKC, which some services apply.
  const dot = DOT_SEGMENT.exec(text) ?? (NON_ASCII.test(text) ? DOT_SEGMENT.exec(text.normalize('NFKC')) : null)
  return dot === null ? undefined : `contains a dot segment (${JSON.stringify(dot[1])})`
}
