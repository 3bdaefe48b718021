// A chat's apps: the catalogue, the installed list and adding an app,
// launching a web app into the side panel (a sandboxed iframe on the app's
// own origin), and the dialog granting or revoking an app's consents.

import { state } from './state.js';
import { $, h } from './dom.js';
import { api, describe, report, notice } from './api.js';
import { appName } from './chats.js';
import { upsertMessage } from './messages.js';
import { bridgeFrame, unbridge } from './bridge.js';

// Each scope users may grant an app, with its checkbox.
const CONSENT_BOXES = { 'identity.profile': 'consent-profile', 'identity.phone': 'consent-phone', notify: 'consent-notify' };
export const CONSENT_SCOPES = Object.keys(CONSENT_BOXES);

export async function loadCatalogue() {
  try {
    const { apps } = await api('GET', '/v1/apps');
    state.catalogue = apps;
    for (const a of apps) state.appNames.set(a.id, a.name);
    renderAddApp();
  } catch (e) {
    report(e, 'Loading the app catalogue');
  }
}

export async function loadInstalled(seq) {
  try {
    const { apps } = await api('GET', `/v1/chats/${encodeURIComponent(state.chatId)}/apps`);
    if (seq !== state.chatSeq) return;
    state.installed = apps;
    let renamed = false;
    for (const a of apps) {
      if (state.appNames.get(a.id) !== a.name) renamed = true;
      state.appNames.set(a.id, a.name);
    }
    renderInstalled();
    renderAddApp();
    if (renamed) for (const m of state.messages.values()) if (m.sender_kind === 'app') upsertMessage(m);
  } catch (e) {
    if (seq === state.chatSeq) report(e, 'Loading the chat’s apps');
  }
}

function isWeb(app) {
  // Hosts that do not say yet are treated as serving a page; the launch
  // call then answers for itself.
  return app.web !== false;
}

function renderInstalled() {
  const items = state.installed.map((a) =>
    h('li', { class: 'app-chip', dataset: { testid: 'installed-app', appId: a.id } },
      h('span', { class: 'app-name' }, a.name),
      a.status && a.status !== 'active' ? h('span', { class: 'badge warn' }, a.status) : null,
      isWeb(a) ? h('button', {
        type: 'button', class: 'small', dataset: { testid: 'open-app-button', appId: a.id },
        'aria-label': `Open ${a.name}`, onclick: () => launchApp(a),
      }, 'Open') : null,
      h('button', {
        type: 'button', class: 'small', dataset: { testid: 'consent-button', appId: a.id },
        'aria-label': `Permissions for ${a.name}`, onclick: () => openConsentDialog(a),
      }, 'Permissions')));
  $('installed-apps').replaceChildren(...items);
  if (!items.length) $('installed-apps').append(h('li', { class: 'muted' }, 'No apps in this chat yet.'));
}

function renderAddApp() {
  const installed = new Set(state.installed.map((a) => a.id));
  const choices = state.catalogue.filter((a) => !installed.has(a.id));
  const select = $('add-app-select');
  const current = select.value;
  select.replaceChildren(
    h('option', { value: '' }, choices.length ? 'Choose an app…' : 'No more apps'),
    ...choices.map((a) => h('option', { value: a.id, dataset: { name: a.name } }, `${a.name} ${a.version || ''}`.trim())));
  if (choices.some((a) => a.id === current)) select.value = current;
}

export async function addApp(ev) {
  ev.preventDefault();
  const app = $('add-app-select').value;
  if (!app) return report(new Error('choose an app first'), 'Adding the app');
  const seq = state.chatSeq;
  try {
    await api('POST', `/v1/chats/${encodeURIComponent(state.chatId)}/apps`, { app });
    notice(`Added ${appName(app)} to the chat.`);
    await Promise.all([loadInstalled(seq), loadCatalogue()]);
  } catch (e) {
    report(e, 'Adding the app');
  }
}

async function launchApp(app) {
  const seq = state.chatSeq;
  try {
    const res = await api('POST', `/v1/chats/${encodeURIComponent(state.chatId)}/apps/${encodeURIComponent(app.id)}/launch`);
    if (seq !== state.chatSeq) return;
    // Every app has an origin of its own, `{app}.{apps domain}`: never this
    // page's origin, and never another app's.
    const url = new URL(res.url, location.origin);
    if (url.origin === location.origin || !url.hostname.startsWith(`${app.id.toLowerCase()}.`) || !/^https?:$/.test(url.protocol)) {
      throw new Error(`the host gave an address that is not the app's own origin (${url.origin})`);
    }
    openAppPanel(app, url.href);
  } catch (e) {
    report(e, `Opening ${app.name}`);
  }
}

function openAppPanel(app, src) {
  const frame = document.createElement('iframe');
  // The app's page runs on its own origin (so it can read nothing of this
  // page, nor of any other app); the sandbox still keeps it from opening
  // popups, navigating this page, or showing dialogs.
  // allow-downloads: an app offers files to its user (files.download-url
  // links, served by the host as attachments); nothing else is widened.
  frame.setAttribute('sandbox', 'allow-scripts allow-forms allow-same-origin allow-downloads');
  frame.setAttribute('referrerpolicy', 'no-referrer');
  frame.setAttribute('title', `${app.name} (mini-app)`);
  frame.dataset.testid = 'app-frame';
  frame.dataset.appId = app.id;
  frame.className = 'app-frame';
  frame.src = src;
  $('app-panel-title').textContent = app.name;
  $('app-panel-body').replaceChildren(frame);
  bridgeFrame(frame, app, new URL(src).origin);
  $('app-panel').hidden = false;
  $('user-view').classList.add('with-panel');
}

export function closeAppPanel() {
  unbridge();
  $('app-panel-body').replaceChildren();
  $('app-panel').hidden = true;
  $('user-view').classList.remove('with-panel');
}

// --------------------------------------------------------------- consents

/** Opens the permissions dialog for `app`; with `asked` (a scope the app
 *  asked for through the bridge) that box comes checked, and nothing is
 *  given until the user presses Save. */
export async function openConsentDialog(app, asked) {
  state.consentApp = app;
  $('consent-app-name').textContent = app.name;
  $('consent-dialog-title').textContent = `Permissions for ${app.name}`;
  $('consent-error').textContent = '';
  for (const id of Object.values(CONSENT_BOXES)) {
    $(id).checked = false;
    $(id).disabled = true;
  }
  $('consent-save').disabled = true;
  $('consent-dialog').showModal();
  try {
    const { scopes, grantable } = await api('GET', `/v1/apps/${encodeURIComponent(app.id)}/consents`);
    state.consentBefore = scopes;
    // Only scopes the app was granted can be given; a consent the user
    // holds stays shown (checked) so it can be taken back, even while the
    // app cannot be given it now (suspended, say); the others stay off.
    for (const [scope, id] of Object.entries(CONSENT_BOXES)) {
      const may = grantable.includes(scope);
      const held = scopes.includes(scope);
      $(id).checked = held || (may && scope === asked);
      $(id).disabled = !may && !held;
      $(id).title = may ? '' : held ? `${app.name} cannot be given this now; uncheck to take it back` : `${app.name} was not granted this`;
    }
    $('consent-save').disabled = false;
  } catch (e) {
    $('consent-error').textContent = `Reading your permissions failed: ${describe(e)}`;
  }
}

export async function saveConsents() {
  const app = state.consentApp;
  if (!app) return;
  const wanted = CONSENT_SCOPES.filter((s) => $(CONSENT_BOXES[s]).checked);
  const revoked = state.consentBefore.filter((s) => !wanted.includes(s));
  const added = wanted.filter((s) => !state.consentBefore.includes(s));
  $('consent-save').disabled = true;
  $('consent-error').textContent = '';
  const path = `/v1/apps/${encodeURIComponent(app.id)}/consents`;
  try {
    // Each call changes only what the user changed: a refused one leaves
    // the consents the user kept as they were.
    if (revoked.length) {
      await api('DELETE', `${path}?scopes=${encodeURIComponent(revoked.join(','))}`);
      state.consentBefore = state.consentBefore.filter((s) => !revoked.includes(s));
    }
    if (added.length) await api('PUT', path, { scopes: added });
    $('consent-dialog').close();
    notice(wanted.length ? `${app.name} may now: ${wanted.join(', ')}.` : `${app.name} sees nothing about you beyond its app-scoped id, and cannot write to you.`);
  } catch (e) {
    $('consent-error').textContent = `Saving failed: ${describe(e)}`;
    $('consent-save').disabled = false;
    $('consent-save').focus();
  }
}
