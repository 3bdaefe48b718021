// The operator's dashboard: every app's health over the last hour
// (GET /v1/admin/health) as small hand-drawn SVG charts — invocations,
// error rate, p99 latency, queue depth — with the app's actions (suspend or
// resume, roll back to an earlier approved version, live limits); the
// members' open reports with the operator's actions on them; the review
// queue (review.js). Refreshed every REFRESH_MS while the page is visible;
// a refresh redraws charts and lists but keeps what the operator is typing
// (a card's limits form, a report's note, a review's checkboxes).

import { $, h, timeLabel, shortId } from './dom.js';
import { api, report, notice, clearStatus } from './api.js';
import { loadReviews } from './review.js';

const REFRESH_MS = 15_000;
const SVG = 'http://www.w3.org/2000/svg';
// Chart geometry: one 2-unit column per minute.
const W = 120;
const H = 32;

let timer = null;
const cards = new Map(); // app id -> <li> of its health card
const appNames = new Map(); // app id -> name, for the reports
let reportsKey = null;

/** An SVG element (h() makes HTML ones). */
function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) el.setAttribute(k, String(v));
  for (const c of children.flat()) if (c) el.append(c);
  return el;
}

/** Signs the operator's page in: loads everything, then refreshes periodically. */
export async function startDashboard() {
  stopDashboard();
  await refreshDashboard();
  timer = setInterval(() => {
    if (!document.hidden) refreshDashboard();
  }, REFRESH_MS);
}

/** Stops refreshing and forgets what was shown (on sign-out). */
export function stopDashboard() {
  clearInterval(timer);
  timer = null;
  cards.clear();
  appNames.clear();
  reportsKey = null;
  for (const id of ['health-list', 'report-list', 'queue-chart']) $(id).replaceChildren();
}

/** Reloads health, reports and reviews; keeps the operator's half-done input. */
export async function refreshDashboard() {
  await loadHealth();
  await Promise.all([loadReports(), loadReviews({ keep: true })]);
  $('dashboard-updated').textContent = `updated ${new Date().toLocaleTimeString()}`;
}

// ----------------------------------------------------------------- charts

function fmt(n, digits = 1) {
  if (n === null || n === undefined) return '–';
  return Number.isInteger(n) ? String(n) : n.toFixed(digits);
}

/**
 * A small chart of one value per minute (null: no data then): bars, or a
 * line with a dot on each point. `unit` follows the numbers in its text.
 */
function chart({ testid, label, values, kind, unit = '', cls = '' }) {
  const present = values.filter((v) => v !== null && v !== undefined);
  const peak = present.length ? Math.max(...present) : 0;
  const last = [...values].reverse().find((v) => v !== null && v !== undefined);
  const total = present.reduce((a, b) => a + b, 0);
  const scale = (v) => (peak > 0 ? (v / peak) * (H - 2) : 0);
  const marks = [];
  if (kind === 'bars') {
    values.forEach((v, i) => {
      if (!v) return;
      const height = Math.max(scale(v), 1);
      marks.push(s('rect', { class: 'bar', x: i * 2 + 0.2, y: H - height, width: 1.6, height }));
    });
  } else {
    // Runs of consecutive points are joined; every point gets a dot.
    let run = [];
    const flush = () => {
      if (run.length > 1) marks.push(s('polyline', { class: 'line', points: run.join(' ') }));
      run = [];
    };
    values.forEach((v, i) => {
      if (v === null || v === undefined) return flush();
      const x = i * 2 + 1;
      const y = H - 1 - scale(v);
      run.push(`${x.toFixed(1)},${y.toFixed(2)}`);
      marks.push(s('circle', { class: 'dot', cx: x, cy: y, r: 1.5 }));
    });
    flush();
  }
  const summary = present.length
    ? `${label}: latest ${fmt(last)}${unit}, peak ${fmt(peak)}${unit}`
    : `${label}: no data in the last hour`;
  const svg = s('svg', {
    class: `spark ${cls}`,
    viewBox: `0 0 ${W} ${H}`,
    preserveAspectRatio: 'none',
    role: 'img',
    'aria-label': summary,
    'data-testid': testid,
    'data-total': total,
    'data-points': present.length,
    'data-peak': peak,
  },
  s('title', {}, summary),
  s('line', { class: 'axis', x1: 0, y1: H - 0.5, x2: W, y2: H - 0.5 }),
  marks);
  return h('figure', { class: 'chart' },
    h('figcaption', {}, h('span', {}, label), h('strong', {}, present.length ? `${fmt(last)}${unit}` : '–')),
    svg);
}

// ----------------------------------------------------------------- health

async function loadHealth() {
  let data;
  try {
    data = await api('GET', '/v1/admin/health');
  } catch (e) {
    report(e, 'Loading app health');
    return;
  }
  const apps = data.apps || [];
  for (const app of apps) appNames.set(app.app, app.name);
  const seen = new Set();
  const ordered = apps.map((app) => {
    seen.add(app.app);
    let li = cards.get(app.app);
    if (!li) {
      li = h('li', { class: 'card health-card', dataset: { testid: 'health-card', app: app.app } },
        h('div', { class: 'health-body' }),
        appActions(app));
      cards.set(app.app, li);
    }
    li.dataset.status = app.status;
    li.dataset.version = app.running_version || '';
    li.querySelector('.health-body').replaceChildren(...healthBody(app));
    return li;
  });
  for (const id of [...cards.keys()]) if (!seen.has(id)) cards.delete(id);
  const list = $('health-list');
  const same = list.children.length === ordered.length && ordered.every((li, i) => list.children[i] === li);
  if (!same) list.replaceChildren(...ordered);
  $('health-empty').hidden = apps.length > 0;
  $('queue-chart').replaceChildren(...queueCharts(data.queue || []));
}

function healthBody(app) {
  const minutes = app.minutes || [];
  const rate = minutes.map((m) => (m.invocations ? (100 * m.errors) / m.invocations : null));
  const errorPct = app.invocations ? (100 * app.errors) / app.invocations : 0;
  const suspended = app.status === 'suspended';
  const toggle = suspended
    ? h('button', { type: 'button', class: 'primary', dataset: { testid: 'app-resume' }, onclick: () => appAction(app, 'resume') }, 'Resume')
    : h('button', { type: 'button', class: 'danger', dataset: { testid: 'app-suspend' }, onclick: () => appAction(app, 'suspend') }, 'Suspend');
  return [
    h('header', { class: 'health-head' },
      h('h3', {}, app.name, ' ', app.running_version ? h('span', { class: 'version' }, app.running_version) : null),
      h('span', { class: `tag ${suspended ? 'warn' : 'ok'}`, dataset: { testid: 'app-status' } }, app.status),
      toggle),
    h('p', { class: 'muted small-text', dataset: { testid: 'health-totals' } },
      `${app.invocations} invocations · ${app.errors} errors (${fmt(errorPct)}%) · p99 ${app.p99_ms === null ? '–' : `${fmt(app.p99_ms)} ms`} · last hour`),
    h('div', { class: 'charts' },
      chart({ testid: 'chart-invocations', label: 'Invocations/min', values: minutes.map((m) => m.invocations), kind: 'bars' }),
      chart({ testid: 'chart-errors', label: 'Error rate', values: rate, kind: 'line', unit: '%', cls: 'bad' }),
      chart({ testid: 'chart-p99', label: 'p99 latency', values: minutes.map((m) => m.p99_ms), kind: 'line', unit: ' ms' }),
      chart({ testid: 'chart-queue', label: 'Queue depth', values: minutes.map((m) => m.queue_depth), kind: 'bars', cls: 'queue' })),
  ];
}

function queueCharts(series) {
  if (!series.length) return [h('p', { class: 'muted' }, 'The queue has not been sampled yet.')];
  return [
    h('h3', {}, 'Job queue, host-wide'),
    h('div', { class: 'charts' }, series.map((q) => chart({
      testid: `queue-${q.kind === '*' ? 'all' : q.kind}`,
      label: q.kind === '*' ? 'All jobs' : `${q.kind} jobs`,
      values: q.minutes.map((m) => m.depth),
      kind: 'bars',
      cls: 'queue',
    }))),
  ];
}

async function appAction(app, action, body) {
  try {
    await api('POST', `/v1/apps/${encodeURIComponent(app.app)}/${action}`, body);
    const done = { suspend: 'Suspended', resume: 'Resumed', rollback: 'Rolled back' }[action];
    notice(`${done} ${app.name}${body && body.version ? ` to ${body.version}` : ''}.`);
    clearStatus();
  } catch (e) {
    report(e, `${action[0].toUpperCase()}${action.slice(1)} ${app.name}`);
  }
  await loadHealth();
}

// ------------------------------------------------ versions and live limits

const LIMIT_FIELDS = [
  ['cpu_ms', 'CPU ms per invocation'],
  ['wall_ms', 'Wall ms per invocation'],
  ['memory_mib', 'Memory MiB'],
  ['messages_per_invocation', 'Messages per invocation'],
  ['messages_per_chat_per_minute', 'Messages per chat per minute'],
  ['storage_mib', 'Storage MiB'],
];

/** The card's actions that keep their state across refreshes: versions to roll back to, and limits. */
function appActions(app) {
  const body = h('div', { class: 'versions' }, h('p', { class: 'muted small-text' }, 'Loading…'));
  const details = h('details', { class: 'app-actions', dataset: { testid: 'app-manage' } },
    h('summary', {}, 'Versions and limits'),
    body);
  details.addEventListener('toggle', () => {
    if (details.open) loadVersions(app, body);
  });
  return details;
}

async function loadVersions(app, box) {
  let info;
  try {
    info = await api('GET', `/v1/apps/${encodeURIComponent(app.app)}`);
  } catch (e) {
    box.replaceChildren(h('p', { class: 'warn-text small-text' }, 'Could not load the versions.'));
    report(e, `Loading ${app.name}`);
    return;
  }
  const running = info.active_version;
  const approved = (info.versions || []).filter((v) => v.status === 'approved');
  const current = approved.find((v) => v.version === running);
  const limits = (current && current.limits) || {};
  const inputs = LIMIT_FIELDS.map(([name, label]) => {
    const id = `limit-${app.app}-${name}`;
    return h('label', { class: 'limit', for: id }, label,
      h('input', { id, type: 'number', min: '1', inputmode: 'numeric', value: limits[name] ?? '', placeholder: 'host default', dataset: { testid: `limit-${name}`, limit: name } }));
  });
  const form = h('form', { class: 'limits', dataset: { testid: 'limits-form' } },
    h('p', { class: 'small-text muted' }, `Limits of the running ${running || 'version'}, changed live; empty keeps the host default.`),
    h('div', { class: 'limit-grid' }, inputs),
    h('button', { type: 'submit', dataset: { testid: 'limits-save' } }, 'Save limits'));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const overrides = {};
    for (const input of form.querySelectorAll('input[data-limit]')) {
      if (input.value.trim() !== '') overrides[input.dataset.limit] = Number(input.value);
    }
    try {
      await api('PUT', `/v1/apps/${encodeURIComponent(app.app)}/limits`, overrides);
      notice(`Limits of ${app.name} saved.`);
      clearStatus();
    } catch (e) {
      report(e, `Saving the limits of ${app.name}`);
    }
  });
  const others = approved.filter((v) => v.version !== running);
  box.replaceChildren(
    h('p', { class: 'small-text' }, 'Running: ', h('code', {}, running || 'none')),
    others.length
      ? h('ul', { class: 'plain' }, others.map((v) => h('li', {},
        h('button', { type: 'button', dataset: { testid: 'app-rollback', version: v.version }, onclick: () => appAction(app, 'rollback', { version: v.version }) }, `Roll back to ${v.version}`))))
      : h('p', { class: 'muted small-text' }, 'No other approved version to roll back to.'),
    running ? form : null);
}

// ---------------------------------------------------------------- reports

async function loadReports() {
  let list;
  try {
    list = (await api('GET', '/v1/reports?status=open')).reports || [];
  } catch (e) {
    report(e, 'Loading reports');
    return;
  }
  // Redrawn only when the queue changed, so a half-written note survives.
  const key = list.map((r) => `${r.id}:${JSON.stringify(r.current)}`).join('|');
  if (key === reportsKey) return;
  reportsKey = key;
  $('report-empty').hidden = list.length > 0;
  $('report-list').replaceChildren(...list.map(renderReport));
}

function renderReport(r) {
  const snap = r.snapshot || {};
  const current = r.current || {};
  const appName = r.app ? appNames.get(r.app) || snap.name || shortId(r.app) : null;
  const deleted = current.message_deleted === true;
  const what = r.target === 'message'
    ? [
      h('blockquote', { class: 'reported-text', dataset: { testid: 'report-text' } }, snap.text || '(no text)'),
      (snap.files || []).length ? h('p', { class: 'small-text' }, 'files: ', snap.files.map((f) => f.name).join(', ')) : null,
      h('p', { class: 'muted small-text' },
        `sent by ${snap.sender ? `${snap.sender.kind} ${shortId(snap.sender.id)}` : '?'}`,
        appName ? ` (app ${appName})` : '',
        r.chat ? ` in chat ${shortId(r.chat)}` : '',
        deleted ? ' · already deleted' : ''),
    ]
    : [h('p', {}, 'App ', h('strong', {}, appName), snap.version ? ` ${snap.version}` : '', current.app_status ? ` · now ${current.app_status}` : '')];
  const note = h('input', { type: 'text', placeholder: 'Note (optional)', 'aria-label': 'Note on the decision', dataset: { testid: 'report-note' } });
  const li = h('li', { class: 'card report', dataset: { testid: 'report-item', id: r.id, target: r.target } },
    h('header', { class: 'report-head' },
      h('span', { class: 'tag warn' }, r.reason.replace(/_/g, ' ')),
      h('span', {}, r.target === 'message' ? 'Message' : 'App'),
      h('span', { class: 'muted small-text' }, `reported ${timeLabel(r.created_at)} by ${shortId(r.reporter)}`)),
    what,
    r.note ? h('p', { class: 'small-text' }, 'Reporter says: ', h('q', {}, r.note)) : null,
    h('div', { class: 'report-actions' },
      note,
      h('button', { type: 'button', dataset: { testid: 'report-dismiss' }, onclick: () => act(r, li, 'dismiss') }, 'Dismiss'),
      r.target === 'message' && !deleted
        ? h('button', { type: 'button', class: 'danger', dataset: { testid: 'report-delete' }, onclick: () => act(r, li, 'delete_message') }, 'Delete the message')
        : null,
      r.app && current.app_status !== 'suspended'
        ? h('button', { type: 'button', class: 'danger', dataset: { testid: 'report-suspend' }, onclick: () => act(r, li, 'suspend_app') }, `Suspend ${appName}`)
        : null));
  return li;
}

async function act(r, li, action) {
  for (const b of li.querySelectorAll('button')) b.disabled = true;
  const note = li.querySelector('input[data-testid="report-note"]').value.trim();
  try {
    await api('POST', `/v1/reports/${encodeURIComponent(r.id)}`, { action, note });
    notice({ dismiss: 'Report dismissed.', delete_message: 'Message deleted; report closed.', suspend_app: 'App suspended; report closed.' }[action]);
    clearStatus();
  } catch (e) {
    report(e, 'Acting on the report');
    for (const b of li.querySelectorAll('button')) b.disabled = false;
  }
  reportsKey = null;
  await loadReports();
  if (action === 'suspend_app') await loadHealth();
}
