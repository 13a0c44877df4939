/**
 * Turns one committed owner version into the deliveries of a write route: one per
 * service keeping a copy, with the projected representation (PUT) or a tombstone
 * (DELETE) at the owner's version. Shared by the request path and recovery, so both
 * propagate exactly the same thing.
 */
import type { DeliveryRequest } from '../outbox/types.js'
import { expandTemplate } from '../versioning/template.js'
import { project } from '../versioning/projection.js'
import { entityKey } from '../versioning/entity.js'
import type { CompiledWriteRoute } from './compiled-route.js'

export interface Committed {
  readonly entityPath: string
  readonly version: number
  /** The representation at `version`, or null for a tombstone. */
  readonly representation: Readonly<Record<string, unknown>> | null
  readonly params: Readonly<Record<string, string>>
  readonly createdId: string | undefined
  readonly writeId: string
}

/** Where a write came from: its request id and trace context travel with every delivery. */
export interface WriteOrigin {
  readonly requestId?: string | undefined
  readonly trace?: { readonly traceparent: string, readonly tracestate: string | undefined } | undefined
}

export function deliveriesFor (route: CompiledWriteRoute, committed: Committed, only?: (dependent: string) => boolean, origin: WriteOrigin = {}): DeliveryRequest[] {
  const entity = entityKey(route.config.owner.service, committed.entityPath)
  const committedAt = Date.now()
  const out: DeliveryRequest[] = []
  // Built field by field, not with conditional spreads: this runs for every write, and the
  // spreads showed in profiles. JSON of the whole representation is made once for all the
  // dependents that take it whole.
  let whole: string | undefined
  for (const target of route.propagate) {
    if (only !== undefined && !only(target.service)) continue
    const delivery: { -readonly [K in keyof DeliveryRequest]: DeliveryRequest[K] } = {
      dependent: target.service,
      entity,
      version: committed.version,
      writeId: committed.writeId,
      path: expandTemplate(target.path, { params: committed.params, id: committed.createdId }, { encode: true }),
      committedAt,
      method: committed.representation === null ? 'DELETE' : 'PUT'
    }
    // Only when configured: entries stay as small as before for the default header.
    if (target.versionHeader !== undefined) delivery.versionHeader = target.versionHeader
    if (origin.requestId !== undefined) delivery.requestId = origin.requestId
    if (origin.trace !== undefined) {
      delivery.traceparent = origin.trace.traceparent
      if (origin.trace.tracestate !== undefined) delivery.tracestate = origin.trace.tracestate
    }
    if (committed.representation !== null) {
      delivery.body = target.pick === undefined
        ? (whole ??= JSON.stringify(committed.representation))
        : JSON.stringify(project(committed.representation, target.pick))
    }
    out.push(delivery)
  }
  return out
}
