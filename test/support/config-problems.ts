/**
 * What a config is refused with, as the `path: message` lines `junction check` prints:
 * what every config test compares against. The environment is empty unless given, so no
 * variable of the machine running the tests leaks into a config.
 */
import { ConfigError } from '../../src/config/config-error.js'
import { parseConfig, type ParseOptions } from '../../src/config/load.js'

/** The config's problems, or [] when it is accepted. */
export function problemsOf (yaml: string, opts: ParseOptions = {}): string[] {
  try {
    parseConfig(yaml, { env: {}, ...opts })
  } catch (err) {
    if (err instanceof ConfigError) return err.issues.map(i => `${i.path}: ${i.message}`)
    throw err
  }
  return []
}

/** The config's problems; a config that is accepted fails the test. */
export function refusal (yaml: string, opts: ParseOptions = {}): string[] {
  const found = problemsOf(yaml, opts)
  if (found.length === 0) throw new Error('the config was accepted')
  return found
}
