/**
 * A compose route compiled for execution, once at boot: templates parsed, each part's
 * dependencies and deadline resolved, parts in a topological order (a part comes after every
 * part it reads), and whatever a request would otherwise recompute (dependents, the
 * document's layout, the Vary value) worked out. The config check has already
 * refused cycles and unknown references.
 */
import type { ComposePartConfig, ComposeRouteConfig } from '../config/compose-route.js'
import { planOrder, formatCycle } from './graph.js'
import { compileTemplate, eachPlaceholder, partsReferenced, placeholders, type Template } from './template.js'

export interface PlannedPart {
  readonly name: string
  /** Position in ComposePlan.parts. */
  readonly index: number
  readonly config: ComposePartConfig
  readonly template: Template
  /** Parts whose bodies this part reads. */
  readonly deps: readonly string[]
  /** The same, as positions in ComposePlan.parts. */
  readonly depIndexes: readonly number[]
  /** Positions of the parts that read this one. */
  readonly dependents: readonly number[]
  /** The {each ...} source, for a collection part. */
  readonly each: { readonly part: string, readonly fields: readonly string[] } | undefined
  readonly timeoutMs: number
  /** Merged into the root of the document: its body must be a JSON object. */
  readonly merged: boolean
  /**
   * Reads only the client's request (no other part): its 404 means "what the client asked for
   * does not exist" (404), where a 404 reached through another part's data is an inconsistency
   * between services (502).
   */
  readonly requestOnly: boolean
}

/** A part with a key of its own at the root of the document (not merged, not a collection). */
export interface RootPart {
  readonly part: PlannedPart
  /** `"name":`, the key as UTF-8 JSON text. */
  readonly key: Buffer
  /** `,"name":`: the key after another part's value. */
  readonly nextKey: Buffer
  /**
   * Its body goes into the document as the service sent it (see ComposePlan.passThrough),
   * unless a collection writes its results into it.
   */
  readonly verbatim: boolean
}

export interface ComposePlan {
  readonly route: ComposeRouteConfig
  /** Topological order. */
  readonly parts: readonly PlannedPart[]
  /** Positions in `parts` of the route's parts in declaration order (how `Junction-Partial` lists them). */
  readonly declared: readonly number[]
  /** Request headers the answer depends on (forwarded or read by placeholders): its Vary. */
  readonly vary: readonly string[]
  /** The Vary header's value; undefined when the answer varies on no request header. */
  readonly varyHeader: string | undefined
  /** Parts nested under their names at the root, in declaration order (collections live inside other parts). */
  readonly rootParts: readonly RootPart[]
  /**
   * The route neither merges nor picks, omits or renames: the document is
   * `{"<part>": <body>, ...}` and each part body nobody writes into is copied in as the bytes
   * the service sent (parsed to check it and for the parts reading it, but neither
   * serialised nor encoded again).
   */
  readonly passThrough: boolean
}

/** `serviceTimeoutMs` gives the default deadline of a part from its service. */
export function compilePlan (route: ComposeRouteConfig, serviceTimeoutMs: (service: string) => number): ComposePlan {
  const compiled = route.parts.map(part => {
    const template = compileTemplate(part.path)
    return { name: part.name, part, template, deps: partsReferenced(template) }
  })
  const order = planOrder(compiled)
  if (!order.ok) throw new Error(`internal: unchecked cycle ${formatCycle(order.cycle)}`)
  const position = new Map(order.order.map((name, index) => [name, index]))
  const at = (name: string): number => position.get(name) as number
  const parts = order.order.map((name, index): PlannedPart => {
    const { part, template, deps } = compiled.find(c => c.name === name) as typeof compiled[number]
    const each = eachPlaceholder(template)
    return {
      name,
      index,
      config: part,
      template,
      deps,
      depIndexes: deps.map(at),
      dependents: compiled.filter(c => c.deps.includes(name)).map(c => at(c.name)).sort((a, b) => a - b),
      each: each === undefined ? undefined : { part: each.part, fields: each.fields },
      timeoutMs: part.timeoutMs ?? serviceTimeoutMs(part.service),
      merged: route.shape.merge.includes(name),
      requestOnly: deps.length === 0
    }
  })
  const headerPlaceholders = parts.flatMap(part => placeholders(part.template).flatMap(p => p.source === 'headers' ? [p.name] : []))
  const vary = [...new Set([...route.forwardHeaders, ...headerPlaceholders])]
  const collections = new Set(parts.flatMap(part => part.each === undefined ? [] : [part.name]))
  const collectionSources = new Set(parts.flatMap(part => part.each === undefined ? [] : [part.each.part]))
  const { merge, pick, omit, rename } = route.shape
  const passThrough = merge.length === 0 && pick === undefined && omit.length === 0 && rename.length === 0
  return {
    route,
    parts,
    declared: route.parts.map(part => at(part.name)),
    vary,
    varyHeader: vary.length > 0 ? vary.join(', ') : undefined,
    rootParts: route.parts
      .filter(part => !collections.has(part.name) && !merge.includes(part.name))
      .map(part => ({
        part: parts[at(part.name)] as PlannedPart,
        key: Buffer.from(`${JSON.stringify(part.name)}:`),
        nextKey: Buffer.from(`,${JSON.stringify(part.name)}:`),
        verbatim: passThrough && !collectionSources.has(part.name)
      })),
    passThrough
  }
}
