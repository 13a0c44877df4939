/**
 * A claim as a request header value. Strings, numbers and booleans are sent as they are, a
 * list of them joined with ","; anything else (objects, null) is not sent. A value with a
 * character outside printable ASCII is not sent either: header values are bytes, and a
 * service reading UTF-8 where Node wrote Latin-1 would see another name than the token says.
 */
const PRINTABLE = /^[\x20-\x7e]*$/

export function claimValue (value: unknown): string | undefined {
  let text: string
  if (typeof value === 'string') text = value
  else if ((typeof value === 'number' && Number.isFinite(value)) || typeof value === 'boolean') return String(value)
  else if (Array.isArray(value) && value.every(v => typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean')) text = value.join(',')
  else return undefined
  return PRINTABLE.test(text) ? text : undefined
}
