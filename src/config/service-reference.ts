/**
 * A route's reference to a service by name: one check and one message for every route
 * kind (proxy, compose parts, write owners and copies).
 */
import { type ConfigIssue, type PathSegment, didYouMean, formatPath, quoteList } from './config-error.js'

export function checkServiceReference (service: unknown, serviceNames: readonly string[], at: PathSegment[], issues: ConfigIssue[]): void {
  // With no services at all, the `services` issue already says what to do.
  if (typeof service !== 'string' || service === '' || serviceNames.length === 0 || serviceNames.includes(service)) return
  const suggestion = didYouMean(service, serviceNames)
  issues.push({
    path: formatPath(at),
    message: suggestion === undefined
      ? `unknown service ${JSON.stringify(service)}; define it under "services" or use one of: ${quoteList(serviceNames)}`
      : `unknown service ${JSON.stringify(service)} (did you mean "${suggestion}"?)`
  })
}
