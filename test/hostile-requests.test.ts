/**
 * The hostile-request corpus (test/fixtures/hostile-requests.ts, docs/hygiene.md): every
 * entry is sent over a raw socket to a real `junction start` process in front of real
 * origins that record what they receive. Each must get exactly its expected answer
 * (problem+json with the pinned code when Junction answers itself), no service outside the
 * entry's `reaches` may see anything, and after the whole corpus the process is still up
 * and healthy.
 */
import t, { type Test } from 'tap'
import { request } from 'undici'
import { startCliGateway } from './support/cli.js'
import { SERVICES, startHostileOrigins, type ServiceName } from './support/hostile-origins.js'
import { rawRequest } from './support/raw-http.js'
import type { Received } from './support/recording-origin.js'
import { CORPUS_AUTH, CORPUS_AUTH_ROUTES, CORPUS_SERVER, HOSTILE_REQUESTS, type HostileRequest } from './fixtures/hostile-requests.js'

t.test('the corpus is broad', async t => {
  t.ok(HOSTILE_REQUESTS.length >= 100, `${HOSTILE_REQUESTS.length} hostile requests`)
  const names = new Set(HOSTILE_REQUESTS.map(c => c.name))
  t.equal(names.size, HOSTILE_REQUESTS.length, 'every entry has its own name')
  for (const category of ['framing', 'head', 'limits', 'path', 'body', 'if-match', 'spoofing', 'method', 'jwt']) {
    t.ok(HOSTILE_REQUESTS.some(c => c.category === category), `has ${category} cases`)
  }
})

t.test('every hostile request gets its answer and reaches no service it should not', async t => {
  const services = await startHostileOrigins(t)
  const gw = await startCliGateway(t, services.config(`${CORPUS_SERVER}\n${CORPUS_AUTH}`, CORPUS_AUTH_ROUTES))

  // Upstream paths of earlier entries whose refused request may still reach its service
  // (see `mayStart`): such a late head belongs to its own entry, not to the one running.
  const late = new Set<string>()
  const receivedNow = (name: ServiceName): Received[] => services.origins[name].received.filter(r => !late.has(r.url))
  for (const entry of HOSTILE_REQUESTS) {
    services.reset()
    const res = await rawRequest(gw.port, entry.bytes, { timeoutMs: 6000, firstResponseOnly: true, pieces: entry.pieces, pauseMs: entry.pauseMs })
    const label = `[${entry.category}] ${entry.name}`
    if ('problem' in entry.expect) {
      t.equal(res.status, entry.expect.problem, `${label}: status`)
      t.match(res.headers['content-type'], /^application\/problem\+json/, `${label}: problem+json`)
      let body: { code?: string, status?: number } = {}
      try { body = JSON.parse(res.body) } catch {}
      t.equal(body.code, entry.expect.code, `${label}: code`)
      t.equal(body.status, entry.expect.problem, `${label}: status in the body`)
    } else {
      t.equal(res.status, entry.expect.upstream, `${label}: the service's answer (${res.body.slice(0, 200)})`)
    }
    if (entry.settle !== undefined) await settle(services.origins[entry.settle].received)
    checkReach(t, entry, SERVICES.filter(name => receivedNow(name).length > 0), receivedNow)
    if (entry.mayStart !== undefined) late.add(entry.mayStart.url)
  }
  // Late or not, no request refused part-way ever reached its service whole.
  for (const { name, mayStart } of HOSTILE_REQUESTS) {
    if (mayStart === undefined) continue
    const whole = services.origins[mayStart.service].all.filter(r => r.url === mayStart.url && r.complete)
    t.same(whole, [], `${name}: ${mayStart.service} never got a complete request, even after the corpus`)
  }

  const health = await request(`${gw.url}/health`)
  t.equal(health.statusCode, 200, 'the gateway is healthy after the corpus')
  await health.body.dump()
  t.equal(gw.child.exitCode, null, 'the process never exited')
  // Every refusal is a client error: none of them may show up as a gateway error (500) in the log.
  const errorsLogged = gw.output().split('\n').filter(line => /"level":(50|60)/.test(line))
  t.same(errorsLogged, [], 'nothing was logged as an error')
})

/** The outbox delivers after the client's answer: wait (bounded) so it does not count against the next entry. */
async function settle (received: readonly unknown[]): Promise<void> {
  const deadline = Date.now() + 5000
  while (received.length === 0 && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 10))
}

function checkReach (t: Test, entry: HostileRequest, reached: ServiceName[], received: (name: ServiceName) => readonly Received[]): void {
  const label = `[${entry.category}] ${entry.name}`
  const allowed = entry.reaches ?? []
  for (const name of reached) {
    if (allowed.includes(name)) continue
    if (entry.mayStart?.service === name) {
      const requests = received(name)
      t.ok(requests.every(r => r.url === entry.mayStart?.url && !r.complete), `${label}: ${name} never gets a complete request`)
      continue
    }
    t.fail(`${label}: ${name} must not be reached (got ${received(name).map(r => r.url).join(', ')})`)
  }
  const first = allowed.length > 0 ? received(allowed[0] as ServiceName)[0] : undefined
  if (entry.upstreamUrl !== undefined) t.equal(first?.url, entry.upstreamUrl, `${label}: upstream path`)
  for (const name of entry.stripped ?? []) {
    for (const service of entry.strippedAt ?? allowed) {
      for (const r of received(service)) t.equal(r.headers[name], undefined, `${label}: ${service} does not see ${name}`)
    }
  }
  for (const [name, value] of Object.entries(entry.forwarded ?? {})) t.equal(first?.headers[name], value, `${label}: ${name} forwarded`)
}
