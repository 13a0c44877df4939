/**
 * Template expansion and collection slots, as plain functions.
 */
import t from 'tap'
import { compileTemplate, expandTemplate } from '../src/compose/template.js'
import { collectSlots, placeResults } from '../src/compose/collection.js'

const input = (parts: Record<string, unknown>, extra: { query?: Record<string, string | string[]>, headers?: Record<string, string> } = {}) => ({
  params: { id: 'a/admin?x=1&y' },
  query: extra.query ?? {},
  headers: extra.headers ?? {},
  parts: new Map(Object.entries(parts))
})

t.test('values are percent-encoded: a value can never add a segment, a query or a parameter', async t => {
  const expanded = expandTemplate(compileTemplate('/users/{params.id}?company={user.companyId}'), input({ user: { companyId: 'a&b=c' } }))
  t.same(expanded, { ok: true, path: '/users/a%2Fadmin%3Fx%3D1%26y?company=a%26b%3Dc' })
})

t.test('a value that is or hides a dot segment, or is empty, is refused in a path (docs/hygiene.md)', async t => {
  const template = compileTemplate('/users/{query.id}?q={query.q}')
  for (const id of ['..', '.', '../admin', 'a/../..', '%2e%2e', '%252e%252e', '..\\x', '..;x', '']) {
    const expanded = expandTemplate(template, input({}, { query: { id, q: '..' } }))
    t.match(expanded, { ok: false, placeholder: '{query.id}', missing: 'request', unsafe: true, why: /^\{query\.id\} \(.*\) (contains a dot segment|is empty).*, so it cannot be put in a path$/ }, JSON.stringify(id))
  }
  t.same(expandTemplate(template, input({}, { query: { id: 'a..b', q: '..' } })), { ok: true, path: '/users/a..b?q=..' }, 'dots inside a segment, and ".." in the query, are fine')
  t.match(expandTemplate(compileTemplate('/users/{user.id}'), input({ user: { id: '..' } })), { ok: false, missing: 'field', unsafe: true })
})

t.test('query (first value), headers (case-insensitive names), array indexes, numbers and booleans', async t => {
  const template = compileTemplate('/x/{query.tag}/{headers.Accept-Language}/{orders.1.id}/{user.active}')
  t.same(expandTemplate(template, input({ orders: [{ id: 1 }, { id: 2 }], user: { active: true } }, { query: { tag: ['a', 'b'] }, headers: { 'accept-language': 'fr' } })),
    { ok: true, path: '/x/a/fr/2/true' })
})

t.test('a missing value says which, and whether the client or a part lacks it', async t => {
  t.same(expandTemplate(compileTemplate('/x/{query.q}'), input({})),
    { ok: false, placeholder: '{query.q}', missing: 'request', why: 'query parameter "q" is missing' })
  t.same(expandTemplate(compileTemplate('/x/{user.a.b}'), input({ user: { a: null } })),
    { ok: false, placeholder: '{user.a.b}', missing: 'field', why: 'field "a.b" of part "user" is missing or not a string, number or boolean' })
  t.equal(expandTemplate(compileTemplate('/x/{user.toString}'), input({ user: {} })).ok, false, 'inherited properties are not fields')
})

t.test('slots walk arrays at every step; results land beside their values', async t => {
  const orders = [{ items: [{ productId: 'a' }, { productId: 'b' }] }, { items: [{ qty: 1 }] }, { items: [] }]
  const slots = collectSlots(orders, ['items', 'productId'])
  t.same(slots.map(s => s.value), ['a', 'b', undefined])
  placeResults(slots, [{ n: 'A' }, { n: 'B' }, null], 'product')
  t.same(orders, [{ items: [{ productId: 'a', product: { n: 'A' } }, { productId: 'b', product: { n: 'B' } }] }, { items: [{ qty: 1, product: null }] }, { items: [] }])
  const team = { ids: ['1', '2'] }
  const teamSlots = collectSlots(team, ['ids'])
  placeResults(teamSlots, ['one', 'two'], 'members')
  t.same(team, { ids: ['1', '2'], members: ['one', 'two'] }, 'an array of values gets an aligned array')
})
