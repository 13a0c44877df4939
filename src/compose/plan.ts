/**
 * A compose route compiled for execution, once at boot: templates parsed, each part's
 * dependencies and deadline resolved, parts in a topological order (a part comes after every
 * part it reads). The config check has already refused cycles and unknown references.
 */
import type { ComposePartConfig, ComposeRouteConfig } from '../config/compose-route.js'
import { planOrder, formatCycle } from './graph.js'
import { compileTemplate, eachPlaceholder, partsReferenced, placeholders, type Template } from './template.js'

export interface PlannedPart {
  readonly name: string
  readonly config: ComposePartConfig
  readonly template: Template
  /** Parts whose bodies this part reads. */
  readonly deps: readonly string[]
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

export interface ComposePlan {
  readonly route: ComposeRouteConfig
  /** Topological order. */
  readonly parts: readonly PlannedPart[]
  /** Request headers the answer depends on (forwarded or read by placeholders): its Vary. */
  readonly vary: readonly string[]
}

/** `serviceTimeoutMs` gives the default deadline of a part from its service. */
export function compilePlan (route: ComposeRouteConfig, serviceTimeoutMs: (service: string) => number): ComposePlan {
  const planned = route.parts.map((part): PlannedPart => {
    const template = compileTemplate(part.path)
    const each = eachPlaceholder(template)
    const deps = partsReferenced(template)
    return {
      name: part.name,
      config: part,
      template,
      deps,
      each: each === undefined ? undefined : { part: each.part, fields: each.fields },
      timeoutMs: part.timeoutMs ?? serviceTimeoutMs(part.service),
      merged: route.shape.merge.includes(part.name),
      requestOnly: deps.length === 0
    }
  })
  const order = planOrder(planned)
  if (!order.ok) throw new Error(`internal: unchecked cycle ${formatCycle(order.cycle)}`)
  const byName = new Map(planned.map(part => [part.name, part]))
  const headerPlaceholders = planned.flatMap(part => placeholders(part.template).flatMap(p => p.source === 'headers' ? [p.name] : []))
  return {
    route,
    parts: order.order.map(name => byName.get(name) as PlannedPart),
    vary: [...new Set([...route.forwardHeaders, ...headerPlaceholders])]
  }
}
