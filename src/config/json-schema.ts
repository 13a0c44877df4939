/**
 * The published JSON Schema of the config file (schema/junction.schema.json), for editors:
 * with `# yaml-language-server: $schema=<path or URL of junction.schema.json>` at the top of a
 * YAML config, VS Code (YAML extension) and other LSP editors complete keys and show the
 * descriptions as hints.
 *
 * Regenerate after changing ./schema.ts:
 *   npx tsc -p tsconfig.json && node dist/src/config/json-schema.js > schema/junction.schema.json
 * test/config-schema-file.test.ts fails while the committed file is out of date.
 */
import { realpathSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { ConfigSchema } from './schema.js'

export const SCHEMA_ID = 'https://junction.dev/schema/junction.schema.json'

/** The schema as a plain JSON object, with the draft it follows, its id and title first. */
export function jsonSchema (): Record<string, unknown> {
  // JSON round trip: drops TypeBox's symbol-keyed metadata and leaves plain data.
  const { title, description, ...rest } = JSON.parse(JSON.stringify(ConfigSchema)) as Record<string, unknown>
  return { $schema: 'http://json-schema.org/draft-07/schema#', $id: SCHEMA_ID, title, description, ...rest }
}

/** The exact text of schema/junction.schema.json. */
export function jsonSchemaText (): string {
  return JSON.stringify(jsonSchema(), null, 2) + '\n'
}

function isMain (): boolean {
  const entry = process.argv[1]
  if (entry === undefined) return false
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(import.meta.url))
  } catch {
    return false
  }
}

if (isMain()) process.stdout.write(jsonSchemaText())
