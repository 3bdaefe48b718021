// The miniapp chat web client: plain DOM, no build step, no framework.
// Served under a strict CSP (no inline script or style), so every handler is
// attached in code and every piece of untrusted text goes in as textContent.
//
// This entry point wires the page's controls to the modules and signs in
// with a saved token. The modules, by concern: state.js (shared state),
// dom.js (elements, formatting, views), api.js (host calls, errors, status),
// session.js (sign up/in/out, timers), chats.js (list, routing, open chat),
// messages.js (timeline, composer, buttons, deleting), files.js (files in
// the timeline, downloads, image viewer, the file to sign), uploads.js (the
// composer's attachments), stream.js (event WebSocket), apps.js
// (catalogue, web-app panel, consents), payments.js (wallet, invoices, pay
// dialog), signatures.js (sign dialog), dashboard.js (the operator's page:
// app health, reports, app actions), review.js (its review queue) and
// bridge.js (what pages in the app panel ask of the client).

import { state } from './state.js';
import { $, show } from './dom.js';
import { report, clearStatus } from './api.js';
import { TOKEN_KEY, signUp, signInForm, signIn, signOutHere, copyText } from './session.js';
import { createChat, route } from './chats.js';
import { wireBridge } from './bridge.js';
import { watchScroll, sendMessage, confirmDelete } from './messages.js';
import { wireViewer, wireSignFile } from './files.js';
import { addPicked } from './uploads.js';
import { addApp, closeAppPanel, saveConsents } from './apps.js';
import { refreshWallet, confirmPay } from './payments.js';
import { pollSignatures, decideSignature, signLater, showPendingSignatures } from './signatures.js';
import { credit } from './review.js';
import { refreshDashboard } from './dashboard.js';

function wire() {
  wireBridge();
  watchScroll();
  $('signup-form').addEventListener('submit', signUp);
  $('signin-form').addEventListener('submit', signInForm);
  $('signout').addEventListener('click', signOutHere);
  $('copy-id').addEventListener('click', () => state.me && copyText(state.me.id, 'Account id'));
  $('status-dismiss').addEventListener('click', clearStatus);
  $('pending-signatures').addEventListener('click', showPendingSignatures);
  $('new-chat-form').addEventListener('submit', createChat);
  $('composer').addEventListener('submit', sendMessage);
  $('attach-button').addEventListener('click', () => $('file-input').click());
  $('file-input').addEventListener('change', addPicked);
  $('message-input').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      $('composer').requestSubmit();
    }
  });
  $('add-app-form').addEventListener('submit', addApp);
  $('app-panel-close').addEventListener('click', closeAppPanel);

  $('token-copy').addEventListener('click', () => copyText($('token-display').textContent, 'Token'));
  $('token-dialog-close').addEventListener('click', () => $('token-dialog').close());
  $('token-dialog').addEventListener('close', () => {
    $('token-display').textContent = '';
    pollSignatures();
  });

  $('pay-cancel').addEventListener('click', () => $('pay-dialog').close());
  $('pay-confirm').addEventListener('click', confirmPay);
  $('pay-dialog').addEventListener('close', () => {
    state.payInvoice = null;
  });

  $('sign-confirm').addEventListener('click', () => decideSignature('confirm'));
  $('sign-decline').addEventListener('click', () => decideSignature('decline'));
  $('sign-later').addEventListener('click', signLater);
  $('sign-dialog').addEventListener('cancel', (e) => {
    e.preventDefault();
    signLater();
  });
  wireSignFile();
  wireViewer();

  $('delete-cancel').addEventListener('click', () => $('delete-dialog').close());
  $('delete-confirm').addEventListener('click', confirmDelete);
  $('delete-dialog').addEventListener('close', () => {
    state.deleteMessage = null;
  });

  $('consent-cancel').addEventListener('click', () => $('consent-dialog').close());
  $('consent-save').addEventListener('click', saveConsents);

  $('dashboard-refresh').addEventListener('click', () => refreshDashboard());
  $('credit-form').addEventListener('submit', credit);

  window.addEventListener('hashchange', () => route());
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden && state.me && state.me.role === 'user') {
      pollSignatures();
      refreshWallet();
    }
  });
}

async function boot() {
  wire();
  // A sign-in link (`/#token=…`, as `miniapp dev` prints), taken only on
  // a host that says it takes them (`miniapp dev`'s throwaway host):
  // elsewhere a link could sign a user into someone else's account. The
  // fragment never reaches a server; it is cleared at once.
  const links = document.querySelector('meta[name="miniapp-sign-in-links"]');
  const linked = new URLSearchParams(location.hash.slice(1)).get('token');
  if (linked) {
    history.replaceState(null, '', '#/');
    if (links && links.content === 'on') localStorage.setItem(TOKEN_KEY, linked);
  }
  const saved = localStorage.getItem(TOKEN_KEY);
  if (!saved) {
    show('auth-view');
    return;
  }
  try {
    await signIn(saved);
  } catch (e) {
    show('auth-view');
    report(e, 'Signing in with the saved token');
  }
}

boot();
