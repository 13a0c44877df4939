/**
 * Why Junction does not pass a required test of the suite, by test id: one line per group,
 * shown in conformance/results.md. A failing test no rule matches is listed as
 * "not explained yet" — a new failure to look at, not a known deviation.
 */

export type Outcome = 'pass' | 'fail' | 'optional_fail' | 'yes' | 'no' | 'setup_fail' | 'harness_fail' | 'dependency_fail' | 'retry' | 'untested'

/** One test's result as conformance/client.mjs prints it. */
export interface TestResult {
  readonly suite: string
  readonly name: string
  readonly kind: 'required' | 'optimal' | 'check'
  readonly outcome: Outcome
  readonly message?: string
  /** Tests that must pass for this one to count. */
  readonly dependsOn?: readonly string[]
}

const REASONS: ReadonlyArray<readonly [RegExp, string]> = [
  [/^age-parse-prefix$/, 'Deliberate: `Age: 0,7200` (a list) — the suite wants its first member used (RFC 9111 §5.1 says SHOULD); Junction treats an Age it cannot read as one number as stale, which only costs a refetch'],
  [/^conditional-etag-vary-headers/, 'Deliberate: a response whose Vary names a request header the route\'s key does not select (`cache.key.headers`) is not stored, so there is nothing to revalidate; list the header under key.headers'],
  [/^(headers-store-Set-Cookie|304-etag-update-response-Set-Cookie)$/, 'Deliberate: a response with Set-Cookie is never stored (it may be personal), so the test\'s setup cannot run'],
  [/^headers-store-Transfer-Encoding$/, 'Not the cache: the origin sends `Transfer-Encoding` with an unknown coding; undici (Junction\'s HTTP client) cannot delimit that body and the call times out (504), where RFC 9112 §6.3 would read until the connection closes'],
  [/^304-etag-update-response-Content-Length$/, 'Not the cache: the origin\'s 304 carries `Content-Length: 10` (allowed by RFC 9110 §8.6) and undici rejects it as a length mismatch (502); the test\'s first answer is mis-framed too (http-tests/cache-tests#105)'],
  [/^invalidate-M-SEARCH/, 'Deliberate: M-SEARCH is not a method Junction routes (404); proxy routes take GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS'],
  [/^surrogate-/, 'Deliberate: Surrogate-Control (Edge Architecture 1.0) is not implemented; Junction is a shared cache that follows Cache-Control (s-maxage targets it)']
]

export function explain (id: string, result: TestResult, all: Readonly<Record<string, TestResult>>): string {
  for (const [pattern, reason] of REASONS) if (pattern.test(id)) return reason
  if (result.outcome === 'dependency_fail') {
    const failed = (result.dependsOn ?? []).filter(dep => all[dep]?.outcome !== 'pass' && all[dep]?.outcome !== 'yes')
    return `A test it depends on did not pass: ${failed.map(dep => `\`${dep}\``).join(', ')}`
  }
  return 'Not explained yet'
}
