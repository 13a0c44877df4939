/**
 * `npm run cluster` (examples/cluster.ts) as a user runs it: demo services, a real
 * redis-server, two real `junction start` processes and the real nginx. A read is shared
 * through Redis whichever instance serves it, a write reaches the copies, and SIGTERM
 * leaves nothing listening.
 */
import { spawn } from 'node:child_process'
import { Socket } from 'node:net'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { request } from 'undici'
import { freePort } from './support/origin.js'

const SCRIPT = fileURLToPath(new URL('../examples/cluster.js', import.meta.url))

const listening = async (port: number): Promise<boolean> => await new Promise(resolve => {
  const socket = new Socket()
  socket.once('connect', () => { socket.destroy(); resolve(true) })
  socket.once('error', () => resolve(false))
  socket.connect(port, '127.0.0.1')
})

t.test('npm run cluster: nginx → 2 instances on one redis-server; shared cache, propagated writes, clean stop', { timeout: 90_000 }, async t => {
  const port = await freePort()
  const child = spawn(process.execPath, [SCRIPT], { env: { ...process.env, CLUSTER_PORT: String(port), CLUSTER_INSTANCES: '2' }, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', (d: Buffer) => { output += d.toString() })
  child.stderr.on('data', (d: Buffer) => { output += d.toString() })
  const exited = new Promise<number | null>(resolve => child.once('exit', code => resolve(code)))
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })

  const deadline = Date.now() + 60_000
  while (!output.includes('Junction cluster is running')) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`cluster did not start:\n${output}`)
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  const instancePorts = [...(/→ 2 instances \(([^)]*)\)/.exec(output)?.[1] ?? '').matchAll(/127\.0\.0\.1:(\d+)/g)].map(m => Number(m[1]))
  t.equal(instancePorts.length, 2, 'two instances announced')
  const ordersUrl = /services \S+ (\S+) /.exec(output)?.[1]
  t.ok(ordersUrl, 'the orders service is announced')

  const base = `http://127.0.0.1:${port}`
  const get = async (path: string): Promise<{ status: number, cache: unknown, body: string }> => {
    const res = await request(`${base}${path}`)
    return { status: res.statusCode, cache: res.headers['x-cache'], body: await res.body.text() }
  }
  const first = await get('/api/users/2/profile')
  t.equal(first.status, 200)
  t.equal(first.cache, 'MISS')
  // nginx alternates between the instances: the next two reads are served by both, and
  // both find the entry the first one stored in Redis.
  for (let i = 0; i < 2; i++) t.equal((await get('/api/users/2/profile')).cache, 'HIT', `read ${i + 2} is a hit`)

  const put = await request(`${base}/api/users/2`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'Grace B. Hopper', email: 'grace@example.com', companyId: '1' })
  })
  t.equal(put.statusCode, 200, await put.body.text())
  const profile = await get('/api/users/2/profile')
  t.match(JSON.parse(profile.body), { displayName: 'Grace B. Hopper' }, 'no instance serves the old profile after the write')
  let copy = ''
  for (let i = 0; i < 100 && !copy.includes('Grace B. Hopper'); i++) {
    const res = await request(`${ordersUrl!}/customers/2`)
    copy = await res.body.text()
    if (!copy.includes('Grace B. Hopper')) await new Promise(resolve => setTimeout(resolve, 50))
  }
  t.match(copy, /Grace B\. Hopper/, 'the write reached orders\' copy')

  child.kill('SIGTERM')
  t.equal(await exited, 0, 'stops cleanly on SIGTERM')
  t.equal(await listening(port), false, 'nginx is gone')
  for (const p of instancePorts) t.equal(await listening(p), false, `instance on ${p} is gone`)
})
