import t from 'tap'
import { parseCacheControl } from '../src/cache/cache-control.js'
import { explicitLifetime, lifetimes, upstreamAgeMs } from '../src/cache/freshness.js'
import type { CachePolicy } from '../src/cache/types.js'

/** The directives a header parses into: name → first argument (true when bare). */
function parsed (header: string | string[]): Record<string, string | true> {
  const cc = parseCacheControl(header)
  return Object.fromEntries(cc.names().map(n => [n, cc.arg(n) ?? true]))
}

t.test('parses directive by directive', async t => {
  const table: Array<[string | string[], Record<string, string | true>]> = [
    ['max-age=60', { 'max-age': '60' }],
    ['MAX-AGE=60, Public', { 'max-age': '60', public: true }],
    ['  no-cache ,  max-age = 5 ', { 'no-cache': true, 'max-age': '5' }],
    ['private="set-cookie, no-store", max-age=60', { private: 'set-cookie, no-store', 'max-age': '60' }],
    ['no-cache="a\\"b, c", s-maxage=10', { 'no-cache': 'a"b, c', 's-maxage': '10' }],
    [['public', 'max-age=30'], { public: true, 'max-age': '30' }],
    ['max-age=abc', { 'max-age': 'abc' }],
    [',,, ,max-age=1,,', { 'max-age': '1' }],
    ['max-age=1 2, public', { public: true }],
    ['="x", =, public', { public: true }],
    ['x-unknown=1, stale-while-revalidate=30', { 'x-unknown': '1', 'stale-while-revalidate': '30' }],
    ['private="unterminated, no-store', {}],
    ['', {}],
    ['max-age=10, max-age=20', { 'max-age': '10' }]
  ]
  for (const [header, expected] of table) t.same(parsed(header), expected, JSON.stringify(header))
})

t.test('no-store inside a quoted field list is not the no-store directive', async t => {
  const cc = parseCacheControl('private="no-store", no-cache="no-store"')
  t.equal(cc.has('no-store'), false)
  t.same(cc.fields('no-cache'), ['no-store'])
  t.equal(cc.bare('no-cache'), false)
  t.equal(parseCacheControl('No-Store').has('no-store'), true, 'names are case-insensitive')
})

t.test('delta-seconds: digits only, duplicates that disagree are unusable, 2^31 cap', async t => {
  t.equal(parseCacheControl('max-age=60').seconds('max-age'), 60)
  t.equal(parseCacheControl('max-age=abc').seconds('max-age'), null)
  t.equal(parseCacheControl('max-age=-1').seconds('max-age'), null)
  t.equal(parseCacheControl('max-age="60"').seconds('max-age'), 60, 'a quoted argument is the same value')
  t.equal(parseCacheControl('max-age').seconds('max-age'), null)
  t.equal(parseCacheControl('max-age=10, max-age=20').seconds('max-age'), null)
  t.equal(parseCacheControl('max-age=10, max-age=10').seconds('max-age'), 10)
  t.equal(parseCacheControl('max-age=99999999999').seconds('max-age'), 2147483648)
  t.equal(parseCacheControl('public').seconds('max-age'), undefined)
})

t.test('explicit lifetime: s-maxage > max-age > Expires - Date, no heuristic', async t => {
  t.equal(explicitLifetime({ 'cache-control': 's-maxage=5, max-age=60' }), 5)
  t.equal(explicitLifetime({ 'cache-control': 'max-age=60', expires: 'Thu, 01 Jan 2037 00:00:00 GMT' }), 60)
  t.equal(explicitLifetime({ date: 'Mon, 01 Jan 2024 00:00:00 GMT', expires: 'Mon, 01 Jan 2024 00:02:00 GMT' }), 120)
  t.equal(explicitLifetime({ expires: '0' }), 0, 'an invalid Expires is already expired')
  t.equal(explicitLifetime({ 'cache-control': 'max-age=abc', expires: 'Thu, 01 Jan 2037 00:00:00 GMT' }), 0, 'an unusable max-age is stale, not a fallback to Expires')
  t.equal(explicitLifetime({ 'last-modified': 'Mon, 01 Jan 2024 00:00:00 GMT' }), undefined, 'no heuristic freshness')
})

t.test('lifetimes by mode', async t => {
  const http: CachePolicy = { mode: 'http', ttlMs: 1000, staleWhileRevalidateMs: 7000, staleIfErrorMs: 9000, incompleteTtlMs: 500 }
  t.same(lifetimes({ 'cache-control': 'max-age=60', age: '10' }, http), { freshMs: 50_000, staleWhileRevalidateMs: 7000, staleIfErrorMs: 9000, initialAgeMs: 10_000 })
  t.same(lifetimes({ 'cache-control': 'max-age=60, stale-while-revalidate=30, stale-if-error=abc' }, http), { freshMs: 60_000, staleWhileRevalidateMs: 30_000, staleIfErrorMs: 0, initialAgeMs: 0 })
  t.same(lifetimes({ 'cache-control': 'max-age=60, must-revalidate, stale-while-revalidate=30' }, http), { freshMs: 60_000, staleWhileRevalidateMs: 0, staleIfErrorMs: 0, initialAgeMs: 0 })
  t.equal(lifetimes({}, http), undefined)
  const ttl: CachePolicy = { ...http, mode: 'ttl' }
  t.same(lifetimes({ 'cache-control': 'max-age=60, must-revalidate' }, ttl), { freshMs: 1000, staleWhileRevalidateMs: 7000, staleIfErrorMs: 9000, initialAgeMs: 0 }, 'ttl mode: the route decides')
  t.same(lifetimes({}, ttl, true), { freshMs: 500, staleWhileRevalidateMs: 0, staleIfErrorMs: 0, initialAgeMs: 0 }, 'incomplete: short, never stale')
})

t.test('an Age that is not exactly one delta-seconds makes the response stale', async t => {
  t.equal(upstreamAgeMs({}), 0)
  t.equal(upstreamAgeMs({ age: ' 10 ' }), 10_000)
  t.equal(upstreamAgeMs({ age: ['10'] }), 10_000)
  for (const age of ['abc', '-7200', '7200.0', '7200;foo=bar', '0, 0', '0,7200']) t.equal(upstreamAgeMs({ age }), null, age)
  t.equal(upstreamAgeMs({ age: ['0', '0'] }), null, 'two lines')
  const http: CachePolicy = { mode: 'http', ttlMs: 0, staleWhileRevalidateMs: 0, staleIfErrorMs: 0 }
  t.equal(lifetimes({ 'cache-control': 'max-age=3600', age: 'abc' }, http)?.freshMs, 0, 'stale, never served fresh')
  t.equal(lifetimes({ 'cache-control': 'max-age=3600', age: '0' }, http)?.freshMs, 3_600_000)
})
