/**
 * schema/junction.schema.json is generated from src/config/schema.ts and committed for
 * editors. This fails while it is stale; regenerate with:
 *   npx tsc -p tsconfig.json && node dist/src/config/json-schema.js > schema/junction.schema.json
 */
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { Ajv } from 'ajv'
import YAML from 'yaml'
import { jsonSchema, jsonSchemaText, SCHEMA_ID } from '../src/config/json-schema.js'

// dist/test/x.js → repository root.
const ROOT = new URL('../../', import.meta.url)

t.test('schema/junction.schema.json is up to date with src/config/schema.ts', async t => {
  const committed = await readFile(fileURLToPath(new URL('schema/junction.schema.json', ROOT)), 'utf8')
  t.equal(committed, jsonSchemaText(),
    'stale: run `npx tsc -p tsconfig.json && node dist/src/config/json-schema.js > schema/junction.schema.json`')
})

t.test('it is a draft-07 schema with an id and a title', async t => {
  const schema = jsonSchema()
  t.equal(schema.$schema, 'http://json-schema.org/draft-07/schema#')
  t.equal(schema.$id, SCHEMA_ID)
  t.equal(schema.title, 'Junction gateway configuration')
  t.same(Object.keys(schema).slice(0, 3), ['$schema', '$id', 'title'])
})

t.test('every property has a description (they are the editor hints)', async t => {
  const missing: string[] = []
  const walk = (node: unknown, path: string): void => {
    if (typeof node !== 'object' || node === null) return
    const record = node as Record<string, unknown>
    for (const group of ['properties', 'patternProperties'] as const) {
      const props = record[group]
      if (typeof props !== 'object' || props === null) continue
      for (const [key, child] of Object.entries(props)) {
        if (typeof (child as { description?: unknown }).description !== 'string') missing.push(`${path}.${key}`)
        walk(child, `${path}.${key}`)
      }
    }
    for (const key of ['items', 'anyOf'] as const) {
      const value = record[key]
      if (Array.isArray(value)) value.forEach((child, i) => walk(child, `${path}.${key}[${i}]`))
      else walk(value, `${path}.${key}`)
    }
  }
  walk(jsonSchema(), '')
  t.same(missing, [])
})

t.test('a standard validator accepts the example config with the published file', async t => {
  const schema = JSON.parse(await readFile(fileURLToPath(new URL('schema/junction.schema.json', ROOT)), 'utf8')) as Record<string, unknown>
  const validate = new Ajv({ strict: false, allowUnionTypes: true }).compile(schema)
  const example: unknown = YAML.parse(await readFile(fileURLToPath(new URL('examples/junction.yaml', ROOT)), 'utf8'))
  t.ok(validate(example), JSON.stringify(validate.errors))
  t.notOk(validate({ routes: [{ proxy: '/a', sevice: 'x' }] }), 'typos are caught by editors too')
})
