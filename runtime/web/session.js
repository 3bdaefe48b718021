// Signing up, in and out: the token kept in local storage, the account box,
// what a signed-in user's page loads and polls (timers), and signing this
// device's session out on the host.

import { state } from './state.js';
import { $, show } from './dom.js';
import { ApiError, api, report, clearStatus, notice } from './api.js';
import { loadChats, route } from './chats.js';
import { loadCatalogue, closeAppPanel } from './apps.js';
import { refreshWallet } from './payments.js';
import { pollSignatures } from './signatures.js';
import { disconnect } from './stream.js';
import { clearAttachments } from './uploads.js';
import { startDashboard, stopDashboard } from './dashboard.js';

export const TOKEN_KEY = 'miniapp.token';
const SIGNATURE_POLL_MS = 2000;
const WALLET_POLL_MS = 5000;
const CHATS_POLL_MS = 10000;

export async function signUp(ev) {
  ev.preventDefault();
  const name = $('signup-name').value.trim();
  const phone = $('signup-phone').value.trim();
  if (!name) return report(new Error('a name is required'), 'Signing up');
  const button = ev.submitter || $('signup-form').querySelector('button');
  button.disabled = true;
  let account;
  try {
    state.token = null;
    account = await api('POST', '/v1/accounts', phone ? { name, phone } : { name });
  } catch (e) {
    report(e, 'Signing up');
    return;
  } finally {
    button.disabled = false;
  }
  $('signup-form').reset();
  clearStatus();
  // The token is shown once, whatever happens next.
  $('token-display').textContent = account.token;
  $('token-dialog').showModal();
  try {
    await signIn(account.token);
  } catch (e) {
    report(e, 'Signing in with the new account');
  }
}

export async function signInForm(ev) {
  ev.preventDefault();
  const token = $('signin-token').value.trim();
  if (!token) return report(new Error('paste a token first'), 'Signing in');
  try {
    await signIn(token);
    $('signin-form').reset();
    clearStatus();
  } catch (e) {
    report(e, 'Signing in');
  }
}

/** Checks the token with /v1/me, keeps it, and opens the right page. Throws on failure. */
export async function signIn(token) {
  state.token = token;
  let me;
  try {
    me = await api('GET', '/v1/me');
  } catch (e) {
    state.token = null;
    if (e instanceof ApiError && e.status === 401) localStorage.removeItem(TOKEN_KEY);
    throw e;
  }
  localStorage.setItem(TOKEN_KEY, token);
  state.me = me;
  renderAccount();
  stopTimers();
  if (me.role === 'operator') {
    show('operator-view');
    await startDashboard();
  } else {
    show('user-view');
    // Names first, so the first signature request already shows them.
    await Promise.all([loadChats(), loadCatalogue(), refreshWallet()]);
    startTimers();
    pollSignatures();
    await route();
  }
}

export function signOut(why) {
  stopTimers();
  stopDashboard();
  disconnect();
  closeAppPanel();
  clearAttachments();
  for (const d of document.querySelectorAll('dialog')) if (d.open) d.close();
  localStorage.removeItem(TOKEN_KEY);
  Object.assign(state, {
    token: null, me: null, chats: [], chatId: null, chat: null, balance: null,
    pendingSignatures: [], installed: [], invoices: new Map(),
  });
  state.snoozed.clear();
  state.messages.clear();
  state.elements.clear();
  $('messages').replaceChildren();
  $('chat-list').replaceChildren();
  $('review-list').replaceChildren();
  $('account').hidden = true;
  show('auth-view');
  if (why) {
    $('status').textContent = why;
    $('status-dismiss').hidden = false;
  } else {
    clearStatus();
  }
  if (location.hash && location.hash !== '#/') history.replaceState(null, '', '#/');
}

/** Signs this device's session out on the host (an account's; the
 *  operator's token is not a session), then forgets it here. If the host
 *  cannot be reached the token stays, so the user can try again. */
export async function signOutHere() {
  if (state.me && state.me.role === 'user') {
    try {
      await api('POST', '/v1/sessions/sign-out');
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 401)) {
        report(e, 'Signing out');
        return;
      }
    }
  }
  signOut();
}

function renderAccount() {
  const me = state.me;
  $('account').hidden = false;
  const user = me.role === 'user';
  $('account-role').textContent = user ? 'Signed in as' : 'Operator';
  $('account-name').textContent = user ? me.name : '';
  $('account-id').textContent = user ? me.id : '';
  $('account-id-box').hidden = !user;
  $('wallet-box').hidden = !user;
  $('wallet-balance').textContent = '…';
  $('pending-signatures').hidden = true;
}

export async function copyText(text, what) {
  try {
    await navigator.clipboard.writeText(text);
    notice(`${what} copied.`);
  } catch (e) {
    report(e, `Copying the ${what.toLowerCase()}`);
  }
}

// ----------------------------------------------------------------- timers

function startTimers() {
  stopTimers();
  state.timers.push(setInterval(() => !document.hidden && pollSignatures(), SIGNATURE_POLL_MS));
  state.timers.push(setInterval(() => !document.hidden && refreshWallet(), WALLET_POLL_MS));
  state.timers.push(setInterval(() => !document.hidden && loadChats(), CHATS_POLL_MS));
}

function stopTimers() {
  for (const t of state.timers) clearInterval(t);
  state.timers = [];
}
