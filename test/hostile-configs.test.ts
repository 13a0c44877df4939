/**
 * The bad-config corpus (test/fixtures/hostile-configs.ts) through the real `junction check`
 * command, as users run it: each file must exit 1, print nothing on stdout, and print exactly
 * its pinned error lines, each naming the key path and what is wrong.
 */
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { runCli } from './support/cli.js'
import { tempDir } from './support/gateway.js'
import { HOSTILE_CONFIGS, ROUTE, SERVICES } from './fixtures/hostile-configs.js'

// ~80 node processes: about 20 s on a quiet 2-core machine, several minutes when it is shared.
t.setTimeout(600_000)

/** The environment overrides of docs/config.md, cleared so the machine's own cannot change a result. */
const CLEAN_ENV = { JUNCTION_PORT: '', JUNCTION_HOST: '', JUNCTION_STORE_URL: '', JUNCTION_ADMIN_TOKEN: '', ADMIN_TOKEN: '' }

t.test('the corpus is broad', async t => {
  t.ok(HOSTILE_CONFIGS.length >= 40, `${HOSTILE_CONFIGS.length} bad configs`)
  t.equal(new Set(HOSTILE_CONFIGS.map(c => c.name)).size, HOSTILE_CONFIGS.length, 'every entry has its own name')
  for (const c of HOSTILE_CONFIGS) t.ok(c.errors.length > 0, `${c.name}: names its errors`)
})

t.test('the base the corpus varies is valid', async t => {
  const dir = await tempDir(t)
  const file = join(dir, 'junction.yaml')
  await writeFile(file, SERVICES + ROUTE)
  const res = await runCli(['check', file], { env: CLEAN_ENV })
  t.equal(res.code, 0, res.stderr)
})

t.test('junction check rejects every bad config, naming each key and what is wrong', async t => {
  const dir = await tempDir(t)
  // A few CLI processes at a time: each is a whole node start.
  const queue = HOSTILE_CONFIGS.map((entry, i) => ({ entry, i }))
  const results = new Map<number, { code: number | null, stdout: string, lines: string[], file: string }>()
  await Promise.all(Array.from({ length: 2 }, async () => {
    for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
      const file = join(dir, `config-${next.i}.yaml`)
      await writeFile(file, next.entry.yaml)
      // A generous bound: on a shared machine one node start can take many seconds.
      const res = await runCli(['check', file], { env: { ...CLEAN_ENV, ...next.entry.env }, timeoutMs: 90_000 })
      // Line 1 says which file and how many errors; then one indented line per error.
      const lines = res.stderr.split('\n').slice(1).filter(line => line !== '').map(line => line.replace(/^ {2}/, ''))
      results.set(next.i, { code: res.code, stdout: res.stdout, lines, file })
    }
  }))
  HOSTILE_CONFIGS.forEach((entry, i) => {
    const res = results.get(i)
    t.equal(res?.code, 1, `${entry.name}: exit code`)
    t.equal(res?.stdout, '', `${entry.name}: nothing on stdout`)
    t.same(res?.lines, entry.errors.map(line => line.replaceAll('{file}', res?.file ?? '')), `${entry.name}: errors`)
  })
})
