/**
 * Hot reload as operators use it: the real `junction start` process, its config file
 * rewritten, `kill -HUP`. The new route goes live, the old one is gone, a slow request in
 * flight across the reload completes; an invalid file is logged error by error and the
 * running config stays.
 */
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { request } from 'undici'
import { startOrigin } from './support/origin.js'
import { startHeldOrigin } from './support/held-origin.js'
import { startCliGateway } from './support/cli.js'
import { eventually } from './support/writes.js'

async function get (url: string): Promise<{ status: number, text: string }> {
  const res = await request(url)
  return { status: res.statusCode, text: await res.body.text() }
}

t.test('SIGHUP reloads the file: new route live, old route gone, the request in flight completes', { timeout: 120_000 }, async t => {
  const a = await startOrigin(t, (req, res) => { res.end(`a ${req.url ?? ''}`) })
  const b = await startOrigin(t, (req, res) => { res.end(`b ${req.url ?? ''}`) })
  const slow = await startHeldOrigin(t)
  const gw = await startCliGateway(t, `
services:
  a: { urls: ["${a.url}"] }
  slow: { urls: ["${slow.url}"] }
routes:
  - { proxy: /old, service: a }
  - { proxy: /slow, service: slow }
`)
  const file = join(gw.dir, 'junction.yaml')
  const storeLine = `store: { kind: embedded, dir: ${JSON.stringify(join(gw.dir, 'data'))} }\n`
  t.equal((await get(`${gw.url}/old/1`)).text, 'a /old/1')

  const inFlight = get(`${gw.url}/slow/1`)
  await slow.arrived
  await writeFile(file, `${storeLine}
services:
  b: { urls: ["${b.url}"] }
  slow: { urls: ["${slow.url}"] }
routes:
  - { proxy: /new, service: b }
  - { proxy: /slow, service: slow }
`)
  gw.child.kill('SIGHUP')
  t.ok(await eventually(async () => (await get(`${gw.url}/new/2`)).status === 200, 30_000), 'the new route goes live')
  t.equal((await get(`${gw.url}/new/2`)).text, 'b /new/2')
  t.equal((await get(`${gw.url}/old/1`)).status, 404, 'the old route is gone')
  t.equal(gw.child.exitCode, null, 'still running: SIGHUP does not stop it')

  slow.release()
  t.same(await inFlight, { status: 200, text: 'slow done' }, 'the request in flight across the reload completed')
  t.match(gw.output(), /config reloaded/)

  // An invalid file: every error logged, the running config kept.
  await writeFile(file, `${storeLine}
services:
  b: { urls: ["${b.url}"] }
routes:
  - { proxy: /new, service: bb }
  - { proxy: /other, service: b, methds: [GET] }
`)
  gw.child.kill('SIGHUP')
  t.ok(await eventually(async () => gw.output().includes('reload refused'), 30_000), 'the refusal is logged')
  t.match(gw.output(), /routes\[0\]\.service: unknown service \\"bb\\" \(did you mean \\"b\\"\?\)/)
  t.match(gw.output(), /routes\[1\]\.methds/)
  t.equal((await get(`${gw.url}/new/3`)).text, 'b /new/3', 'the running config still serves')

  gw.child.kill('SIGTERM')
  const { code } = await gw.exited
  t.equal(code, 0, 'a graceful stop after reloads')
})
