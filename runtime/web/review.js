// The operator's review queue (part of the dashboard, dashboard.js):
// versions waiting for review, each with its requested grants and real
// imports (the host's grant table, `import_rules`, says which
// grants unlock which import), approving or rejecting, and crediting a wallet.

import { $, h, money, parseMoney } from './dom.js';
import { api, report, clearStatus, notice } from './api.js';

// Which grants unlock an import: the host's own table, served with the
// review item (`import_rules`): 'always', 'unknown' or a list of grants.
function importRule(item, name) {
  const served = (item.import_rules || []).find((r) => r.import === name);
  if (!served) return 'unknown';
  return served.rule === 'needs' ? served.grants : served.rule;
}

function grantUnlocks(grant, rule) {
  return Array.isArray(rule) && rule.some((g) => (g === 'http:' ? grant.startsWith('http:') : g === grant));
}

let shownKey = null;

/** Loads the pending versions; with `keep`, leaves the list alone when the
 *  same versions wait (a periodic refresh keeps the operator's checkboxes). */
export async function loadReviews({ keep = false } = {}) {
  try {
    const list = await api('GET', '/v1/review');
    renderReviews(Array.isArray(list) ? list : list.versions || list.pending || [], keep);
  } catch (e) {
    report(e, 'Loading pending reviews');
  }
}

function renderReviews(list, keep) {
  const key = list.map((i) => `${i.app}@${i.version}`).join('|');
  if (keep && key === shownKey && $('review-list').children.length === list.length) return;
  shownKey = key;
  $('review-empty').hidden = list.length > 0;
  $('review-list').replaceChildren(...list.map(renderReviewItem));
}

function renderReviewItem(item) {
  const requested = (item.requested || []).map((r) => (typeof r === 'string' ? { name: r, reason: '' } : r));
  const imports = item.imports || [];
  const rules = imports.map((i) => ({ name: i, rule: importRule(item, i) }));
  const capabilityImports = rules.filter((r) => r.rule !== 'always');
  const sandboxedImports = rules.filter((r) => r.rule === 'always');

  // For an upgrade, what the running version was not granted starts
  // unchecked: the operator grants each new capability explicitly.
  const upgrade = item.upgrade || null;
  const added = new Set(upgrade ? upgrade.capabilities_added : []);
  const grants = requested.map((r) => {
    const usedBy = rules.filter((x) => grantUnlocks(r.name, x.rule)).map((x) => x.name.split('@')[0]);
    return h('li', { class: 'grant' },
      h('label', { class: 'check' },
        h('input', { type: 'checkbox', checked: !added.has(r.name), value: r.name, dataset: { testid: 'grant-checkbox', grant: r.name } }),
        h('code', {}, r.name),
        added.has(r.name) ? h('span', { class: 'tag warn' }, `new since ${upgrade.from}`) : null),
      r.reason ? h('span', { class: 'reason' }, ` — ${r.reason}`) : null,
      h('div', { class: usedBy.length ? 'muted small-text' : 'warn-text small-text' },
        usedBy.length ? `used by ${usedBy.join(', ')}` : 'no import of the component needs it'));
  });

  const importItems = capabilityImports.map((x) => {
    const covered = Array.isArray(x.rule) && requested.some((r) => grantUnlocks(r.name, x.rule));
    return h('li', {},
      h('code', {}, x.name),
      h('span', { class: `tag ${x.rule === 'unknown' || !covered ? 'warn' : ''}` },
        x.rule === 'unknown' ? 'unknown interface' : `needs ${x.rule.join(' or ')}`));
  });

  const reason = h('input', { type: 'text', placeholder: 'Reason for rejecting', 'aria-label': `Reason for rejecting ${item.name} ${item.version}`, dataset: { testid: 'review-reason' } });
  const li = h('li', { class: 'card review', dataset: { testid: 'review-item', app: item.app, name: item.name, version: item.version } },
    h('header', { class: 'review-head' },
      h('h3', {}, item.name, ' ', h('span', { class: 'version' }, item.version), ' ', h('span', { class: 'badge' }, item.kind || '?')),
      item.description ? h('p', {}, item.description) : null,
      h('p', { class: 'muted small-text' },
        `app ${item.app}`,
        item.size !== undefined ? ` · ${(item.size / 1024).toFixed(1)} KiB` : '',
        item.uploaded_at ? ` · uploaded ${new Date(item.uploaded_at).toLocaleString()}` : ''),
      item.sha256 ? h('p', { class: 'muted small-text hash' }, `sha256 ${item.sha256}`) : null),
    upgrade ? upgradeDiff(upgrade) : null,
    h('div', { class: 'review-cols' },
      h('fieldset', {},
        h('legend', {}, `Requested capabilities (${requested.length}) — grant`),
        requested.length ? h('ul', { class: 'plain' }, grants) : h('p', { class: 'muted' }, 'None requested.')),
      h('div', {},
        h('h4', {}, `Real imports (${imports.length})`),
        importItems.length ? h('ul', { class: 'plain imports' }, importItems) : h('p', { class: 'muted' }, 'No platform capability imports.'),
        sandboxedImports.length ? h('details', {},
          h('summary', {}, `${sandboxedImports.length} always-available imports (log, types, empty sandboxed WASI)`),
          h('ul', { class: 'plain imports' }, sandboxedImports.map((x) => h('li', {}, h('code', {}, x.name))))) : null)),
    (item.schedules || []).length || (item.webhooks || []).length ? h('div', { dataset: { testid: 'review-runs-alone' } },
      h('h4', {}, 'Runs on its own'),
      h('ul', { class: 'plain' },
        ...(item.schedules || []).map((s) => h('li', {}, 'schedule ', h('code', {}, s.name), ` at cron `, h('code', {}, s.cron), ' (UTC), with the ', h('code', {}, 'schedule'), ' grant')),
        ...(item.webhooks || []).map((w) => h('li', {}, 'public webhook ', h('code', {}, `/hooks/${item.app}/${w}`), ', with the ', h('code', {}, 'webhook'), ' grant')))) : null,
    h('div', { class: 'review-actions' },
      h('button', { type: 'button', class: 'primary', dataset: { testid: 'review-approve' }, onclick: () => decide(item, li, 'approve') }, 'Approve with checked grants'),
      h('span', { class: 'reject' }, reason,
        h('button', { type: 'button', class: 'danger', dataset: { testid: 'review-reject' }, onclick: () => decide(item, li, 'reject') }, 'Reject'))));
  return li;
}

/** What an upgrade changes against the running version. */
function upgradeDiff(u) {
  const row = (label, list, testid) => h('li', { dataset: { testid } }, `${label}: `,
    list.length ? list.map((x, i) => [i ? ', ' : '', h('code', {}, x)]).flat() : h('span', { class: 'muted' }, 'none'));
  return h('div', { class: 'upgrade', dataset: { testid: 'review-upgrade' } },
    h('h4', {}, `Upgrade of the running ${u.from}`, u.asks_for_more ? h('span', { class: 'tag warn' }, 'asks for more') : h('span', { class: 'tag' }, 'asks for nothing new')),
    h('ul', { class: 'plain' },
      row('capabilities added', u.capabilities_added, 'upgrade-added'),
      row('capabilities removed (users\' consents to them end)', u.capabilities_removed, 'upgrade-removed'),
      row('imports added', u.imports_added, 'upgrade-imports-added'),
      row('imports removed', u.imports_removed, 'upgrade-imports-removed'),
      row('outbound hosts added', u.hosts_added, 'upgrade-hosts'),
      row('webhooks added', u.webhooks_added, 'upgrade-webhooks'),
      row('schedules added', u.schedules_added.map((s) => `${s.name} (${s.cron})`), 'upgrade-schedules')));
}

async function decide(item, li, decision) {
  let body;
  if (decision === 'approve') {
    const grants = [...li.querySelectorAll('input[data-testid="grant-checkbox"]')].filter((c) => c.checked).map((c) => c.value);
    body = { decision: 'approve', grants };
  } else {
    const reason = li.querySelector('input[data-testid="review-reason"]').value.trim();
    if (!reason) return report(new Error('write a reason for the developer first'), `Rejecting ${item.name} ${item.version}`);
    body = { decision: 'reject', reason };
  }
  const buttons = li.querySelectorAll('button');
  for (const b of buttons) b.disabled = true;
  try {
    const res = await api('POST', `/v1/review/${encodeURIComponent(item.app)}/${encodeURIComponent(item.version)}`, body);
    notice(decision === 'approve'
      ? `Approved ${item.name} ${item.version} with ${(res && res.grants ? res.grants : body.grants).join(', ') || 'no grants'}.`
      : `Rejected ${item.name} ${item.version}.`);
    clearStatus();
  } catch (e) {
    report(e, `${decision === 'approve' ? 'Approving' : 'Rejecting'} ${item.name} ${item.version}`);
  }
  await loadReviews();
}

export async function credit(ev) {
  ev.preventDefault();
  const account = $('credit-account').value.trim();
  const amount = parseMoney($('credit-amount').value);
  if (!account || amount === null || amount <= 0) return report(new Error('an account id and a positive amount like 1000.00 are needed'), 'Crediting');
  try {
    await api('POST', `/v1/admin/wallets/${encodeURIComponent(account)}/credit`, { amount });
    notice(`Credited ${money(amount)} to ${account}.`);
    $('credit-form').reset();
  } catch (e) {
    report(e, 'Crediting');
  }
}
