// Runs the whole suite (as the package's cli.mjs does, surrogate-control tests included)
// against one base URL and prints one JSON object: test id → { suite, name, kind, outcome,
// message }, where outcome is the suite's own classification (lib/display.mjs:
// pass, fail, optional_fail, yes, no, setup_fail, harness_fail, dependency_fail, retry,
// untested) and, for a test that needs others to pass first, dependsOn. The client keeps its results in module state, so each target gets its own
// process: `node conformance/client.mjs http://127.0.0.1:PORT`.
// With a second argument (a test id), runs that test only and prints its exchange.
import { readFile } from 'node:fs/promises'
import fetch from 'node-fetch'
import { runTests, getResults } from 'http-cache-tests/client/runner.mjs'
import { determineTestResult } from 'http-cache-tests/lib/display.mjs'
import tests from 'http-cache-tests/tests/index.mjs'
import surrogate from 'http-cache-tests/tests/surrogate-control.mjs'

const OUTCOMES = {
  '-': 'untested',
  '✅': 'pass',
  '⛔️': 'fail',
  '⚠️': 'optional_fail',
  Y: 'yes',
  N: 'no',
  '🔹': 'setup_fail',
  '⁉️': 'harness_fail',
  '⚪️': 'dependency_fail',
  '↻': 'retry'
}

const [base, only] = process.argv.slice(2)
if (base === undefined) {
  process.stderr.write('usage: node conformance/client.mjs BASE_URL [TEST_ID] | --published NAME\n')
  process.exit(2)
}
const suites = [...tests, surrogate]

/** Classifies results the way cache-tests.fyi shows them. */
export function classify (results) {
  const out = {}
  for (const suite of suites) {
    for (const test of suite.tests) {
      if (test.browser_only === true) continue
      const symbol = determineTestResult(suites, test.id, results)[2]
      const raw = results[test.id]
      out[test.id] = {
        suite: suite.name,
        name: test.name,
        kind: test.kind ?? 'required',
        outcome: OUTCOMES[symbol] ?? symbol,
        ...(test.depends_on === undefined ? {} : { dependsOn: test.depends_on }),
        ...(Array.isArray(raw) ? { message: String(raw[1]) } : {})
      }
    }
  }
  return out
}

/** The published results the package ships (results/nginx.json: nginx as cache-tests.fyi ran it). */
async function published (name) {
  const file = new URL(`../results/${name}.json`, import.meta.resolve('http-cache-tests/tests/index.mjs'))
  return classify(JSON.parse(await readFile(file, 'utf8')))
}

/** Runs the suite, or the one test `id` (its exchange is logged by the suite itself). */
async function run (url, id) {
  let selected = suites
  if (id !== undefined) {
    selected = []
    for (const suite of suites) {
      const test = suite.tests.find(t => t.id === id)
      if (test !== undefined) selected.push({ ...suite, tests: [{ ...test, dump: true }] })
    }
    if (selected.length === 0) throw new Error(`no test ${id}`)
  }
  await runTests(selected, fetch, false, url.replace(/\/$/, ''))
  const results = getResults()
  return id === undefined ? classify(results) : results[id]
}

const output = base === '--published' ? await published(only) : await run(base, only)
process.stdout.write(JSON.stringify(output) + '\n')
