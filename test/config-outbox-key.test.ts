/**
 * The top-level `outbox:` key: defaults, units, and the outbox's own cross-field rules
 * reported as config issues.
 */
import t from 'tap'
import { parseConfig } from '../src/config/load.js'
import { ConfigError } from '../src/config/config-error.js'

const BASE = 'services:\n  users: { urls: [http://127.0.0.1:3001] }\nroutes:\n  - { proxy: /a, service: users }\n'

t.test('outbox: units normalised, cross-field rules reported', async t => {
  const config = parseConfig(BASE + 'outbox: { attemptTimeout: 2s, visibilityTimeout: 5s, maxAttempts: 3 }\n', { env: {} })
  t.match(config.outbox, { attemptTimeoutMs: 2000, visibilityTimeoutMs: 5000, maxAttempts: 3, concurrency: 64 })
  try {
    parseConfig(BASE + 'outbox: { attemptTimeout: 10s, visibilityTimeout: 5s, retries: 3 }\n', { env: {} })
    t.fail('accepted')
  } catch (err) {
    t.type(err, ConfigError)
    t.same((err as ConfigError).issues.map(i => `${i.path}: ${i.message}`), [
      'outbox.visibilityTimeout: must exceed outbox.attemptTimeout (10000 ms), got 5000 ms',
      'outbox.retries: unknown key; allowed keys here: "maxAttempts", "maxAge", "baseBackoff", "maxBackoff", "maxRetryAfter", "concurrency", "attemptTimeout", "visibilityTimeout", "pollInterval", "latestRetention", "closeTimeout"'
    ])
  }
})
