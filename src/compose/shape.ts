/**
 * From part outcomes to the one JSON document the client gets.
 *
 * 1. Collections: each collection part's results are set beside the values they were
 *    fetched for, inside the part it iterates over (./collection.ts).
 * 2. Assembly: the parts listed in `shape.merge` are merged into the root (their top-level
 *    keys, shallow, in the order of that list: a later merged part wins a collision), then
 *    every other part is set under its name (a part's name wins over a merged key of the
 *    same name). A failed optional part is null when nested, contributes nothing when merged.
 * 3. pick (keep only these paths), then omit (drop these), then rename (move a value to a
 *    new path from the root, overwriting what is there). pick and omit walk arrays: `orders.id`
 *    keeps the id of every order. rename addresses one value (digits index arrays).
 *
 * Nothing here mutates its input except step 1, which writes into bodies this request parsed
 * (and owns). Shaping builds new objects, so a result shared by several collection slots is
 * never changed twice.
 *
 * A route without merge and shaping rules (ComposePlan.passThrough) is written out directly:
 * `{"<part>": <body>, ...}`, each body that no collection wrote into copied as the bytes
 * its service sent. The document means the same as serialising the assembled object; only
 * insignificant bytes may differ (whitespace, number spelling such as `1.0`, escapes).
 */
import type { ComposeRouteConfig } from '../config/compose-route.js'
import { collectSlots, placeResults } from './collection.js'
import type { PartOutcome } from './executor.js'
import type { ComposePlan } from './plan.js'

type Json = Record<string, unknown>

const OPEN = Buffer.from('{')
const CLOSE = Buffer.from('}')
const NULL = Buffer.from('null')

/**
 * The composed document as UTF-8 JSON bytes. A pass-through document is put together from
 * bytes (the parts' bodies as received, the keys encoded once per route): one copy, where
 * building a string and encoding it was the largest cost of composing in the CPU profile
 * after parsing the parts.
 */
export function composedBody (plan: ComposePlan, outcomes: ReadonlyMap<string, PartOutcome>): Buffer {
  placeCollections(plan, outcomes)
  if (!plan.passThrough) return Buffer.from(JSON.stringify(shape(assemble(plan, outcomes), plan.route.shape)))
  const pieces: Buffer[] = [OPEN]
  for (const { part, key, nextKey, verbatim } of plan.rootParts) {
    const outcome = outcomes.get(part.name)
    if (outcome === undefined) continue
    pieces.push(pieces.length === 1 ? key : nextKey)
    pieces.push(outcome.status !== 'ok' ? NULL : verbatim ? outcome.body : Buffer.from(JSON.stringify(outcome.value)))
  }
  pieces.push(CLOSE)
  return Buffer.concat(pieces)
}

function placeCollections (plan: ComposePlan, outcomes: ReadonlyMap<string, PartOutcome>): void {
  for (const part of plan.parts) {
    if (part.each === undefined) continue
    const outcome = outcomes.get(part.name)
    if (outcome?.status === 'collection') {
      placeResults(outcome.slots, outcome.values, part.config.as)
      continue
    }
    // A failed optional collection over a source that succeeded: every slot gets null.
    const source = outcomes.get(part.each.part)
    if (source?.status === 'ok') {
      const slots = collectSlots(source.value, part.each.fields)
      placeResults(slots, slots.map(() => null), part.config.as)
    }
  }
}

function assemble (plan: ComposePlan, outcomes: ReadonlyMap<string, PartOutcome>): Json {
  const root: Json = {}
  for (const name of plan.route.shape.merge) {
    const outcome = outcomes.get(name)
    if (outcome?.status !== 'ok' || !isObject(outcome.value)) continue
    for (const [key, value] of Object.entries(outcome.value)) setOwn(root, key, value)
  }
  for (const { part } of plan.rootParts) {
    const outcome = outcomes.get(part.name)
    if (outcome === undefined) continue
    setOwn(root, part.name, outcome.status === 'ok' ? outcome.value : null)
  }
  return root
}

export function shape (doc: unknown, rules: ComposeRouteConfig['shape']): unknown {
  let out = doc
  if (rules.pick !== undefined) out = pickTree(out, tree(rules.pick))
  if (rules.omit.length > 0) out = omitTree(out, tree(rules.omit))
  for (const [from, to] of rules.rename) out = rename(out, from.split('.'), to.split('.'))
  return out
}

/** Paths as a tree; `true` marks a whole subtree (a shorter path covers a longer one). */
type Tree = Map<string, Tree | true>

function tree (paths: readonly string[]): Tree {
  const root: Tree = new Map()
  for (const path of paths) {
    const fields = path.split('.')
    let node = root
    for (let i = 0; i < fields.length; i++) {
      const field = fields[i] as string
      const existing = node.get(field)
      if (existing === true) break
      if (i === fields.length - 1) {
        node.set(field, true)
        break
      }
      const next = existing ?? new Map()
      node.set(field, next)
      node = next
    }
  }
  return root
}

function pickTree (value: unknown, picks: Tree): unknown {
  if (Array.isArray(value)) return value.map(item => isObject(item) || Array.isArray(item) ? pickTree(item, picks) : item)
  if (!isObject(value)) return value === null ? null : undefined
  const out: Json = {}
  for (const [key, sub] of picks) {
    if (!Object.hasOwn(value, key)) continue
    const picked = sub === true ? value[key] : pickTree(value[key], sub)
    if (picked !== undefined) setOwn(out, key, picked)
  }
  return out
}

function omitTree (value: unknown, omits: Tree): unknown {
  if (Array.isArray(value)) return value.map(item => omitTree(item, omits))
  if (!isObject(value)) return value
  const out: Json = {}
  for (const [key, item] of Object.entries(value)) {
    const sub = omits.get(key)
    if (sub === true) continue
    setOwn(out, key, sub === undefined ? item : omitTree(item, sub))
  }
  return out
}

function rename (doc: unknown, from: readonly string[], to: readonly string[]): unknown {
  const found = read(doc, from)
  if (!found.ok) return doc
  return write(remove(doc, from), to, found.value)
}

function read (value: unknown, path: readonly string[]): { ok: true, value: unknown } | { ok: false } {
  let node = value
  for (const field of path) {
    if (Array.isArray(node) && /^\d+$/.test(field) && Number(field) < node.length) node = node[Number(field)]
    else if (isObject(node) && Object.hasOwn(node, field)) node = node[field]
    else return { ok: false }
  }
  return { ok: true, value: node }
}

/** A copy of `value` without the value at `path` (copies only the objects on the path). */
function remove (value: unknown, path: readonly string[]): unknown {
  const [field, ...rest] = path
  if (field === undefined) return undefined
  if (Array.isArray(value)) {
    if (rest.length === 0) return value
    const copy = [...value]
    copy[Number(field)] = remove(copy[Number(field)], rest)
    return copy
  }
  if (!isObject(value)) return value
  const out: Json = {}
  for (const [key, item] of Object.entries(value)) {
    if (key !== field) setOwn(out, key, item)
    else if (rest.length > 0) setOwn(out, key, remove(item, rest))
  }
  return out
}

/** A copy of `value` with `item` at `path`, creating objects where the path has none. */
function write (value: unknown, path: readonly string[], item: unknown): unknown {
  const [field, ...rest] = path
  if (field === undefined) return item
  if (Array.isArray(value) && /^\d+$/.test(field)) {
    const copy = [...value]
    copy[Number(field)] = write(copy[Number(field)], rest, item)
    return copy
  }
  const out: Json = isObject(value) ? { ...value } : {}
  setOwn(out, field, write(out[field], rest, item))
  return out
}

/**
 * Defines rather than assigns `__proto__`, so that key from a body stays a plain key. Every
 * other key is assigned: on the plain objects built here that is the same (no setters but
 * `__proto__`'s on Object.prototype) and much cheaper than defineProperty.
 */
function setOwn (target: Json, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true })
  else target[key] = value
}

function isObject (value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
