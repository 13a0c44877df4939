/**
 * A real browser for the admin dashboard tests: Debian's chromium (apt-get install
 * chromium; .ci/run installs it) driven by playwright-core, headless. One browser per test
 * file, a fresh context (cookies, storage) per test.
 */
import { chromium, type Browser, type BrowserContext } from 'playwright-core'

interface Teardown { teardown (fn: () => unknown): void }

export const CHROMIUM = process.env.JUNCTION_CHROMIUM ?? '/usr/bin/chromium'

export async function launchBrowser (t: Teardown): Promise<Browser> {
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'], timeout: 30_000 })
  t.teardown(() => browser.close())
  return browser
}

export async function newContext (t: Teardown, browser: Browser): Promise<BrowserContext> {
  const context = await browser.newContext()
  // Every wait in these tests is bounded; none may hang a test.
  context.setDefaultTimeout(15_000)
  t.teardown(() => context.close())
  return context
}
