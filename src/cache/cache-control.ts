/**
 * Cache-Control, parsed directive by directive (RFC 9111 §5.2; grammar in RFC 9110 §5.6):
 *
 *   Cache-Control   = #cache-directive
 *   cache-directive = token [ "=" ( token / quoted-string ) ]
 *
 * Names are case-insensitive, arguments may be quoted (with backslash escapes), several
 * header lines are one comma-separated list, and unknown directives are ignored. The
 * header is never compared as a whole string: `private="no-store"` names a field and
 * does not mean no-store.
 */

export type HeaderValue = string | readonly string[] | undefined

export class CacheControl {
  /** Every occurrence, in order: name (lowercased) → arguments (undefined when bare). */
  private readonly seen = new Map<string, Array<string | undefined>>()

  add (name: string, arg: string | undefined): void {
    const list = this.seen.get(name)
    if (list === undefined) this.seen.set(name, [arg])
    else list.push(arg)
  }

  has (name: string): boolean {
    return this.seen.has(name)
  }

  /** The first occurrence's argument (RFC 9111 §4.2.1: "the first occurrence should be used"). */
  arg (name: string): string | undefined {
    return this.seen.get(name)?.[0]
  }

  /** True when a directive appears more than once with different arguments. */
  conflicting (name: string): boolean {
    const list = this.seen.get(name)
    return list !== undefined && list.some(v => v !== list[0])
  }

  /**
   * A delta-seconds argument: `undefined` when the directive is absent, `null` when it is
   * present but unusable (no argument, not digits, or duplicated with different values);
   * RFC 9111 §4.2.1 lets a cache consider such a response stale, and we do.
   */
  seconds (name: string): number | null | undefined {
    if (!this.has(name)) return undefined
    if (this.conflicting(name)) return null
    return deltaSeconds(this.arg(name))
  }

  /** Field names of a qualified directive (`no-cache="set-cookie, x-a"`), lowercased. */
  fields (name: string): string[] {
    const out: string[] = []
    for (const arg of this.seen.get(name) ?? []) {
      if (arg === undefined) continue
      for (const f of arg.split(',')) {
        const field = f.trim().toLowerCase()
        if (field !== '') out.push(field)
      }
    }
    return out
  }

  /** True when the directive appears at least once without an argument. */
  bare (name: string): boolean {
    return this.seen.get(name)?.some(v => v === undefined) ?? false
  }

  names (): string[] {
    return [...this.seen.keys()]
  }
}

/** RFC 9110 §5.6.2 tchar. */
const TCHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/

/** RFC 9111 §1.2.2: values beyond 2^31 are treated as 2^31 seconds. */
const MAX_DELTA = 2147483648

export function deltaSeconds (arg: string | undefined): number | null {
  if (arg === undefined || !/^\d+$/.test(arg)) return null
  const n = Number(arg)
  return n > MAX_DELTA ? MAX_DELTA : n
}

/** Parses one or more Cache-Control header lines. Never throws: malformed parts are skipped. */
export function parseCacheControl (header: HeaderValue): CacheControl {
  const cc = new CacheControl()
  if (header === undefined) return cc
  const text = typeof header === 'string' ? header : header.join(',')
  const n = text.length
  let i = 0
  while (i < n) {
    // Separators and optional whitespace between list elements.
    while (i < n && (text[i] === ',' || text[i] === ' ' || text[i] === '\t')) i++
    const start = i
    while (i < n && TCHAR.test(text[i]!)) i++
    const name = text.slice(start, i).toLowerCase()
    while (i < n && (text[i] === ' ' || text[i] === '\t')) i++
    let arg: string | undefined
    let ok = name !== ''
    if (i < n && text[i] === '=') {
      i++
      while (i < n && (text[i] === ' ' || text[i] === '\t')) i++
      if (text[i] === '"') {
        i++
        let value = ''
        let closed = false
        while (i < n) {
          const c = text[i]!
          if (c === '\\' && i + 1 < n) {
            value += text[i + 1]
            i += 2
          } else if (c === '"') {
            i++
            closed = true
            break
          } else {
            value += c
            i++
          }
        }
        arg = value
        ok &&= closed
      } else {
        const argStart = i
        while (i < n && TCHAR.test(text[i]!)) i++
        arg = text.slice(argStart, i)
      }
      while (i < n && (text[i] === ' ' || text[i] === '\t')) i++
    }
    if (i < n && text[i] !== ',') {
      // Garbage after a directive (`max-age=1 2`): drop this element, resume at the next
      // comma that is outside a quoted string.
      ok = false
      let quoted = false
      while (i < n && (quoted || text[i] !== ',')) {
        if (text[i] === '\\' && quoted) i++
        else if (text[i] === '"') quoted = !quoted
        i++
      }
    }
    if (ok) cc.add(name, arg)
    if (i === start && i < n && text[i] !== ',') i++ // no progress: never loop forever
  }
  return cc
}
