import t from 'tap'
import { cacheKey, canonicalKey, type KeyParts } from '../src/cache/cache-key.js'
import { decodeEntry, encodeEntry, storedHeaders, type CacheEntry } from '../src/cache/entry.js'
import { bodyEtag, ifNoneMatchMatches } from '../src/cache/etag.js'

const base: KeyParts = { route: 'users', method: 'GET', path: '/api/users/7' }

t.test('route, method and path are always in the key', async t => {
  const k = cacheKey(base)
  t.match(k, /^[A-Za-z0-9_-]{43}$/, 'sha256 in base64url: bounded')
  t.not(cacheKey({ ...base, route: 'users2' }), k)
  t.not(cacheKey({ ...base, method: 'HEAD' }), k)
  t.equal(cacheKey({ ...base, method: 'get' }), k)
  t.not(cacheKey({ ...base, path: '/api/users/8' }), k)
  t.equal(cacheKey({ ...base, path: '/x'.repeat(10_000) }).length, 43)
})

t.test('query: selected parameters, sorted by name, value order kept', async t => {
  t.equal(cacheKey({ ...base, query: 'b=2&a=1' }), cacheKey({ ...base, query: 'a=1&b=2' }))
  t.not(cacheKey({ ...base, query: 'a=1&a=2' }), cacheKey({ ...base, query: 'a=2&a=1' }))
  t.equal(cacheKey({ ...base, query: 'a=1&utm=x', queryKeys: ['a'] }), cacheKey({ ...base, query: 'a=1', queryKeys: ['a'] }))
  t.not(cacheKey({ ...base, query: 'a=1&utm=x' }), cacheKey({ ...base, query: 'a=1' }), 'all parameters by default')
  t.equal(cacheKey({ ...base, query: 'a=1&utm=x', queryKeys: [] }), cacheKey(base))
  t.equal(cacheKey({ ...base, query: new URLSearchParams('a=%20') }), cacheKey({ ...base, query: 'a=+' }))
})

t.test('headers: lowercased names, normalized values, missing differs from empty', async t => {
  const k = (headers: Record<string, string | string[]>): string => cacheKey({ ...base, headers, headerKeys: ['Accept-Language'] })
  t.equal(k({ 'accept-language': '  fr,   en ' }), k({ 'accept-language': 'fr, en' }))
  t.equal(k({ 'accept-language': ['fr', 'en'] }), k({ 'accept-language': 'fr, en' }))
  t.not(k({ 'accept-language': '' }), k({}))
  t.equal(k({ 'accept-language': 'fr', other: 'x' }), k({ 'accept-language': 'fr' }), 'unselected headers are ignored')
  t.not(cacheKey({ ...base, identity: 'u1' }), cacheKey({ ...base, identity: 'u2' }))
  t.match(canonicalKey({ ...base, query: '"],"x', identity: 'a","b' }), /^\["k1"/, 'JSON: values cannot forge structure')
})

t.test('entry round trip, stored header subset', async t => {
  const entry: CacheEntry = {
    status: 200,
    headers: storedHeaders({ 'content-type': 'application/json', connection: 'x-hop', 'x-hop': '1', 'transfer-encoding': 'chunked', 'x-multi': ['a', 'b'], age: '3', 'x-debug': 'y' }, ['x-debug']),
    body: Buffer.from([0, 1, 2, 255]),
    storedAt: 1000,
    initialAgeMs: 3000,
    freshUntil: 2000,
    staleUntil: 3000,
    staleIfErrorUntil: 4000,
    keepUntil: 9000,
    etag: '"abc"',
    tags: ['user:7', 'uri:/x'],
    stamp: 42,
    authorizedOk: true
  }
  t.same(entry.headers, [['content-type', 'application/json'], ['x-multi', 'a'], ['x-multi', 'b']])
  const encoded = encodeEntry(entry)
  t.same(decodeEntry(encoded), entry)
  t.equal(decodeEntry(Buffer.from('not an entry')), undefined)
  t.equal(decodeEntry(encoded.subarray(0, 12)), undefined, 'truncated')
})

t.test('ETag and If-None-Match (weak comparison)', async t => {
  const etag = bodyEtag(Buffer.from('hello'))
  t.match(etag, /^"[A-Za-z0-9_-]{32}"$/)
  t.equal(bodyEtag(Buffer.from('hello')), etag, 'deterministic: instances agree')
  t.equal(ifNoneMatchMatches(etag, etag), true)
  t.equal(ifNoneMatchMatches(`W/${etag}`, etag), true)
  t.equal(ifNoneMatchMatches(`"x", ${etag}`, etag), true)
  t.equal(ifNoneMatchMatches(['"x"', etag], etag), true)
  t.equal(ifNoneMatchMatches('*', etag), true)
  t.equal(ifNoneMatchMatches('"x"', etag), false)
  t.equal(ifNoneMatchMatches('"a,b"', '"a,b"'), true, 'commas inside an entity tag')
  t.equal(ifNoneMatchMatches(`garbage ${etag}`, etag), false, 'a malformed list matches nothing')
  t.equal(ifNoneMatchMatches(undefined, etag), false)
})
