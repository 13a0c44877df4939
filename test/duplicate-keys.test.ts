/**
 * Repeated keys in one JSON object (src/writes/duplicate-keys.ts): refused on write routes
 * because the validator and the owner may keep different values.
 */
import t from 'tap'
import { duplicateKey } from '../src/writes/duplicate-keys.js'

t.test('finds a key repeated in one object, with the object\'s pointer', async t => {
  t.same(duplicateKey('{"role":"user","role":"admin"}'), { key: 'role', pointer: '/' })
  t.same(duplicateKey('{"a":{"b":1,"c":2,"b":3}}'), { key: 'b', pointer: '/a' })
  t.same(duplicateKey('{"a":[1,{"x":1},{"x":1,"x":2}]}'), { key: 'x', pointer: '/a/2' })
  t.same(duplicateKey('{"role":"user","r\\u006fle":"admin"}'), { key: 'role', pointer: '/' }, 'escapes are compared as what they mean')
  t.same(duplicateKey('[{"a/b":{"k":1,"k":1}}]'), { key: 'k', pointer: '/0/a~1b' })
})

t.test('same names in different objects, and keys inside strings, are fine', async t => {
  for (const text of ['{}', '[]', '"a"', '1', '{"a":1,"b":{"a":2}}', '[{"a":1},{"a":2}]', '{"a":"\\"a\\":1,","b":"{\\"a\\":1}"}', '{"a":"x","b":"x"}', '{"":1,"a":{"":2}}']) {
    t.equal(duplicateKey(text), undefined, text)
  }
})
