import t from 'tap'
import { request } from 'undici'
import { startOrigin } from './support/origin.js'
import { startGateway } from './support/gateway.js'

t.test('requests alternate across a service\'s URLs over reused keep-alive connections', async t => {
  const a = await startOrigin(t, (_req, res) => res.end('a'))
  const b = await startOrigin(t, (_req, res) => res.end('b'))
  const gw = await startGateway(t, `
services:
  users: { urls: [${a.url}, ${b.url}], connections: 4 }
routes:
  - { proxy: /u, service: users }
`)
  const answers: string[] = []
  for (let i = 0; i < 20; i++) {
    const res = await request(`${gw.url}/u`)
    answers.push(await res.body.text())
  }
  t.same(answers, Array.from({ length: 20 }, (_, i) => i % 2 === 0 ? 'a' : 'b'), 'strict round-robin')
  t.equal(a.connections(), 1, 'sequential requests reuse one connection to a')
  t.equal(b.connections(), 1, 'and one to b')
})
