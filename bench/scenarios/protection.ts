/**
 * Scenario 5: the cost of protection. The same proxy route (1 KB JSON) on Junction
 * instances that differ only in their protection: none; a rate limit (never reached);
 * JWT authentication (HS256, `sub` forwarded as a header); both; and both with the
 * counters in Redis. Targets alternate round by round (A B A B); the cost is reported as
 * CPU µs per request and as ratios to the unprotected route.
 *
 * Every request carries the same token, as a client reusing its token does: after the first
 * request it is answered from the gateway's verified-token cache (src/auth/verified-tokens.ts).
 */
import { createHmac } from 'node:crypto'
import { join } from 'node:path'
import { alternate } from '../lib/load.js'
import { ROOT, startJunction, startNode, type Running } from '../lib/processes.js'
import { startRedis, type BenchRedis } from '../lib/redis.js'
import type { BenchSettings, ScenarioReport } from '../lib/report.js'

const SECRET = 'bench-secret-bench-secret-bench-secret-0123'
/** High enough never to trigger: the bench measures the counting, not the 429s. */
const LIMIT = 'rateLimit: { max: 1000000000, window: 1m, key: KEY }'

interface Variant { readonly name: string, readonly routeKeys: string, readonly redis?: boolean, readonly token: boolean }

const VARIANTS: readonly Variant[] = [
  { name: 'junction, no protection', routeKeys: 'public: true', token: false },
  { name: 'rate limit (memory, by address)', routeKeys: `public: true, ${LIMIT.replace('KEY', 'ip')}`, token: false },
  { name: 'JWT (HS256, sub forwarded)', routeKeys: 'auth: bench', token: true },
  { name: 'JWT + rate limit (memory, by sub)', routeKeys: `auth: bench, ${LIMIT.replace('KEY', 'sub')}`, token: true },
  { name: 'JWT + rate limit (Redis, by sub)', routeKeys: `auth: bench, ${LIMIT.replace('KEY', 'sub')}`, token: true, redis: true }
]

/** An HS256 token signed with node:crypto, valid for a day. */
function token (): string {
  const part = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')
  const input = `${part({ alg: 'HS256', typ: 'JWT' })}.${part({ sub: 'bench-user', iss: 'bench', aud: 'junction', exp: Math.floor(Date.now() / 1000) + 86_400 })}`
  return `${input}.${createHmac('sha256', SECRET).update(input).digest('base64url')}`
}

export async function protectionScenario (settings: BenchSettings): Promise<ScenarioReport> {
  const cpu = settings.serverCpu
  const backend = await startNode('backend', join(ROOT, 'bench/peers/backend.mjs'), { cpu })
  const started: Running[] = [backend]
  let redis: BenchRedis | undefined
  try {
    redis = await startRedis(cpu)
    const targets: Array<{ variant: Variant, gateway: Running }> = []
    for (const variant of VARIANTS) {
      const gateway = await startJunction(variant.name, `
auth:
  jwt:
    bench: { secret: "${SECRET}", issuer: bench, audience: junction, forwardClaims: { sub: x-user-id } }
services:
  backend: { urls: [${backend.url}] }
routes:
  - { proxy: /api, service: backend, rewrite: /, ${variant.routeKeys} }
`, { cpu, env: variant.redis === true ? { JUNCTION_STORE_URL: redis.url } : {} })
      started.push(gateway)
      targets.push({ variant, gateway })
    }
    const authorization = `Bearer ${token()}`
    // The unmeasured warm-up also fills the verified-token cache.
    const means = await alternate(targets.map(({ variant, gateway }) => ({
      name: variant.name,
      url: `${gateway.url}/api/users/1`,
      measured: [gateway],
      ...(variant.token ? { headers: { authorization } } : {})
    })), settings)
    const results = VARIANTS.map(v => ({ name: v.name, result: means.get(v.name)! }))
    const off = results[0]?.result
    const rows = results.map(({ name, result }) => ({
      name,
      result,
      ratios: {
        'req/s vs none': off === undefined ? NaN : result.requestsPerSec / off.requestsPerSec,
        'CPU vs none': off === undefined ? NaN : result.cpuMicrosPerRequest / off.cpuMicrosPerRequest
      }
    }))
    const both = results[3]?.result
    const extra = both !== undefined && off !== undefined ? both.cpuMicrosPerRequest - off.cpuMicrosPerRequest : NaN
    const ratio = both !== undefined && off !== undefined ? both.requestsPerSec / off.requestsPerSec : NaN
    return {
      title: 'Cost of protection: rate limit + JWT on a proxy route (1 KB JSON)',
      cpuNote: 'CPU µs/req is the gateway process only (not the backend, and not redis-server for the Redis row). Every request carries the same token (answered from the verified-token cache after the first); the limit is never reached.',
      rows,
      verdict: `JWT + rate limit (memory) costs ${extra.toFixed(0)} CPU µs per request and runs at ${(ratio * 100).toFixed(0)}% of the unprotected route's req/s.`
    }
  } finally {
    await Promise.all(started.map(async p => await p.stop()))
    await redis?.stop()
  }
}
