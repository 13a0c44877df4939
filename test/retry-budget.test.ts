/**
 * The retry budget on its own, with time passed in: within any window, retries ≤
 * minRetries + ratio × requests, and counts expire as the window slides.
 */
import t from 'tap'
import { RetryBudget } from '../src/upstream/retry-budget.js'

t.test('minRetries are allowed with no traffic, then the ratio decides', async t => {
  const budget = new RetryBudget({ ratio: 0.2, minRetries: 2, windowMs: 10_000 })
  const now = 1_000_000
  t.ok(budget.tryRetry(now))
  t.ok(budget.tryRetry(now))
  t.notOk(budget.tryRetry(now), 'the minimum is spent')
  for (let i = 0; i < 10; i++) budget.recordRequest(now)
  t.ok(budget.tryRetry(now), '10 requests earn 2 more retries (20%)')
  t.ok(budget.tryRetry(now))
  t.notOk(budget.tryRetry(now), 'and no more')
})

t.test('counts leave the window as it slides', async t => {
  const budget = new RetryBudget({ ratio: 0, minRetries: 1, windowMs: 1000 })
  const start = 5_000_000
  t.ok(budget.tryRetry(start))
  t.notOk(budget.tryRetry(start + 500), 'still inside the window')
  t.notOk(budget.tryRetry(start + 999))
  t.ok(budget.tryRetry(start + 1000), 'a window later the retry has expired')
  t.notOk(budget.tryRetry(start + 1050))
  t.ok(budget.tryRetry(start + 60_000), 'after a long silence everything has expired')
})

t.test('requests earn retries only while they are in the window', async t => {
  const budget = new RetryBudget({ ratio: 0.5, minRetries: 0, windowMs: 1000 })
  const start = 9_000_000
  budget.recordRequest(start)
  budget.recordRequest(start)
  t.ok(budget.tryRetry(start + 100), '2 requests × 0.5 = 1 retry')
  t.notOk(budget.tryRetry(start + 200))
  t.notOk(budget.tryRetry(start + 1500), 'the requests expired with the retry')
})
