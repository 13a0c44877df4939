/**
 * The dashboard's script and stylesheet, served by the gateway itself (no CDN, no build
 * step): small enough to keep as text here, which also puts them in dist/ with the rest.
 *
 * The script refreshes the server-rendered panel every few seconds and turns the
 * replay/discard buttons into calls of the admin API, carrying the page's CSRF token in
 * X-CSRF-Token (the session cookie alone is not enough for a change).
 */

export const DASHBOARD_SCRIPT = `'use strict';
(() => {
  const panel = document.getElementById('panel');
  const status = document.getElementById('status');
  const csrf = document.querySelector('meta[name="csrf-token"]').getAttribute('content');
  const refreshMs = Math.max(500, Number(panel.dataset.refreshMs) || 2000);
  let ended = false;

  const say = text => { status.textContent = text; };

  async function refresh () {
    const res = await fetch('/admin/panel', { credentials: 'same-origin', cache: 'no-store' });
    if (res.status === 401) {
      ended = true;
      say('The session has ended: reload the page to log in again.');
      return;
    }
    if (!res.ok) { say('Refresh failed: HTTP ' + res.status); return; }
    panel.innerHTML = await res.text();
  }

  function schedule () {
    if (ended) return;
    setTimeout(() => { refresh().catch(err => say('Refresh failed: ' + err.message)).finally(schedule); }, refreshMs);
  }

  const ACTIONS = {
    'replay': (dep, id) => ['POST', '/admin/outbox/' + dep + '/dead/' + id + '/replay'],
    'discard': (dep, id) => ['DELETE', '/admin/outbox/' + dep + '/dead/' + id],
    'replay-all': dep => ['POST', '/admin/outbox/' + dep + '/replay'],
    'discard-all': dep => ['DELETE', '/admin/outbox/' + dep + '/dead']
  };

  panel.addEventListener('click', async event => {
    const button = event.target.closest('button[data-action]');
    if (button === null) return;
    const action = button.dataset.action;
    const dependent = button.dataset.dependent;
    if (action.startsWith('discard') && !window.confirm('Discard ' + (action === 'discard' ? 'this dead letter' : 'every dead letter') + ' of ' + dependent + '? It will not be delivered.')) return;
    const [method, url] = ACTIONS[action](encodeURIComponent(dependent), encodeURIComponent(button.dataset.id || ''));
    button.disabled = true;
    try {
      const res = await fetch(url, { method, credentials: 'same-origin', headers: { 'x-csrf-token': csrf } });
      const body = await res.json().catch(() => ({}));
      if (res.ok) {
        const count = body.replayed ?? body.discarded ?? 0;
        say((body.replayed !== undefined ? 'Replayed ' : 'Discarded ') + count + ' dead letter' + (count === 1 ? '' : 's') + ' of ' + dependent + '.');
      } else {
        say(body.detail || ('HTTP ' + res.status));
      }
      await refresh();
    } catch (err) {
      say('Request failed: ' + err.message);
    } finally {
      button.disabled = false;
    }
  });

  schedule();
})();
`

export const DASHBOARD_CSS = `:root { font-family: system-ui, sans-serif; color: #1b1f24; background: #fafafa; }
body { margin: 0 auto; max-width: 72rem; padding: 1rem; }
header { display: flex; justify-content: space-between; align-items: center; }
h1 { font-size: 1.4rem; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0 1rem; background: #fff; }
th, td { border: 1px solid #d0d7de; padding: .3rem .5rem; text-align: left; vertical-align: top; font-size: .9rem; }
tr.down td { background: #fff0f0; }
pre { margin: .2rem 0 0; white-space: pre-wrap; word-break: break-all; max-width: 28rem; font-size: .8rem; }
.counters { display: grid; grid-template-columns: repeat(6, auto); gap: .2rem 1rem; }
.counters dt { font-weight: 600; }
.counters dd { margin: 0; }
.chart svg { background: #fff; border: 1px solid #d0d7de; max-width: 100%; height: auto; }
polyline { fill: none; stroke-width: 2; }
polyline.oldest { stroke: #cf222e; }
polyline.lag { stroke: #0969da; }
span.oldest { color: #cf222e; }
span.lag { color: #0969da; }
.error { color: #cf222e; }
.login { max-width: 24rem; }
.login input { display: block; width: 100%; margin: .3rem 0 .8rem; padding: .4rem; }
#status { min-height: 1.2rem; }
`
