import t from 'tap'
import { rewritePath } from '../src/upstream/rewrite.js'

t.test('rewritePath replaces the prefix and keeps the rest byte for byte', async t => {
  const cases: Array<[string, string, string, string]> = [
    ['/api/users', '/api/users', '/users', '/users'],
    ['/api/users/7?x=1', '/api/users', '/users', '/users/7?x=1'],
    ['/api/users?x=1', '/api/users', '/users', '/users?x=1'],
    ['/api/users/7', '/api/users', '/', '/7'],
    ['/api/users', '/api/users', '/', '/'],
    ['/api/users?q', '/api/users', '/', '/?q'],
    ['/api/users/7', '/api/users', '/v2/', '/v2/7'],
    ['/users/7', '/', '/', '/users/7'],
    ['/', '/', '/', '/'],
    ['/users/7?x=%2F', '/', '/svc', '/svc/users/7?x=%2F'],
    ['/api/a%2Fb', '/api', '/api', '/api/a%2Fb']
  ]
  for (const [url, prefix, rewrite, expected] of cases) {
    t.equal(rewritePath(url, prefix, rewrite), expected, `${url} with ${prefix} → ${rewrite}`)
  }
})

t.test('rewritePath finds the prefix by what it decodes to, as the router matched it', async t => {
  const cases: Array<[string, string, string, string]> = [
    ['/api/%75sers/7', '/api/users', '/users', '/users/7'],
    ['/%61pi/users?x=1', '/api/users', '/users', '/users?x=1'],
    ['/api/%75sers', '/api/users', '/', '/'],
    ['/api/caf%C3%A9/1', '/api/café', '/c', '/c/1']
  ]
  for (const [url, prefix, rewrite, expected] of cases) {
    t.equal(rewritePath(url, prefix, rewrite), expected, `${url} with ${prefix} → ${rewrite}`)
  }
  t.throws(() => rewritePath('/api/orders/7', '/api/users', '/users'), { code: 'JUNCTION_BAD_PATH' }, 'a URL that does not spell the prefix is refused, never cut blindly')
})
