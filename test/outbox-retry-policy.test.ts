import t from 'tap'
import { backoffMs, classifyStatus, parseRetryAfter, retryDelayMs } from '../src/outbox/retry-policy.js'
import { normaliseOutboxOptions, OUTBOX_DEFAULTS } from '../src/outbox/outbox-options.js'

t.test('outcome by status', async t => {
  const kind = (s: number): string => classifyStatus(s).kind
  t.same([200, 201, 204, 299].map(kind), ['delivered', 'delivered', 'delivered', 'delivered'])
  t.same([409, 412].map(kind), ['superseded', 'superseded'])
  t.same([408, 429, 500, 502, 503, 504, 599].map(kind), Array(7).fill('retry'))
  t.same([400, 401, 403, 404, 405, 410, 413, 422, 301, 304, 100].map(kind), Array(11).fill('dead'))
})

t.test('exponential backoff with full jitter, capped', async t => {
  const policy = { baseBackoffMs: 100, maxBackoffMs: 1000, maxRetryAfterMs: 5000 }
  t.same([1, 2, 3, 4, 5, 10, 1000].map(a => backoffMs(a, policy, () => 0.999999)), [99, 199, 399, 799, 999, 999, 999])
  t.equal(backoffMs(3, policy, () => 0), 0, 'full jitter reaches zero')
  const samples = Array.from({ length: 2000 }, () => backoffMs(4, policy))
  t.ok(samples.every(s => s >= 0 && s < 800))
  const mean = samples.reduce((a, b) => a + b, 0) / samples.length
  t.ok(mean > 300 && mean < 500, `uniform over the window (mean ${mean.toFixed(0)})`)
  t.equal(retryDelayMs(1, 3000, policy), 3000, 'Retry-After wins over backoff')
  t.equal(retryDelayMs(1, 60_000, policy), 5000, 'and is capped')
  t.equal(retryDelayMs(1, 0, policy), 0)
})

t.test('Retry-After: seconds or HTTP-date', async t => {
  const now = Date.parse('2025-06-01T12:00:00Z')
  t.equal(parseRetryAfter('120', now), 120_000)
  t.equal(parseRetryAfter(' 0 ', now), 0)
  t.equal(parseRetryAfter('Sun, 01 Jun 2025 12:00:30 GMT', now), 30_000)
  t.equal(parseRetryAfter('Sunday, 01-Jun-25 12:01:00 GMT', now), 60_000, 'RFC 850 form')
  t.equal(parseRetryAfter('Sun, 01 Jun 2025 11:00:00 GMT', now), 0, 'a past date means now')
  t.equal(parseRetryAfter(['5', '9'], now), 5000)
  for (const bad of [undefined, '', '-1', '1.5', 'soon', '12abc']) t.equal(parseRetryAfter(bad, now), undefined, `${JSON.stringify(bad)} is ignored`)
})

t.test('options: defaults, durations, cross-field checks', async t => {
  t.same(normaliseOutboxOptions(), OUTBOX_DEFAULTS)
  const o = normaliseOutboxOptions({ maxAge: '2h', attemptTimeout: '3s', visibilityTimeout: 10_000, concurrency: 4, maxAttempts: 5 })
  t.match(o, { maxAgeMs: 7_200_000, attemptTimeoutMs: 3000, visibilityTimeoutMs: 10_000, concurrency: 4, maxAttempts: 5 })
  t.throws(() => normaliseOutboxOptions({ attemptTimeout: '30s', visibilityTimeout: '10s' }), /outbox.visibilityTimeout: must exceed outbox.attemptTimeout/)
  t.throws(() => normaliseOutboxOptions({ maxAge: 'forever' }), /outbox.maxAge: "forever" is not a duration/)
})
