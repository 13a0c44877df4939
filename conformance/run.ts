/**
 * `npm run conformance`: the public HTTP caching test suite (http-cache-tests, the suite
 * behind cache-tests.fyi) against Junction and against nginx, in the same run, both in
 * front of the suite's origin server on 127.0.0.1:
 *
 *   origin (conformance/origin.mjs) ◄── Junction: `proxy: /`, `cache: { mode: http }`,
 *                                       embedded store (RFC 9111 shared-cache semantics)
 *                                   ◄── nginx: proxy_cache (conformance/nginx.conf)
 *
 * Each target is tested by its own client process (conformance/client.mjs: the suite
 * keeps its results in module state). nginx's published results (shipped in the package)
 * are classified too, for reference. Writes conformance/results.md and
 * conformance/results.json.
 *
 * `node dist/conformance/run.js TEST_ID` runs one test against both and prints the
 * exchanges instead (debugging a failure).
 */
import { spawn, execFile } from 'node:child_process'
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { freePort, ROOT, startJunction, startNode, type Running } from '../bench/lib/processes.js'
import { explain, type Outcome, type TestResult } from './reasons.js'

const run = promisify(execFile)
const NGINX = process.env.NGINX ?? '/usr/sbin/nginx'
const CLIENT = join(ROOT, 'conformance/client.mjs')
/** One client run takes about a minute (tests pause 3 s between some requests). */
const CLIENT_TIMEOUT_MS = 10 * 60_000

type Results = Record<string, TestResult>

interface Stoppable { stop (): Promise<void> }

/** nginx with conformance/nginx.conf in a temporary prefix, in its own process group. */
async function startNginx (origin: string): Promise<Stoppable & { url: string, version: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'junction-conformance-nginx-'))
  // Started as root, nginx's workers run as nobody and must reach the prefix.
  await chmod(dir, 0o755)
  const port = await freePort()
  const template = await readFile(join(ROOT, 'conformance/nginx.conf'), 'utf8')
  await writeFile(join(dir, 'nginx.conf'), template.replaceAll('__LISTEN__', `127.0.0.1:${port}`).replaceAll('__ORIGIN__', origin))
  await run('mkdir', ['-p', join(dir, 'logs'), join(dir, 'tmp')])
  const { stderr: version } = await run(NGINX, ['-v'])
  const child = spawn(NGINX, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', 'stderr', '-g', 'daemon off;'], { detached: true, stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr?.on('data', (d: Buffer) => { stderr += d.toString() })
  const pgid = child.pid as number
  const exited = new Promise(resolve => child.once('exit', resolve))
  const kill = (signal: NodeJS.Signals): void => { try { process.kill(-pgid, signal) } catch {} }
  process.once('exit', () => kill('SIGKILL'))
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      kill('SIGTERM')
      const timer = setTimeout(() => kill('SIGKILL'), 5000)
      await exited
      clearTimeout(timer)
    }
    kill('SIGKILL') // workers that outlived their master
    await rm(dir, { recursive: true, force: true })
  }
  const deadline = Date.now() + 10_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`nginx exited:\n${stderr}`)
    try {
      await fetch(`http://127.0.0.1:${port}/`)
      break
    } catch {}
    if (Date.now() > deadline) {
      await stop()
      throw new Error(`nginx did not start:\n${stderr}`)
    }
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  return { url: `http://127.0.0.1:${port}`, version: version.trim().replace(/^nginx version: nginx\//, ''), stop }
}

/** Runs conformance/client.mjs with `args`; its stdout, or throws with its stderr. */
async function client (args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, ['--no-warnings', CLIENT, ...args], { cwd: ROOT, timeout: CLIENT_TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024 })
  return stdout
}

interface Target { readonly name: string, readonly results: Results }

const PASSING = new Set<Outcome>(['pass', 'yes'])

function counts (results: Results): Record<'required' | 'optimal' | 'check', { total: number, pass: number }> {
  const out = { required: { total: 0, pass: 0 }, optimal: { total: 0, pass: 0 }, check: { total: 0, pass: 0 } }
  for (const r of Object.values(results)) {
    const c = out[r.kind]
    c.total++
    if (PASSING.has(r.outcome)) c.pass++
  }
  return out
}

function outcomeCount (results: Results, kind: TestResult['kind'], outcome: Outcome): number {
  return Object.values(results).filter(r => r.kind === kind && r.outcome === outcome).length
}

function render (targets: readonly Target[], junction: Results, nginx: Results, date: Date): string {
  const lines = [
    '# HTTP caching conformance',
    '',
    'The public HTTP caching test suite ([http-cache-tests](https://github.com/http-tests/cache-tests) 0.4.5, the suite behind',
    'cache-tests.fyi) run by `npm run conformance` against Junction and nginx in the same run, both in',
    'front of the suite\'s origin server on 127.0.0.1. Junction: one route `proxy: /` with',
    '`cache: { mode: http }` on the embedded store. nginx: `proxy_cache` + `proxy_cache_revalidate on`',
    '(conformance/nginx.conf), the configuration of the published nginx run.',
    '',
    `- Date: ${date.toISOString()}`,
    `- Node.js ${process.version}`,
    '',
    'Kinds (the suite\'s own): **required** tests check what RFC 9111 requires; **optimal** tests check',
    'that a response that could be reused is (a miss is not a conformance problem); **check** tests',
    'record a behaviour the spec leaves open ("yes" counts as passed). A test whose prerequisite',
    'test did not pass counts as "dependency failed", not as passed.',
    '',
    '| target | required passed | required failed | required, dependency failed | required, setup failed | optimal passed | check "yes" |',
    '|---|---:|---:|---:|---:|---:|---:|'
  ]
  for (const t of targets) {
    const c = counts(t.results)
    const setup = outcomeCount(t.results, 'required', 'setup_fail') + outcomeCount(t.results, 'required', 'harness_fail') + outcomeCount(t.results, 'required', 'retry')
    lines.push(`| ${t.name} | ${c.required.pass} / ${c.required.total} | ${outcomeCount(t.results, 'required', 'fail')} | ${outcomeCount(t.results, 'required', 'dependency_fail')} | ${setup} | ${c.optimal.pass} / ${c.optimal.total} | ${c.check.pass} / ${c.check.total} |`)
  }
  const failing = Object.entries(junction).filter(([, r]) => r.kind === 'required' && !PASSING.has(r.outcome))
  const worse = failing.filter(([id]) => PASSING.has(nginx[id]?.outcome ?? 'untested'))
  const better = Object.entries(nginx).filter(([id, r]) => r.kind === 'required' && !PASSING.has(r.outcome) && PASSING.has(junction[id]?.outcome ?? 'untested'))
  lines.push('',
    `Required tests Junction passes and nginx (this run) does not: ${better.length}. Required tests nginx passes and Junction does not: ${worse.length}${worse.length > 0 ? ` (${worse.map(([id]) => `\`${id}\``).join(', ')})` : ''}.`,
    '', '## Required tests Junction does not pass', '',
    'Grouped by cause (conformance/reasons.ts; docs/cache.md explains the deliberate deviations).', '')
  const groups = new Map<string, Array<[string, TestResult]>>()
  for (const [id, r] of failing) {
    const reason = explain(id, r, junction)
    groups.set(reason, [...(groups.get(reason) ?? []), [id, r]])
  }
  for (const [reason, tests] of groups) {
    lines.push(`- **${reason}** (${tests.length})`)
    for (const [id, r] of tests) lines.push(`  - \`${id}\` — ${r.outcome.replace('_', ' ')}${r.message === undefined ? '' : `: ${r.message.replace(/\s+/g, ' ').replace(/\|/g, '\\|')}`}`)
  }
  const optional = Object.entries(junction).filter(([, r]) => r.kind === 'optimal' && !PASSING.has(r.outcome))
  lines.push('', '## Optimal tests Junction does not pass', '', 'A response that could have been reused was not (or its dependency failed); allowed by RFC 9111.', '')
  for (const [id, r] of optional) lines.push(`- \`${id}\` — ${r.outcome.replace('_', ' ')}${r.message === undefined ? '' : `: ${r.message.replace(/\s+/g, ' ')}`}`)
  return lines.join('\n') + '\n'
}

async function main (): Promise<void> {
  const only = process.argv[2]
  const started: Stoppable[] = []
  try {
    const origin: Running = await startNode('origin', join(ROOT, 'conformance/origin.mjs'))
    started.push(origin)
    const junction = await startJunction('junction', `
services:
  origin: { urls: [${origin.url}], timeout: 30s }
routes:
  - { proxy: /, service: origin, cache: { mode: http } }
`)
    started.push(junction)
    const nginx = await startNginx(`127.0.0.1:${origin.port}`)
    started.push(nginx)

    if (only !== undefined) {
      for (const [name, url] of [['Junction', junction.url], ['nginx', nginx.url]] as const) {
        process.stdout.write(`\n######## ${name}\n`)
        process.stdout.write(await client([url, only]))
      }
      return
    }
    process.stderr.write('conformance: Junction…\n')
    const junctionResults = JSON.parse(await client([junction.url])) as Results
    process.stderr.write('conformance: nginx…\n')
    const nginxResults = JSON.parse(await client([nginx.url])) as Results
    const published = JSON.parse(await client(['--published', 'nginx'])) as Results
    const targets: Target[] = [
      { name: 'Junction (mode: http, embedded store)', results: junctionResults },
      { name: `nginx ${nginx.version} (this run)`, results: nginxResults },
      { name: 'nginx 1.18.0 (published on cache-tests.fyi, shipped in the package)', results: published }
    ]
    const date = new Date()
    const markdown = render(targets, junctionResults, nginxResults, date)
    await writeFile(join(ROOT, 'conformance/results.md'), markdown)
    const table: Record<string, Record<string, Outcome>> = {}
    for (const id of Object.keys(junctionResults)) {
      table[id] = { junction: junctionResults[id]?.outcome ?? 'untested', nginx: nginxResults[id]?.outcome ?? 'untested', nginxPublished: published[id]?.outcome ?? 'untested' }
    }
    await writeFile(join(ROOT, 'conformance/results.json'), JSON.stringify(table, null, 1) + '\n')
    process.stdout.write(markdown)
  } finally {
    for (const s of started.reverse()) await s.stop()
  }
}

await main()
