// The client's side of the web-app bridge (the page's side is
// miniapp-bridge.js, served on every app's origin): a page in the app panel
// asks, over postMessage, for what only the client may do — pay one of its
// invoices, sign one of its requests, give it a permission — and the client
// opens its own dialog, so every action still needs the user's confirmation
// here. A message counts only from the panel's frame, at the app's origin.

import { state } from './state.js';
import { $, anyDialogOpen } from './dom.js';
import { api, describe } from './api.js';
import { openPayDialog } from './payments.js';
import { openSignDialog } from './signatures.js';
import { closeAppPanel, openConsentDialog, CONSENT_SCOPES } from './apps.js';

/** The frame in the app panel: { frame, app, origin }. */
let current = null;

/** Answers the page in `frame` (the app `app` at `origin`) from now on. */
export function bridgeFrame(frame, app, origin) {
  current = { frame, app, origin };
  showMainButton({ visible: false });
}

/** The panel closed: nothing answers any more. */
export function unbridge() {
  current = null;
  showMainButton({ visible: false });
}

export function wireBridge() {
  window.addEventListener('message', onMessage);
  $('app-main-button').addEventListener('click', () => {
    if (current) send(current, { type: 'main-button' });
  });
}

function send(c, message) {
  c.frame.contentWindow?.postMessage({ miniapp: 1, ...message }, c.origin);
}

function reply(c, id, result, error) {
  send(c, { type: 'result', id, result, error });
}

function refuse(code, message) {
  const e = new Error(message);
  e.code = code;
  return e;
}

async function onMessage(event) {
  const c = current;
  if (!c || event.source !== c.frame.contentWindow || event.origin !== c.origin) return;
  const m = event.data;
  if (!m || m.miniapp !== 1 || typeof m.type !== 'string') return;
  switch (m.type) {
    case 'ready':
      return send(c, { type: 'theme', theme: theme() });
    case 'close':
      return closeAppPanel();
    case 'main-button':
      return showMainButton(m);
    case 'open-invoice':
    case 'request-signature':
    case 'request-consent': {
      if (!Number.isSafeInteger(m.id)) return;
      try {
        reply(c, m.id, await ASKS[m.type](c, m));
      } catch (e) {
        reply(c, m.id, undefined, { code: e.code || 'failed', message: describe(e) });
      }
      return;
    }
    default:
      return;
  }
}

/** Resolves once dialog `id` closes. */
function closed(id) {
  return new Promise((resolve) => $(id).addEventListener('close', resolve, { once: true }));
}

const ASKS = {
  async 'open-invoice'(c, m) {
    const { invoices } = await api('GET', '/v1/invoices');
    const invoice = invoices.find((i) => i.id === m.invoice && i.app === c.app.id);
    if (!invoice) throw refuse('not_found', 'this app has no such invoice for you');
    if (invoice.status !== 'open') return { status: invoice.status === 'paid' ? 'paid' : 'cancelled' };
    if (anyDialogOpen()) throw refuse('busy', 'another dialog is open');
    state.lastPaid = null;
    openPayDialog(invoice);
    await closed('pay-dialog');
    return { status: state.lastPaid === invoice.id ? 'paid' : 'cancelled' };
  },

  async 'request-signature'(c, m) {
    const { signatures } = await api('GET', '/v1/signatures?status=pending');
    const request = signatures.find((s) => s.id === m.signature && s.app === c.app.id);
    if (!request) throw refuse('not_found', 'this app has no such signature request pending for you');
    const dialog = $('sign-dialog');
    if (!(dialog.open && state.signRequest && state.signRequest.id === request.id)) {
      if (anyDialogOpen()) throw refuse('busy', 'another dialog is open');
      openSignDialog(request);
    }
    state.lastSignature = null;
    await closed('sign-dialog');
    const decided = state.lastSignature;
    if (decided && decided.id === request.id) return { status: decided.action === 'confirm' ? 'signed' : 'declined' };
    return { status: 'later' };
  },

  async 'request-consent'(c, m) {
    if (!CONSENT_SCOPES.includes(m.scope)) throw refuse('invalid', `no such permission: ${m.scope}`);
    if (anyDialogOpen()) throw refuse('busy', 'another dialog is open');
    await openConsentDialog(c.app, m.scope);
    await closed('consent-dialog');
    const { scopes } = await api('GET', `/v1/apps/${encodeURIComponent(c.app.id)}/consents`);
    return { granted: scopes.includes(m.scope) };
  },
};

function showMainButton(m) {
  const button = $('app-main-button');
  button.textContent = typeof m.text === 'string' ? m.text.slice(0, 64) : button.textContent;
  button.hidden = !m.visible || !button.textContent;
}

/** This page's colours, by Telegram's names. */
function theme() {
  const css = getComputedStyle(document.documentElement);
  const v = (name) => css.getPropertyValue(name).trim();
  return {
    bg_color: v('--surface'),
    text_color: v('--text'),
    hint_color: v('--muted'),
    button_color: v('--accent'),
    button_text_color: v('--accent-text'),
  };
}
