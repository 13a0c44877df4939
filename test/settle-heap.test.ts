/**
 * The config schema's compilation must not leave V8's transition table of `{}` full
 * (src/server/settle-heap.ts). Checked in a child process run with --allow-natives-syntax:
 * two objects made by one fresh literal site share one map when the table has room, and
 * each gets a map of its own when it is full. The control builds the same validator without
 * settling and must show the full table, so the check can fail.
 */
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const VALIDATE = fileURLToPath(new URL('../src/config/validate.js', import.meta.url))
const SCHEMA = fileURLToPath(new URL('../src/config/schema.js', import.meta.url))

/** Runs `body` as an ES module with natives syntax; returns what it printed. */
function probe (body: string): string {
  return execFileSync(process.execPath, ['--allow-natives-syntax', '--input-type=module', '-e', `${body}
const key = Symbol('fresh')
const make = () => ({ [key]: 1 });
console.log(%HaveSameMap(make(), make()) ? 'shared' : 'own maps')`], { encoding: 'utf8' }).trim()
}

t.test('after the config validator is compiled, a new object shape still gets one shared map', async t => {
  t.equal(probe(`await import(${JSON.stringify(VALIDATE)})`), 'shared')
})

t.test('control: the same compilation without the settle leaves every new shape its own map', async t => {
  t.equal(probe(`const { Ajv } = await import('ajv')
const { ConfigSchema } = await import(${JSON.stringify(SCHEMA)})
globalThis.v = new Ajv({ strict: true, allErrors: true, useDefaults: true, coerceTypes: true, allowUnionTypes: true, verbose: true }).compile(ConfigSchema)`), 'own maps')
})
