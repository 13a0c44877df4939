/**
 * Whether a logger at `level` writes info lines. Lines built for every request or delivery
 * (the request line, delivery outcomes) check this first, so at warn (production) they are
 * not even built.
 */
const INFO_OR_BELOW = new Set(['info', 'debug', 'trace'])

export function writesInfo (level: string): boolean {
  return INFO_OR_BELOW.has(level)
}
