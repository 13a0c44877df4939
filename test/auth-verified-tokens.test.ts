/**
 * The verified-token cache on its own: an entry lives until the token's exp (plus the clock
 * tolerance), never longer than MAX_AGE_MS, and only for the exact token text.
 */
import t from 'tap'
import { MAX_AGE_MS, MAX_TOKENS, VerifiedTokens } from '../src/auth/verified-tokens.js'

const T0 = 1_800_000_000_000

t.test('until exp plus the tolerance', async t => {
  const cache = new VerifiedTokens(5000)
  const claims = { sub: 'a', exp: T0 / 1000 + 60 }
  cache.set('tok', claims, T0)
  t.equal(cache.get('tok', T0 + 1), claims)
  t.equal(cache.get('tok', T0 + 64_999), claims, 'within exp + 5 s')
  t.equal(cache.get('tok', T0 + 65_000), undefined, 'then verified again')
  t.equal(cache.get('tok', T0 + 1), undefined, 'an expired entry is dropped')
})

t.test('never longer than MAX_AGE_MS, with or without exp', async t => {
  const cache = new VerifiedTokens(0)
  cache.set('long', { exp: T0 / 1000 + 86_400 }, T0)
  cache.set('none', { sub: 'b' }, T0)
  t.ok(cache.get('long', T0 + MAX_AGE_MS - 1))
  t.equal(cache.get('long', T0 + MAX_AGE_MS), undefined)
  t.ok(cache.get('none', T0 + MAX_AGE_MS - 1))
  t.equal(cache.get('none', T0 + MAX_AGE_MS), undefined)
})

t.test('an already expired token is not kept; other texts never match', async t => {
  const cache = new VerifiedTokens(0)
  cache.set('old', { exp: T0 / 1000 - 1 }, T0)
  t.equal(cache.get('old', T0), undefined)
  cache.set('tok', { sub: 'a' }, T0)
  t.equal(cache.get('tok ', T0), undefined)
  t.equal(cache.get('TOK', T0), undefined)
})

t.test('bounded', async t => {
  const cache = new VerifiedTokens(0)
  for (let i = 0; i <= MAX_TOKENS; i++) cache.set(`t${i}`, { i }, T0)
  t.equal(cache.get('t0', T0), undefined, 'the least recently used is dropped')
  t.ok(cache.get(`t${MAX_TOKENS}`, T0))
})
