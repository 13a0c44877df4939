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

export function deliveriesFor (route: CompiledWriteRoute, committed: Committed, only?: (dependent: string) => boolean): DeliveryRequest[] {
  const entity = entityKey(route.config.owner.service, committed.entityPath)
  const committedAt = Date.now()
  const out: DeliveryRequest[] = []
  for (const target of route.propagate) {
    if (only !== undefined && !only(target.service)) continue
    const path = expandTemplate(target.path, { params: committed.params, id: committed.createdId }, { encode: true })
    const base = {
      dependent: target.service,
      entity,
      version: committed.version,
      writeId: committed.writeId,
      path,
      committedAt,
      // Only when configured: entries stay as small as before for the default header.
      ...(target.versionHeader === undefined ? {} : { versionHeader: target.versionHeader })
    }
    out.push(committed.representation === null
      ? { ...base, method: 'DELETE' }
      : { ...base, method: 'PUT', body: JSON.stringify(project(committed.representation, target.pick)) })
  }
  return out
}
