/**
 * What a dependent receives: the owner's representation, or the declared projection of
 * it (`pick: [id, name, email]`). A picked field the representation lacks is left out
 * rather than sent as null: absent and null mean different things to a JSON merge.
 */

export function project (representation: Readonly<Record<string, unknown>>, pick: readonly string[] | undefined): Record<string, unknown> {
  if (pick === undefined) return { ...representation }
  const out: Record<string, unknown> = {}
  for (const field of pick) {
    if (Object.hasOwn(representation, field)) out[field] = representation[field]
  }
  return out
}
