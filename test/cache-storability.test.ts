import t from 'tap'
import { requestRule, storability, type StorabilityInput } from '../src/cache/storability.js'
import type { CachePolicy, HttpHeaders } from '../src/cache/types.js'

const policy: CachePolicy = { mode: 'ttl', ttlMs: 60_000, staleWhileRevalidateMs: 0, staleIfErrorMs: 0 }

function verdict (response: { status?: number, headers?: HttpHeaders, incomplete?: boolean }, opts: { request?: HttpHeaders, policy?: CachePolicy, keyHeaders?: string[] } = {}): string {
  const p = opts.policy ?? policy
  const rule = requestRule('GET', opts.request ?? {}, p)
  if (!rule.use) return `bypass:${rule.reason}`
  const input: StorabilityInput = {
    request: { headers: opts.request ?? {}, authorized: rule.authorized, store: rule.store },
    response: { status: response.status ?? 200, headers: response.headers ?? {}, incomplete: response.incomplete },
    policy: p,
    keyHeaders: opts.keyHeaders ?? []
  }
  const v = storability(input)
  return v.storable ? 'store' : `${v.reason}${v.shareable ? '' : ' (personal)'}`
}

t.test('each never-cache rule', async t => {
  t.equal(verdict({}), 'store')
  t.equal(verdict({ headers: { 'cache-control': 'no-store' } }), 'no-store (personal)')
  t.equal(verdict({ headers: { 'cache-control': 'max-age=60, NO-STORE' } }), 'no-store (personal)')
  t.equal(verdict({ headers: { 'cache-control': 'private' } }), 'private (personal)')
  t.equal(verdict({ headers: { 'cache-control': 'private="x-user"' } }), 'private (personal)')
  t.equal(verdict({ headers: { 'set-cookie': ['a=1'] } }), 'set-cookie (personal)')
  t.equal(verdict({ status: 500 }), 'status')
  t.equal(verdict({ status: 206 }), 'status', 'a partial response is never the whole representation')
  t.equal(verdict({ status: 404 }), 'status')
  t.equal(verdict({ status: 404 }, { policy: { ...policy, extraStatuses: [404] } }), 'store', 'non-2xx when configured')
  t.equal(verdict({ headers: { 'cache-control': 'no-cache' } }), 'no-cache')
  t.equal(verdict({ headers: { 'cache-control': 'no-cache="x-debug"' } }), 'store', 'a qualified no-cache strips fields')
  t.equal(verdict({ headers: { vary: '*' } }), 'vary')
  t.equal(verdict({ headers: { vary: 'Accept-Language' } }), 'vary', 'varies on a header the key ignores')
  t.equal(verdict({ headers: { vary: 'Accept-Language' } }, { keyHeaders: ['accept-language'] }), 'store')
  t.equal(verdict({ incomplete: true }), 'incomplete')
  t.equal(verdict({ incomplete: true }, { policy: { ...policy, incompleteTtlMs: 1000 } }), 'store')
  t.equal(verdict({}, { request: { 'cache-control': 'no-store' } }), 'request-no-store')
  t.equal(verdict({}, { policy: { ...policy, mode: 'http' } }), 'no-freshness', 'http mode needs explicit freshness')
  t.equal(verdict({ headers: { 'cache-control': 'max-age=0' } }, { policy: { ...policy, mode: 'http' } }), 'no-freshness')
  t.equal(verdict({ headers: { 'cache-control': 'max-age=0, stale-if-error=60' } }, { policy: { ...policy, mode: 'http' } }), 'store', 'kept for stale-if-error')
})

t.test('requests with Authorization', async t => {
  const auth = { authorization: 'Bearer x' }
  t.equal(verdict({}, { request: auth }), 'authorization (personal)')
  t.equal(verdict({ headers: { 'cache-control': 'public' } }, { request: auth }), 'store')
  t.equal(verdict({ headers: { 'cache-control': 's-maxage=10' } }, { request: auth }), 'store')
  t.equal(verdict({ headers: { 'cache-control': 'must-revalidate' } }, { request: auth }), 'store')
  t.equal(verdict({ headers: { 'cache-control': 'private="public"' } }, { request: auth }), 'private (personal)', 'public inside quotes is not public')
  t.equal(verdict({}, { request: auth, policy: { ...policy, keyByIdentity: true } }), 'store', 'the route keys by identity')
})

t.test('request rule', async t => {
  t.same(requestRule('POST', {}, policy), { use: false, reason: 'method' })
  t.same(requestRule('get', { range: 'bytes=0-1' }, policy), { use: false, reason: 'range' })
  t.same(requestRule('HEAD', {}, policy), { use: true, authorized: false, store: true })
})

t.test('mode http: any final status with explicit freshness, unless must-understand does not know it', async t => {
  const http: CachePolicy = { ...policy, mode: 'http' }
  t.equal(verdict({ status: 404, headers: { 'cache-control': 'max-age=60' } }, { policy: http }), 'store', 'the service gave it a lifetime')
  t.equal(verdict({ status: 503, headers: { expires: new Date(Date.now() + 60_000).toUTCString() } }, { policy: http }), 'store')
  t.equal(verdict({ status: 404 }, { policy: http }), 'status', 'no explicit freshness: 2xx only')
  t.equal(verdict({ status: 206, headers: { 'cache-control': 'max-age=60' } }, { policy: http }), 'status')
  t.equal(verdict({ status: 404, headers: { 'cache-control': 'max-age=60' } }), 'status', 'mode ttl: the route\'s statuses decide')
  t.equal(verdict({ status: 599, headers: { 'cache-control': 'max-age=60, must-understand' } }, { policy: http }), 'status', 'an unknown status with must-understand')
  t.equal(verdict({ status: 599, headers: { 'cache-control': 'max-age=60' } }, { policy: http }), 'store')
  t.equal(verdict({ status: 200, headers: { 'cache-control': 'max-age=60, must-understand' } }, { policy: http }), 'store')
})

t.test('a validator makes a response worth keeping past its freshness, to revalidate', async t => {
  const http: CachePolicy = { ...policy, mode: 'http' }
  const kept = (response: { headers: HttpHeaders }, p: CachePolicy): unknown => {
    const v = storability({ request: { headers: {}, authorized: false, store: true }, response: { status: 200, headers: response.headers }, policy: p, keyHeaders: [] })
    return v.storable ? { freshMs: v.lifetimes.freshMs, revalidatable: v.revalidatable } : v.reason
  }
  t.same(kept({ headers: { 'cache-control': 'no-cache', etag: '"a"' } }, policy), { freshMs: 0, revalidatable: true }, 'no-cache: stored, revalidated before every use')
  t.same(kept({ headers: { 'cache-control': 'no-cache' } }, policy), 'no-cache', 'no-cache without a validator: useless')
  t.same(kept({ headers: { 'cache-control': 'max-age=0', 'last-modified': 'Wed, 01 Jan 2020 00:00:00 GMT' } }, http), { freshMs: 0, revalidatable: true })
  t.same(kept({ headers: { etag: '"a"' } }, http), { freshMs: 0, revalidatable: true }, 'no freshness, but a validator')
  t.same(kept({ headers: { 'cache-control': 'max-age=60' } }, http), { freshMs: 60_000, revalidatable: false })
})
