/**
 * The admin dashboard's HTML, rendered on the server from a DashboardSnapshot: the login
 * page, the page shell and the panel the page's script swaps in on every refresh. Every
 * value from outside (service answers, entity paths, URLs) goes through escapeHtml; the
 * page loads no inline script or style (its Content-Security-Policy allows none) and
 * nothing from another origin.
 */
import type { DeadLetter } from '../outbox/types.js'
import type { DashboardSnapshot, DependentView, RouteView, ServiceView } from './dashboard-model.js'
import type { LagSample } from './lag-history.js'

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }

export function escapeHtml (text: string): string {
  return text.replace(/[&<>"']/g, c => ESCAPES[c] as string)
}

/** The Content-Security-Policy of every dashboard page: same-origin script and style only. */
export const DASHBOARD_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

function page (title: string, head: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<link rel="stylesheet" href="/admin/dashboard.css">
${head}</head>
<body>
${body}
</body>
</html>
`
}

export function loginPage (error?: string): string {
  const message = error === undefined ? '' : `<p class="error" role="alert">${escapeHtml(error)}</p>\n`
  return page('Junction admin: log in', '', `<main class="login">
<h1>Junction admin</h1>
${message}<form method="post" action="/admin/login">
<label for="token">Admin token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
<button type="submit">Log in</button>
</form>
<p class="hint">The token is the gateway's ADMIN_TOKEN. It is sent once, in this form's body; the browser then holds an HttpOnly session cookie.</p>
</main>`)
}

export function dashboardPage (snapshot: DashboardSnapshot, csrfToken: string, refreshMs: number): string {
  return page('Junction admin', `<meta name="csrf-token" content="${escapeHtml(csrfToken)}">
<script src="/admin/dashboard.js" defer></script>
`, `<header>
<h1>Junction admin</h1>
<form method="post" action="/admin/logout"><button type="submit">Log out</button></form>
</header>
<p id="status" role="status"></p>
<main id="panel" data-refresh-ms="${refreshMs}">
${panel(snapshot)}
</main>`)
}

/** The part of the page that is refreshed. */
export function panel (s: DashboardSnapshot): string {
  return `<p class="updated">Updated <time datetime="${new Date(s.at).toISOString()}">${new Date(s.at).toISOString().slice(11, 19)} UTC</time></p>
<section id="services"><h2>Services</h2>
${servicesTable(s.services)}
</section>
<section id="routes"><h2>Routes</h2>
${routesTable(s.routes)}
</section>
<section id="outbox"><h2>Outbox</h2>
${s.dependents.length === 0 ? '<p>No dependent services.</p>' : s.dependents.map(dependentSection).join('\n')}
</section>`
}

function servicesTable (services: readonly ServiceView[]): string {
  const rows = services.flatMap(service => service.upstreams.map((u, i) => `<tr class="${u.inRotation ? 'up' : 'down'}">
${i === 0 ? `<th scope="row" rowspan="${service.upstreams.length}">${escapeHtml(service.name)}</th>` : ''}<td>${escapeHtml(u.origin)}</td><td>${u.inRotation ? 'in rotation' : 'out of rotation'}</td><td>${u.breaker}${u.breaker === 'open' && u.coolDownLeftMs > 0 ? ` (probe in ${Math.ceil(u.coolDownLeftMs / 1000)} s)` : ''}</td><td>${u.health}</td></tr>`))
  return `<table><thead><tr><th>Service</th><th>URL</th><th>Rotation</th><th>Circuit breaker</th><th>Health check</th></tr></thead>
<tbody>${rows.join('\n')}</tbody></table>`
}

function routesTable (routes: readonly RouteView[]): string {
  const rows = routes.map(r => {
    const c = r.cache
    const cache = c === undefined
      ? '<td colspan="2">not cached</td>'
      : `<td class="ratio">${c.hitRatio === undefined ? '–' : `${(c.hitRatio * 100).toFixed(1)}%`}</td><td>${c.hits} hit, ${c.stale} stale, ${c.revalidated} revalidated, ${c.misses} miss, ${c.bypasses} bypass</td>`
    return `<tr><td>${r.kind}</td><td><code>${escapeHtml(r.match)}</code></td><td>${r.services.map(escapeHtml).join(', ')}</td>${cache}</tr>`
  })
  return `<table><thead><tr><th>Kind</th><th>Route</th><th>Services</th><th>Cache hit ratio</th><th>Cache outcomes (this instance)</th></tr></thead>
<tbody>${rows.join('\n')}</tbody></table>`
}

function dependentSection (d: DependentView): string {
  const name = escapeHtml(d.dependent)
  const lag = d.lagMs === undefined ? 'no delivery yet' : `${d.lagMs} ms`
  const bulk = d.dead === 0
    ? ''
    : `<button type="button" data-action="replay-all" data-dependent="${name}">Replay all ${d.dead}</button> <button type="button" data-action="discard-all" data-dependent="${name}">Discard all ${d.dead}</button>`
  return `<article class="dependent" data-dependent="${name}">
<h3>${name}</h3>
<dl class="counters"><dt>Pending</dt><dd class="pending">${d.pending}</dd><dt>In flight</dt><dd>${d.inFlight}</dd><dt>Retrying</dt><dd>${d.retrying}</dd><dt>Dead</dt><dd class="dead">${d.dead}</dd><dt>Oldest undelivered</dt><dd>${d.oldestAgeMs} ms</dd><dt>Last lag</dt><dd>${lag}</dd></dl>
${lagChart(d.history)}
<h4>Dead letters</h4>
${d.deadLetters.length === 0 ? '<p class="no-dead">No dead letters.</p>' : `<p>${bulk}</p>\n${deadTable(d.dependent, d.deadLetters)}${d.moreDead ? `\n<p>Showing the oldest ${d.deadLetters.length} of ${d.dead}; GET /admin/outbox/${name}/dead pages through all.</p>` : ''}`}
</article>`
}

function deadTable (dependent: string, letters: readonly DeadLetter[]): string {
  const dep = escapeHtml(dependent)
  const rows = letters.map(l => {
    const id = escapeHtml(l.id)
    const last = l.lastResponse === undefined ? '<td>no answer</td>' : `<td><span class="status">HTTP ${l.lastResponse.status}</span><pre>${escapeHtml(l.lastResponse.body)}</pre></td>`
    return `<tr class="dead-letter" data-id="${id}"><td><code>${escapeHtml(l.request.method)} ${escapeHtml(l.request.path)}</code><br>version ${l.request.version}</td><td>${l.attempts}</td><td>${new Date(l.deadAt).toISOString()}</td><td>${escapeHtml(l.reason)}</td>${last}<td><button type="button" data-action="replay" data-dependent="${dep}" data-id="${id}">Replay</button> <button type="button" data-action="discard" data-dependent="${dep}" data-id="${id}">Discard</button></td></tr>`
  })
  return `<table class="dead-letters"><thead><tr><th>Delivery</th><th>Attempts</th><th>Dead since</th><th>Reason</th><th>Last response</th><th></th></tr></thead>
<tbody>${rows.join('\n')}</tbody></table>`
}

const W = 600
const H = 120

/**
 * The lag chart: an inline SVG (no script, no library) of the oldest undelivered entry's age (retries included)
 * and the last delivery's lag, one point per sample, scaled to the largest value shown.
 */
export function lagChart (samples: readonly LagSample[]): string {
  if (samples.length < 2) return '<p class="chart-empty">Lag chart: collecting samples…</p>'
  const first = (samples[0] as LagSample).at
  const span = Math.max(1, (samples[samples.length - 1] as LagSample).at - first)
  const max = Math.max(1, ...samples.map(s => Math.max(s.oldestAgeMs, s.lagMs ?? 0)))
  const line = (value: (s: LagSample) => number | undefined): string => samples
    .flatMap(s => {
      const v = value(s)
      return v === undefined ? [] : [`${((s.at - first) / span * W).toFixed(1)},${(H - v / max * H).toFixed(1)}`]
    })
    .join(' ')
  const minutes = (span / 60_000).toFixed(1)
  return `<figure class="chart">
<svg viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="Outbox lag over the last ${minutes} minutes, up to ${max} ms">
<polyline class="oldest" points="${line(s => s.oldestAgeMs)}"/>
<polyline class="lag" points="${line(s => s.lagMs)}"/>
</svg>
<figcaption>Last ${minutes} min, top of chart ${max} ms: <span class="oldest">oldest waiting</span>, <span class="lag">last delivery lag</span>. Sampled by this instance.</figcaption>
</figure>`
}
