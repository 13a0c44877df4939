/**
 * A write route ready to run: its templates parsed once at boot. Plain data over the
 * normalised config, shared by the request path (./write-flow.ts) and recovery
 * (./recovery.ts).
 */
import type { WriteRouteConfig } from '../config/types.js'
import { compileTemplate, expandTemplate, type Template } from '../versioning/template.js'

export interface CompiledWriteRoute {
  readonly config: WriteRouteConfig
  readonly ownerPath: Template
  readonly propagate: ReadonlyArray<{ readonly service: string, readonly path: Template, readonly pick: readonly string[] | undefined, readonly versionHeader: string | undefined }>
  readonly invalidate: readonly Template[]
}

export function compileWriteRoute (config: WriteRouteConfig): CompiledWriteRoute {
  return {
    config,
    ownerPath: compileTemplate(config.owner.path),
    propagate: config.propagate.map(target => ({ service: target.service, path: compileTemplate(target.path), pick: target.pick, versionHeader: target.versionHeader })),
    invalidate: config.invalidate.map(compileTemplate)
  }
}

/** `METHOD path`: how intents name their route, stable across config edits that reorder routes. */
export function routeKey (config: WriteRouteConfig): string {
  return `${config.method} ${config.path}`
}

/**
 * The entity's path on the owner. For POST the owner path names the collection and the
 * entity is `<collection>/<created id>`, the same path a PUT route on it expands to.
 */
export function entityPathOf (route: CompiledWriteRoute, params: Readonly<Record<string, string>>, createdId?: string): string {
  const ownerPath = ownerPathOf(route, params)
  if (route.config.method !== 'POST') return ownerPath
  if (createdId === undefined) throw new Error('internal: a POST entity path needs the created id')
  return `${ownerPath.replace(/\/+$/, '')}/${encodeURIComponent(createdId)}`
}

/** The path the owner is called on: the entity, or for POST the collection. */
export function ownerPathOf (route: CompiledWriteRoute, params: Readonly<Record<string, string>>): string {
  return expandTemplate(route.ownerPath, { params }, { encode: true })
}
