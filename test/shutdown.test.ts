import t from 'tap'
import { request } from 'undici'
import { startOrigin } from './support/origin.js'
import { startCliGateway } from './support/cli.js'

t.test('SIGTERM lets an in-flight request finish, then the process exits 0', async t => {
  let arrived: () => void = () => {}
  const requestArrived = new Promise<void>(resolve => { arrived = resolve })
  const origin = await startOrigin(t, (_req, res) => {
    arrived()
    setTimeout(() => res.end('finished'), 500)
  })
  const gw = await startCliGateway(t, `
services:
  slow: { urls: [${origin.url}] }
routes:
  - { proxy: /slow, service: slow }
`)
  const inFlight = request(`${gw.url}/slow`)
  await requestArrived
  gw.child.kill('SIGTERM')

  const res = await inFlight
  t.equal(res.statusCode, 200)
  t.equal(await res.body.text(), 'finished', 'the request in flight was answered in full')
  const { code, signal } = await gw.exited
  t.equal(code, 0, `exited cleanly (signal ${String(signal)})`)
  t.match(gw.output(), /shutting down/)

  await t.rejects(request(`${gw.url}/health`), 'nothing listens afterwards')
})
