/**
 * If-Match on write routes, checked before the write is recorded or the owner is called
 * (docs/hygiene.md). The owner decides whether the tag matches; the gateway only refuses what
 * can never be a correct precondition:
 * - a value that is neither `*` nor a list of entity tags (`garbage`, `7` without quotes, an
 *   unterminated `"7`, `*` inside a list): 400, since the owner might read it any way;
 * - only weak tags (`W/"7"`): If-Match compares strongly (RFC 9110 §13.1.1), so it cannot
 *   match; 412, as a correct owner would answer, without trusting every owner to.
 * A list of strong tags (`"6", "7"`) is a valid precondition and goes to the owner.
 */
import { errors, type JunctionError } from '../errors.js'

/** The tags of an If-Match list, or undefined when it is not one (RFC 9110 §8.8.3, §5.6.1). */
export function parseEntityTags (value: string): Array<{ weak: boolean, opaque: string }> | undefined {
  const tags: Array<{ weak: boolean, opaque: string }> = []
  let i = 0
  const skip = (): void => { while (i < value.length && (value[i] === ' ' || value[i] === '\t' || value[i] === ',')) i++ }
  skip()
  while (i < value.length) {
    let weak = false
    if (value.startsWith('W/', i)) {
      weak = true
      i += 2
    }
    if (value[i] !== '"') return undefined
    const end = value.indexOf('"', i + 1)
    if (end === -1) return undefined
    const opaque = value.slice(i + 1, end)
    // etagc: %x21 / %x23-7E / obs-text; no spaces, quotes or controls.
    if (/[^\x21\x23-\x7e\x80-\xff]/.test(opaque)) return undefined
    tags.push({ weak, opaque })
    i = end + 1
    // Between two tags: optional whitespace, then a comma.
    while (i < value.length && (value[i] === ' ' || value[i] === '\t')) i++
    if (i < value.length && value[i] !== ',') return undefined
    skip()
  }
  return tags.length === 0 ? undefined : tags
}

export function ifMatchProblem (header: string | string[] | undefined): JunctionError | undefined {
  if (header === undefined) return undefined
  const value = Array.isArray(header) ? header.join(', ') : header
  if (value.trim() === '*') return undefined
  const tags = parseEntityTags(value)
  if (tags === undefined) return errors.invalidIfMatch(value)
  if (tags.every(tag => tag.weak)) return errors.weakIfMatch()
  return undefined
}
