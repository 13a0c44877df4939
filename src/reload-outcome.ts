/**
 * What a reload (SIGHUP, POST /admin/reload) ended with: the new config in use, or the
 * issues that kept the running one (config errors, restart-only keys that changed, or a
 * new generation that failed to start), in `junction check`'s words.
 */
import type { ConfigIssue } from './config/config-error.js'
import type { GatewayConfig } from './config/types.js'

export type ReloadOutcome =
  | { readonly ok: true, readonly file: string, readonly config: GatewayConfig }
  | { readonly ok: false, readonly file: string, readonly issues: readonly ConfigIssue[] }
