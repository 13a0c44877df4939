/**
 * Which request paths Junction accepts (src/upstream/request-target.ts, docs/hygiene.md), as
 * plain functions: the end-to-end refusals are in hostile-requests.test.ts.
 */
import t from 'tap'
import { originForm, pathProblem, pathValueProblem } from '../src/upstream/request-target.js'

t.test('ordinary paths are accepted as they are', async t => {
  for (const url of ['/', '/api/users', '/api/users/7?x=1&y=..', '/api/users/', '/v1.2/file.json', '/a/..b/c..', '/a/.well-known/x',
    '/api/group%2Fproject', '/api/caf%C3%A9', '/api/100%25', '/search?q=%2e%2e%2f', '/a;b=c/d', '/%7Euser']) {
    t.equal(pathProblem(url), undefined, url)
  }
})

t.test('dot segments are refused at any depth of percent-decoding', async t => {
  const cases: Array<[string, RegExp]> = [
    ['/a/../b', /^contains a dot segment \("\.\."\)$/],
    ['/a/./b', /dot segment \("\."\)/],
    ['/a/..', /dot segment/],
    ['/a/.', /dot segment/],
    ['/a/..;x=1/b', /dot segment \("\.\.;x=1"\)/],
    ['/a/..\\b', /dot segment/],
    ['/a/%2e%2e/b', /dot segment \("\.\."\) once percent-decoded$/],
    ['/a/%2E%2e%2Fb', /once percent-decoded/],
    ['/a/.%2e/b', /once percent-decoded/],
    ['/a/..%2fb', /once percent-decoded/],
    ['/a/..%5cb', /once percent-decoded/],
    ['/a/%252e%252e/b', /once percent-decoded 2 times$/],
    ['/a/%25252e%25252e/b', /once percent-decoded 3 times$/],
    ['/a/%ef%bc%8e%ef%bc%8e/b', /dot segment \("\.\."\) once percent-decoded/],
    ['/a/%e2%80%a5/b', /dot segment/]
  ]
  for (const [url, reason] of cases) t.match(pathProblem(url), reason, url)
})

t.test('empty segments, fragments, bad encodings and control characters are refused', async t => {
  const cases: Array<[string, RegExp]> = [
    ['//a', /empty segment/],
    ['/a//b', /empty segment/],
    ['/a/b#frag', /fragment/],
    ['/a?x=1#frag', /fragment/],
    ['*', /must start with "\/"/],
    ['a/b', /must start with "\/"/],
    ['/a/%zz', /"%" that is not followed by two hex digits/],
    ['/a/%', /"%"/],
    ['/a/%c0%ae', /not valid percent-encoded UTF-8/],
    ['/a/%e9', /not valid percent-encoded UTF-8/],
    ['/a/%25c0%25ae', /not valid UTF-8 after 2 percent-decodings/],
    ['/a/%00', /control character once percent-decoded/],
    ['/a/%0d%0aX:1', /control character/],
    ['/a/%2525252525252e', /still percent-encoded after 4 decodings/]
  ]
  for (const [url, reason] of cases) t.match(pathProblem(url), reason, url)
})

t.test('values for upstream paths', async t => {
  for (const value of ['7', 'a b', 'a/b', 'a..b', 'café', '100%', '%41']) t.equal(pathValueProblem(value), undefined, JSON.stringify(value))
  for (const value of ['', '.', '..', 'a/..', '../x', '..\\x', '%2e%2e', '%252e%252e', '..;x', 'a\u0000b', '\uff0e\uff0e']) {
    t.type(pathValueProblem(value), 'string', JSON.stringify(value))
  }
})

t.test('absolute-form targets become origin-form', async t => {
  t.equal(originForm('/a?b'), '/a?b')
  t.equal(originForm('http://evil.test/api/users/1?x=1'), '/api/users/1?x=1')
  t.equal(originForm('https://evil.test'), '/')
  t.equal(originForm('http://evil.test?x'), '/?x')
  t.equal(originForm('*'), '*', 'asterisk-form is left for the path check to refuse')
})
