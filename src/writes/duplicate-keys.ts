/**
 * Finds a key repeated within one JSON object (`{"role":"user","role":"admin"}`). RFC 8259
 * §4 leaves the meaning to the parser: JSON.parse keeps the last, other parsers keep the
 * first or fail, so the body `validate.body` checked and the body the owner acts on could
 * differ. Hand-written because JSON.parse cannot report it (a reviver sees only the survivor)
 * and no well-kept parser in our dependencies does; it runs on text JSON.parse has accepted,
 * so it only has to follow strings and nesting.
 */

/** The first repeated key and the JSON pointer of its object, or undefined. */
export function duplicateKey (text: string): { key: string, pointer: string } | undefined {
  // One frame per open container: the keys seen (objects) and the path to it.
  const stack: Array<{ keys: Set<string> | undefined, path: string, lastKey: string | undefined, index: number }> = []
  let expectKey = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === 0x22 /* " */) {
      let end = i + 1
      let escaped = false
      while (end < text.length) {
        const d = text.charCodeAt(end)
        if (d === 0x5c /* \ */) {
          escaped = true
          end += 2
          continue
        }
        if (d === 0x22) break
        end++
      }
      const frame = stack.at(-1)
      if (expectKey && frame?.keys !== undefined) {
        const raw = text.slice(i + 1, end)
        const key = escaped ? JSON.parse(`"${raw}"`) as string : raw
        if (frame.keys.has(key)) return { key, pointer: frame.path === '' ? '/' : frame.path }
        frame.keys.add(key)
        frame.lastKey = key
        expectKey = false
      }
      i = end
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      const parent = stack.at(-1)
      const name = parent === undefined ? undefined : parent.keys !== undefined ? parent.lastKey : String(parent.index)
      const path = name === undefined ? '' : `${parent?.path ?? ''}/${name.replaceAll('~', '~0').replaceAll('/', '~1')}`
      stack.push({ keys: c === 0x7b ? new Set() : undefined, path, lastKey: undefined, index: 0 })
      expectKey = c === 0x7b
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop()
      expectKey = false
    } else if (c === 0x2c /* , */) {
      const frame = stack.at(-1)
      if (frame?.keys !== undefined) expectKey = true
      else if (frame !== undefined) frame.index++
    }
  }
  return undefined
}
