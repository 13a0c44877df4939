/**
 * If-Match on write routes (src/writes/if-match.ts): the syntax of RFC 9110 §8.8.3 and the
 * strong comparison of §13.1.1. End to end in hostile-requests.test.ts.
 */
import t from 'tap'
import { ifMatchProblem, parseEntityTags } from '../src/writes/if-match.js'

t.test('entity-tag lists are parsed', async t => {
  t.same(parseEntityTags('"7"'), [{ weak: false, opaque: '7' }])
  t.same(parseEntityTags('W/"7"'), [{ weak: true, opaque: '7' }])
  t.same(parseEntityTags(' "1" ,W/"2",, "" '), [{ weak: false, opaque: '1' }, { weak: true, opaque: '2' }, { weak: false, opaque: '' }], 'whitespace, empty elements (§5.6.1) and the empty tag')
  t.same(parseEntityTags('"a,b"'), [{ weak: false, opaque: 'a,b' }], 'a comma inside a tag is part of it')
  for (const bad of ['', ' ', 'garbage', '7', '"7', '"a b"', '"1" "2"', 'w/"1"', 'W/ "1"', '"1"x', '*, "1"', '"\u0001"']) {
    t.equal(parseEntityTags(bad), undefined, JSON.stringify(bad))
  }
})

t.test('what is refused, and how', async t => {
  t.equal(ifMatchProblem(undefined), undefined)
  t.equal(ifMatchProblem('*'), undefined)
  t.equal(ifMatchProblem('"7"'), undefined)
  t.equal(ifMatchProblem('W/"6", "7"'), undefined, 'one strong tag can match')
  t.equal(ifMatchProblem(['"6"', '"7"']), undefined)
  t.match(ifMatchProblem('garbage'), { code: 'JUNCTION_INVALID_IF_MATCH', statusCode: 400, message: /found "garbage"/ })
  t.match(ifMatchProblem('W/"7"'), { code: 'JUNCTION_PRECONDITION_FAILED', statusCode: 412 })
  t.match(ifMatchProblem('x'.repeat(500)), { message: /found "x{57}\.\.\."/ }, 'a long value is cut in the message')
})
