/**
 * Collection parts: `{each orders.items.productId}` runs a part once per value found by
 * walking `items.productId` through the body of `orders`, arrays included at every step.
 *
 * Each value has a slot: the object that holds it (here each element of each order's
 * `items`) and the field it came from. The part's result lands beside that field, under the
 * part's `as` name (by default the part's name): `{ productId: "1", qty: 2, product: {...} }`.
 * When the field holds an array of values (`{each user.friendIds}`), the results form an
 * array aligned with it: `friends[i]` is the result for `friendIds[i]`.
 */

export interface Slot {
  /** The object holding the value; the result is written into it. */
  readonly holder: Record<string, unknown>
  /** The field the value came from. */
  readonly field: string
  /** Position in the field's array, when the field holds an array. */
  readonly index: number | undefined
  readonly value: unknown
}

/** Every slot under `body` for the field path `fields` (never empty), in document order. */
export function collectSlots (body: unknown, fields: readonly string[]): Slot[] {
  let nodes = flatten([body])
  for (const field of fields.slice(0, -1)) {
    const next: unknown[] = []
    for (const node of nodes) {
      if (isObject(node) && Object.hasOwn(node, field)) next.push(node[field])
    }
    nodes = flatten(next)
  }
  const last = fields[fields.length - 1] as string
  const slots: Slot[] = []
  for (const holder of nodes) {
    if (!isObject(holder)) continue
    const value = Object.hasOwn(holder, last) ? holder[last] : undefined
    if (Array.isArray(value)) value.forEach((item, index) => slots.push({ holder, field: last, index, value: item }))
    else slots.push({ holder, field: last, index: undefined, value })
  }
  return slots
}

/**
 * Writes results beside their slots: `holder[as]` is the result, or an array of results
 * aligned with `holder[field]` when that field is an array.
 */
export function placeResults (slots: readonly Slot[], results: readonly unknown[], as: string): void {
  slots.forEach((slot, i) => {
    const result = results[i] ?? null
    if (slot.index === undefined) {
      slot.holder[as] = result
      return
    }
    const source = slot.holder[slot.field]
    let list = slot.holder[as]
    // The first slot of an array field creates the aligned array (replacing whatever was there).
    if (slot.index === 0 || !Array.isArray(list)) {
      list = Array.isArray(source) ? source.map(() => null) : []
      slot.holder[as] = list
    }
    (list as unknown[])[slot.index] = result
  })
}

/** Arrays (nested ones too) replaced by their elements. Iterative: JSON depth cannot blow the stack. */
function flatten (values: readonly unknown[]): unknown[] {
  const out: unknown[] = []
  const stack: unknown[] = [...values].reverse()
  while (stack.length > 0) {
    const value = stack.pop()
    if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--) stack.push(value[i])
    } else {
      out.push(value)
    }
  }
  return out
}

function isObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
