// The miniapp chat web client: plain DOM, no build step, no framework.
// Served under a strict CSP (no inline script or style), so every handler is
// attached here and every piece of untrusted text goes in as textContent.

const TOKEN_KEY = 'miniapp.token';
const SIGNATURE_POLL_MS = 2000;
const WALLET_POLL_MS = 5000;
const CHATS_POLL_MS = 10000;
const CONSENT_SCOPES = ['identity.profile', 'identity.phone'];

const $ = (id) => document.getElementById(id);

const state = {
  token: null,
  me: null, // {role: 'user', id, name} | {role: 'operator'}
  chats: [],
  chatId: null,
  chat: null, // GET /v1/chats/{chat}
  chatSeq: 0, // bumps on every chat switch; stale answers are dropped
  messages: new Map(), // id -> message
  elements: new Map(), // id -> <li>
  installed: [], // GET /v1/chats/{chat}/apps
  catalogue: [], // GET /v1/apps
  appNames: new Map(), // app id -> name
  ws: null,
  wsRetry: 0,
  wsTimer: null,
  timers: [],
  balance: null,
  pendingSignatures: [],
  snoozed: new Set(), // signature ids put off with "Later" in this page's life
  signatureBusy: false,
  invoices: new Map(), // message id -> the caller's invoice on it
  payInvoice: null,
  signRequest: null,
  consentApp: null,
  consentBefore: [],
};

// ---------------------------------------------------------------- helpers

/** Creates an element: h('button', {type: 'button', dataset: {testid: 'x'}, onclick}, 'text', child…). */
function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'class') el.className = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k in el && typeof v !== 'string') el[k] = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** Integer minor units → "500.00 ₽". */
function money(amount, currency = 'RUB') {
  const n = Number(amount) || 0;
  const abs = Math.abs(n);
  const units = Math.floor(abs / 100);
  const cents = String(abs % 100).padStart(2, '0');
  const symbol = currency === 'RUB' ? '₽' : currency;
  return `${n < 0 ? '-' : ''}${units}.${cents} ${symbol}`;
}

/** "1000", "1000.5", "1 000,50" → minor units, or null. */
function parseMoney(text) {
  const clean = text.replace(/[\s ₽]/g, '').replace(',', '.');
  if (!/^\d+(\.\d{1,2})?$/.test(clean)) return null;
  const [units, cents = ''] = clean.split('.');
  return Number(units) * 100 + Number(cents.padEnd(2, '0'));
}

function timeLabel(ms) {
  const d = new Date(ms);
  const now = new Date();
  const sameDay = d.toDateString() === now.toDateString();
  return sameDay
    ? d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })
    : d.toLocaleString([], { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' });
}

function shortId(id) {
  return id ? `…${String(id).slice(-6)}` : '?';
}

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** One API call; throws ApiError carrying the host's {error: {code, message}}. */
async function api(method, path, body) {
  const headers = {};
  if (state.token) headers.Authorization = `Bearer ${state.token}`;
  const init = { method, headers };
  if (body !== undefined) {
    headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, 'network', `cannot reach the server (${e.message})`);
  }
  const text = await res.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (networkErrorShown) clearStatus(); // the server is back
  if (!res.ok) {
    const err = data && data.error;
    throw new ApiError(
      res.status,
      (err && err.code) || `http_${res.status}`,
      (err && err.message) || `${method} ${path} answered HTTP ${res.status}`,
    );
  }
  return data;
}

function describe(err) {
  if (err instanceof ApiError) {
    return err.status ? `${err.message} (${err.code}, HTTP ${err.status})` : err.message;
  }
  return err && err.message ? err.message : String(err);
}

// ------------------------------------------------------------ status area

let networkErrorShown = false;

/** Shows an error in the role="alert" area; never swallowed. */
function report(err, doing) {
  const text = doing ? `${doing} failed: ${describe(err)}` : describe(err);
  networkErrorShown = err instanceof ApiError && err.code === 'network';
  if ($('status').textContent !== text) $('status').textContent = text;
  $('status-dismiss').hidden = false;
  if (err instanceof ApiError && err.status === 401 && state.me) {
    const why = {
      session_expired: 'Your session expired after going unused; sign in again.',
      session_revoked: 'This device was signed out; sign in again.',
    }[err.code] || 'Your token is no longer accepted; sign in again.';
    signOut(why);
  }
}

function clearStatus() {
  networkErrorShown = false;
  $('status').textContent = '';
  $('status-dismiss').hidden = true;
}

let noticeTimer = null;
function notice(text) {
  $('notice').textContent = text;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => {
    $('notice').textContent = '';
  }, 6000);
}

function announce(text) {
  $('live').textContent = text;
}

// ------------------------------------------------------------------ views

function show(view) {
  for (const id of ['loading', 'auth-view', 'user-view', 'operator-view']) $(id).hidden = id !== view;
}

function anyDialogOpen() {
  return [...document.querySelectorAll('dialog')].some((d) => d.open);
}

function closeDialog(id) {
  const d = $(id);
  if (d.open) d.close();
}

// ------------------------------------------------------ sign up / sign in

async function signUp(ev) {
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

async function signInForm(ev) {
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
async function signIn(token) {
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
    await loadReviews();
  } else {
    show('user-view');
    // Names first, so the first signature request already shows them.
    await Promise.all([loadChats(), loadCatalogue(), refreshWallet()]);
    startTimers();
    pollSignatures();
    await route();
  }
}

function signOut(why) {
  stopTimers();
  disconnect();
  closeAppPanel();
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
async function signOutHere() {
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

async function copyText(text, what) {
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

let eventFollowUp = null;
/** After a chat event: look for new signature requests and balance changes soon, once. */
function afterEvent() {
  clearTimeout(eventFollowUp);
  eventFollowUp = setTimeout(() => {
    pollSignatures();
    refreshWallet();
    refreshInvoices();
  }, 150);
}

// ----------------------------------------------------------------- wallet

async function refreshWallet() {
  if (!state.me || state.me.role !== 'user') return;
  try {
    const w = await api('GET', '/v1/wallet');
    state.balance = w;
    $('wallet-balance').textContent = money(w.balance, w.currency);
    $('wallet-balance').dataset.amount = String(w.balance);
  } catch (e) {
    report(e, 'Reading the wallet');
  }
}

// ------------------------------------------------------------------ chats

async function loadChats() {
  if (!state.me || state.me.role !== 'user') return;
  try {
    const { chats } = await api('GET', '/v1/chats');
    state.chats = chats;
    renderChatList();
    const { invitations } = await api('GET', '/v1/invitations');
    renderInvitations(invitations);
  } catch (e) {
    report(e, 'Loading chats');
  }
}

/** Chats the user was invited to: nobody is added without accepting. */
function renderInvitations(invitations) {
  $('invitations').hidden = invitations.length === 0;
  const answer = async (chat, accept) => {
    const me = state.me.id;
    try {
      if (accept) await api('POST', `/v1/chats/${encodeURIComponent(chat)}/members`, { account: me });
      else await api('DELETE', `/v1/chats/${encodeURIComponent(chat)}/members/${encodeURIComponent(me)}`);
      await loadChats();
    } catch (e) {
      report(e, accept ? 'Joining the chat' : 'Declining the invitation');
    }
  };
  $('invitation-list').replaceChildren(...invitations.map((i) =>
    h('li', { dataset: { testid: 'invitation', chatId: i.chat } },
      `${i.title || '(untitled)'} — from ${i.invited_by_name} `,
      h('button', { type: 'button', onclick: () => answer(i.chat, true) }, 'Join'),
      ' ',
      h('button', { type: 'button', onclick: () => answer(i.chat, false) }, 'Decline'))));
}

let chatListKey = '';
function renderChatList() {
  const list = $('chat-list');
  // Re-render only on change, so a focused link keeps its focus.
  $('chat-list-empty').hidden = state.chats.length > 0;
  const key = JSON.stringify([state.chatId, state.chats.map((c) => [c.id, c.title])]);
  if (key === chatListKey && list.children.length === state.chats.length) return;
  chatListKey = key;
  const items = state.chats.map((c) =>
    h('li', {},
      h('a', {
        href: `#/chat/${encodeURIComponent(c.id)}`,
        class: 'chat-link',
        'aria-current': c.id === state.chatId ? 'page' : null,
        dataset: { testid: 'chat-item', chatId: c.id },
      }, c.title || '(untitled)')));
  list.replaceChildren(...items);
}

async function createChat(ev) {
  ev.preventDefault();
  const title = $('new-chat-title').value.trim();
  const members = $('new-chat-members').value.split(/[\s,]+/).map((s) => s.trim()).filter(Boolean);
  if (!title) return report(new Error('a title is required'), 'Creating the chat');
  try {
    const chat = await api('POST', '/v1/chats', { title, members });
    $('new-chat-form').reset();
    clearStatus();
    await loadChats();
    location.hash = `#/chat/${encodeURIComponent(chat.id)}`;
  } catch (e) {
    report(e, 'Creating the chat');
  }
}

async function route() {
  if (!state.me) return;
  const m = location.hash.match(/^#\/chat\/([^/]+)$/);
  if (state.me.role !== 'user') return;
  if (m) await openChat(decodeURIComponent(m[1]));
  else closeChat();
}

function closeChat() {
  disconnect();
  closeAppPanel();
  state.chatId = null;
  state.chat = null;
  state.chatSeq += 1;
  $('chat').hidden = true;
  $('no-chat').hidden = false;
  renderChatList();
}

async function openChat(id) {
  if (state.chatId === id && state.chat) return;
  disconnect();
  closeAppPanel();
  const seq = ++state.chatSeq;
  state.chatId = id;
  state.chat = null;
  state.messages.clear();
  state.elements.clear();
  $('messages').replaceChildren();
  $('chat-title').textContent = (state.chats.find((c) => c.id === id) || {}).title || 'Chat';
  $('chat-members').textContent = '';
  $('installed-apps').replaceChildren();
  $('no-chat').hidden = true;
  $('chat').hidden = false;
  renderChatList();
  try {
    const chat = await api('GET', `/v1/chats/${encodeURIComponent(id)}`);
    if (seq !== state.chatSeq) return;
    state.chat = chat;
    renderChatHead();
  } catch (e) {
    if (seq !== state.chatSeq) return;
    report(e, 'Opening the chat');
    return;
  }
  connect(seq);
  await Promise.all([loadMessages(seq), loadInstalled(seq), refreshInvoices()]);
  if (seq === state.chatSeq) $('message-input').focus();
}

function memberName(id) {
  const me = state.me;
  if (me && me.id === id) return `${me.name} (you)`;
  const members = (state.chat && (state.chat.people || state.chat.members)) || [];
  const found = members.find((m) => m && typeof m === 'object' && m.id === id);
  if (found && found.name) return found.name;
  return `User ${shortId(id)}`;
}

function appName(id) {
  return state.appNames.get(id) || `App ${shortId(id)}`;
}

function renderChatHead() {
  const chat = state.chat;
  $('chat-title').textContent = chat.title || '(untitled)';
  const ids = (chat.members || []).map((m) => (typeof m === 'object' ? m.id : m));
  const names = ids.map(memberName);
  $('chat-members').textContent = `${ids.length} member${ids.length === 1 ? '' : 's'}: ${names.join(', ')}`;
  $('chat-members').title = ids.join('\n');
}

// --------------------------------------------------------------- messages

async function loadMessages(seq) {
  try {
    const { messages } = await api('GET', `/v1/chats/${encodeURIComponent(state.chatId)}/messages?limit=100`);
    if (seq !== state.chatSeq) return;
    const list = $('messages');
    const stay = state.messages.size === 0 || nearBottom(list);
    for (const m of messages) upsertMessage(m);
    if (stay) {
      list.scrollTop = list.scrollHeight;
      stickToBottom = true;
    }
  } catch (e) {
    if (seq === state.chatSeq) report(e, 'Loading messages');
  }
}

// Keep the newest message in view while the list changes size (status
// area, app panel, window) as long as the reader was at the bottom.
let stickToBottom = true;
function watchScroll() {
  const list = $('messages');
  list.addEventListener('scroll', () => {
    stickToBottom = nearBottom(list);
  });
  new ResizeObserver(() => {
    if (stickToBottom) list.scrollTop = list.scrollHeight;
  }).observe(list);
}

function nearBottom(el) {
  return el.scrollHeight - el.scrollTop - el.clientHeight < 80;
}

function sortKey(m) {
  return `${String(m.created_at).padStart(16, '0')}:${m.id}`;
}

function upsertMessage(m) {
  const prev = state.messages.get(m.id);
  const merged = prev ? { ...prev, ...m } : m;
  state.messages.set(m.id, merged);
  const el = renderMessage(merged);
  const old = state.elements.get(m.id);
  state.elements.set(m.id, el);
  if (old) {
    // Keep keyboard focus on the same button when a message is redrawn
    // (a poll's counts change right after its button is pressed).
    const focused = old.contains(document.activeElement) ? document.activeElement.dataset.index : undefined;
    old.replaceWith(el);
    if (focused !== undefined) {
      const again = el.querySelector(`button[data-index="${focused}"]`);
      if (again) again.focus();
    }
    return;
  }
  const list = $('messages');
  const key = sortKey(merged);
  const last = list.lastElementChild;
  if (!last || last.dataset.sort < key) {
    list.append(el);
    return;
  }
  const after = [...list.children].find((li) => li.dataset.sort > key);
  list.insertBefore(el, after || null);
}

function senderLabel(m) {
  return m.sender_kind === 'app' ? appName(m.sender) : memberName(m.sender);
}

function renderMessage(m) {
  const mine = state.me && m.sender_kind === 'user' && m.sender === state.me.id;
  const classes = ['msg', m.sender_kind === 'app' ? 'from-app' : 'from-user'];
  if (mine) classes.push('mine');
  if (m.deleted) classes.push('deleted');
  const meta = h('div', { class: 'meta' },
    h('span', { class: 'sender', title: m.sender }, senderLabel(m)),
    m.sender_kind === 'app' ? h('span', { class: 'badge' }, 'app') : null,
    h('time', { datetime: new Date(m.created_at).toISOString() }, timeLabel(m.created_at)),
    m.edited_at && !m.deleted ? h('span', { class: 'edited', title: new Date(m.edited_at).toLocaleString() }, 'edited') : null);
  const body = m.deleted
    ? h('p', { class: 'text' }, 'Message deleted')
    : h('p', { class: 'text', dataset: { testid: 'message-text' } }, m.text);
  const li = h('li', {
    class: classes.join(' '),
    dataset: { testid: 'message', messageId: m.id, senderKind: m.sender_kind, sort: sortKey(m) },
  }, meta, body);
  const invoice = state.invoices.get(m.id);
  if (invoice && !m.deleted) {
    li.append(h('p', { class: `invoice-state ${invoice.status}`, dataset: { testid: 'invoice-status', status: invoice.status } },
      `Invoice to you: ${money(invoice.amount, invoice.currency)}, ${invoice.status}`));
  }
  const settled = invoice && invoice.status !== 'open';
  const buttons = m.deleted ? [] : m.buttons || [];
  if (buttons.length) {
    const rows = new Map();
    for (const b of buttons) {
      if (!rows.has(b.row)) rows.set(b.row, []);
      rows.get(b.row).push(b);
    }
    const group = h('div', { class: 'buttons', role: 'group', 'aria-label': `Buttons of the message from ${senderLabel(m)}` },
      [...rows.keys()].sort((a, b) => a - b).map((row) =>
        h('div', { class: 'button-row' },
          rows.get(row).sort((a, b) => a.index - b.index).map((b) =>
            h('button', {
              type: 'button',
              class: 'msg-button',
              dataset: { testid: 'message-button', index: String(b.index), messageId: m.id },
              disabled: settled,
              title: settled ? `This invoice is ${invoice.status}` : null,
              onclick: (ev) => pressButton(m.id, b, ev.currentTarget),
            }, b.label)))));
    li.append(group);
  }
  return li;
}

function applyEvent(ev) {
  if (ev.type === 'message.new' || ev.type === 'message.edited') {
    const { type, ...m } = ev;
    if (m.chat && m.chat !== state.chatId) return;
    const list = $('messages');
    const atBottom = nearBottom(list);
    const isNew = !state.messages.has(m.id);
    upsertMessage(m);
    const mine = m.sender_kind === 'user' && state.me && m.sender === state.me.id;
    if (atBottom || mine) list.scrollTop = list.scrollHeight;
    if (type === 'message.new' && isNew && !mine) announce(`${senderLabel(m)}: ${m.text}`);
  } else if (ev.type === 'message.deleted') {
    const prev = state.messages.get(ev.id);
    if (prev) upsertMessage({ ...prev, deleted: true, text: '', buttons: [] });
  } else if (ev.type === 'lagged') {
    loadMessages(state.chatSeq);
  }
}

async function sendMessage(ev) {
  ev.preventDefault();
  const input = $('message-input');
  const text = input.value;
  if (!text.trim() || !state.chatId) return;
  const seq = state.chatSeq;
  input.value = '';
  try {
    const m = await api('POST', `/v1/chats/${encodeURIComponent(state.chatId)}/messages`, { text });
    if (seq !== state.chatSeq) return;
    upsertMessage(m);
    $('messages').scrollTop = $('messages').scrollHeight;
  } catch (e) {
    if (seq === state.chatSeq && !input.value) input.value = text;
    report(e, 'Sending the message');
  }
}

// ------------------------------------------------------------- WebSocket

async function connect(seq) {
  if (seq !== state.chatSeq || !state.token) return;
  const proto = location.protocol === 'https:' ? 'wss' : 'ws';
  // A browser cannot set headers on a WebSocket: a one-time ticket stands
  // in for the token, which never goes into a URL.
  let ticket;
  try {
    ({ ticket } = await api('POST', '/v1/events/tickets'));
  } catch (e) {
    if (seq !== state.chatSeq) return;
    setWsState('reconnecting');
    const delay = Math.min(10000, 500 * 2 ** state.wsRetry++);
    state.wsTimer = setTimeout(() => connect(seq), delay);
    return;
  }
  if (seq !== state.chatSeq || !state.token) return;
  const url = `${proto}://${location.host}/v1/chats/${encodeURIComponent(state.chatId)}/events?ticket=${encodeURIComponent(ticket)}`;
  const ws = new WebSocket(url);
  state.ws = ws;
  setWsState('connecting');
  ws.addEventListener('open', () => {
    if (state.ws !== ws) return;
    state.wsRetry = 0;
    setWsState('live');
    // Catch up on anything sent while we were (re)connecting.
    loadMessages(seq);
  });
  ws.addEventListener('message', (e) => {
    if (state.ws !== ws) return;
    let ev;
    try {
      ev = JSON.parse(e.data);
    } catch {
      return report(new Error(`unreadable event ${String(e.data).slice(0, 80)}`), 'Chat events');
    }
    applyEvent(ev);
    afterEvent();
  });
  ws.addEventListener('close', () => {
    if (state.ws !== ws) return;
    state.ws = null;
    setWsState('reconnecting');
    const delay = Math.min(10000, 500 * 2 ** state.wsRetry++);
    state.wsTimer = setTimeout(() => connect(seq), delay);
  });
}

function disconnect() {
  clearTimeout(state.wsTimer);
  const ws = state.ws;
  state.ws = null;
  if (ws) ws.close();
  setWsState('');
}

function setWsState(s) {
  const el = $('ws-state');
  el.textContent = s === 'live' ? 'live' : s;
  el.dataset.state = s;
}

// ---------------------------------------------------------------- buttons

/** The caller's invoices, to mark their messages open / paid / expired. */
async function refreshInvoices() {
  if (!state.me || state.me.role !== 'user') return;
  try {
    const { invoices } = await api('GET', '/v1/invoices');
    const next = new Map();
    for (const i of invoices) if (i.message) next.set(i.message, i);
    const changed = [...new Set([...next.keys(), ...state.invoices.keys()])].filter((id) => {
      const a = next.get(id);
      const b = state.invoices.get(id);
      return !a || !b || a.status !== b.status;
    });
    state.invoices = next;
    for (const id of changed) {
      const m = state.messages.get(id);
      if (m) upsertMessage(m);
    }
  } catch (e) {
    report(e, 'Reading your invoices');
  }
}

async function pressButton(messageId, button, el) {
  const chat = state.chatId;
  // Not `disabled`: that would take keyboard focus away from the button.
  if (el.getAttribute('aria-busy') === 'true') return;
  el.setAttribute('aria-busy', 'true');
  try {
    // A press on an invoice's button pays it: never without the user's yes.
    const { invoices } = await api('GET', '/v1/invoices?status=open');
    const invoice = invoices.find((i) => i.message === messageId);
    if (invoice) {
      openPayDialog(invoice);
      return;
    }
    const res = await api('POST', `/v1/chats/${encodeURIComponent(chat)}/messages/${encodeURIComponent(messageId)}/buttons/${button.index}`);
    if (res && res.invoice) {
      notice(`That invoice is already ${res.invoice.status}; nothing was charged.`);
      refreshWallet();
      refreshInvoices();
    }
  } catch (e) {
    report(e, `Pressing “${button.label}”`);
    if (e instanceof ApiError && e.status === 404 && /^pay\b/i.test(button.label)) {
      $('status').textContent += ' — this invoice is addressed to another member of the chat.';
    }
  } finally {
    el.removeAttribute('aria-busy');
  }
}

// --------------------------------------------------------------- payments

function openPayDialog(invoice) {
  state.payInvoice = invoice;
  $('pay-title').textContent = invoice.title || '(no title)';
  $('pay-amount').textContent = money(invoice.amount, invoice.currency);
  $('pay-app').textContent = appName(invoice.app);
  $('pay-balance').textContent = state.balance ? money(state.balance.balance, state.balance.currency) : '…';
  $('pay-confirm').textContent = `Pay ${money(invoice.amount, invoice.currency)}`;
  $('pay-confirm').disabled = false;
  $('pay-error').textContent = '';
  closeDialog('sign-dialog');
  $('pay-dialog').showModal();
  refreshWallet().then(() => {
    if (state.balance) $('pay-balance').textContent = money(state.balance.balance, state.balance.currency);
  });
}

async function confirmPay() {
  const invoice = state.payInvoice;
  if (!invoice) return;
  $('pay-confirm').disabled = true;
  $('pay-error').textContent = '';
  try {
    const paid = await api('POST', `/v1/invoices/${encodeURIComponent(invoice.id)}/pay`);
    state.payInvoice = null;
    $('pay-dialog').close();
    notice(`Paid ${money(paid.amount ?? invoice.amount, invoice.currency)} to ${appName(invoice.app)}.`);
    refreshWallet();
    refreshInvoices();
  } catch (e) {
    let text = describe(e);
    if (e instanceof ApiError && e.code === 'insufficient_funds') {
      const have = state.balance ? ` Your wallet has ${money(state.balance.balance, state.balance.currency)}.` : '';
      text = `Not enough money: this costs ${money(invoice.amount, invoice.currency)}.${have} (${e.message})`;
    }
    $('pay-error').textContent = text;
    $('pay-confirm').disabled = false;
    $('pay-confirm').focus();
    refreshWallet();
  }
}

// ------------------------------------------------------------- signatures

async function pollSignatures() {
  if (!state.me || state.me.role !== 'user' || state.signatureBusy) return;
  let list;
  try {
    ({ signatures: list } = await api('GET', '/v1/signatures?status=pending'));
  } catch (e) {
    return report(e, 'Checking signature requests');
  }
  state.pendingSignatures = list;
  const ids = new Set(list.map((s) => s.id));
  const btn = $('pending-signatures');
  btn.hidden = list.length === 0;
  btn.textContent = `${list.length} to sign`;
  const dialog = $('sign-dialog');
  if (dialog.open && state.signRequest && !ids.has(state.signRequest.id) && !state.signatureBusy) {
    dialog.close();
    notice('That signature request was decided elsewhere.');
  }
  if (!anyDialogOpen()) {
    const next = list.find((s) => !state.snoozed.has(s.id));
    if (next) openSignDialog(next);
  }
}

function openSignDialog(request) {
  state.signRequest = request;
  $('sign-title').textContent = request.title || '(untitled document)';
  $('sign-app').textContent = appName(request.app);
  const chat = state.chats.find((c) => c.id === request.chat);
  $('sign-chat').textContent = chat ? chat.title : request.chat || '—';
  if (typeof request.document_text === 'string') {
    $('sign-document').textContent = request.document_text;
  } else {
    const bytes = request.document ? Math.floor((request.document.length * 3) / 4) : 0;
    $('sign-document').textContent = `(binary document, about ${bytes} bytes — not shown as text)`;
  }
  $('sign-hash').textContent = request.document_sha256 ? `SHA-256 ${request.document_sha256}` : '';
  $('sign-error').textContent = '';
  for (const id of ['sign-confirm', 'sign-decline']) $(id).disabled = false;
  $('sign-dialog').showModal();
}

async function decideSignature(action) {
  const request = state.signRequest;
  if (!request) return;
  state.signatureBusy = true;
  for (const id of ['sign-confirm', 'sign-decline']) $(id).disabled = true;
  $('sign-error').textContent = '';
  try {
    await api('POST', `/v1/signatures/${encodeURIComponent(request.id)}/${action}`);
    state.signRequest = null;
    $('sign-dialog').close();
    notice(action === 'confirm' ? `Signed “${request.title}”.` : `Declined “${request.title}”.`);
  } catch (e) {
    $('sign-error').textContent = describe(e);
    for (const id of ['sign-confirm', 'sign-decline']) $(id).disabled = false;
    $(action === 'confirm' ? 'sign-confirm' : 'sign-decline').focus();
  } finally {
    state.signatureBusy = false;
  }
  pollSignatures();
}

function signLater() {
  if (state.signRequest) state.snoozed.add(state.signRequest.id);
  state.signRequest = null;
  closeDialog('sign-dialog');
}

function showPendingSignatures() {
  state.snoozed.clear();
  if (!anyDialogOpen() && state.pendingSignatures.length) openSignDialog(state.pendingSignatures[0]);
}

// ------------------------------------------------------------------- apps

async function loadCatalogue() {
  try {
    const { apps } = await api('GET', '/v1/apps');
    state.catalogue = apps;
    for (const a of apps) state.appNames.set(a.id, a.name);
    renderAddApp();
  } catch (e) {
    report(e, 'Loading the app catalogue');
  }
}

async function loadInstalled(seq) {
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

async function addApp(ev) {
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
  frame.setAttribute('sandbox', 'allow-scripts allow-forms allow-same-origin');
  frame.setAttribute('referrerpolicy', 'no-referrer');
  frame.setAttribute('title', `${app.name} (mini-app)`);
  frame.dataset.testid = 'app-frame';
  frame.dataset.appId = app.id;
  frame.className = 'app-frame';
  frame.src = src;
  $('app-panel-title').textContent = app.name;
  $('app-panel-body').replaceChildren(frame);
  $('app-panel').hidden = false;
  $('user-view').classList.add('with-panel');
}

function closeAppPanel() {
  $('app-panel-body').replaceChildren();
  $('app-panel').hidden = true;
  $('user-view').classList.remove('with-panel');
}

// --------------------------------------------------------------- consents

async function openConsentDialog(app) {
  state.consentApp = app;
  $('consent-app-name').textContent = app.name;
  $('consent-dialog-title').textContent = `Permissions for ${app.name}`;
  $('consent-error').textContent = '';
  for (const id of ['consent-profile', 'consent-phone']) {
    $(id).checked = false;
    $(id).disabled = true;
  }
  $('consent-save').disabled = true;
  $('consent-dialog').showModal();
  try {
    const { scopes } = await api('GET', `/v1/apps/${encodeURIComponent(app.id)}/consents`);
    state.consentBefore = scopes;
    $('consent-profile').checked = scopes.includes('identity.profile');
    $('consent-phone').checked = scopes.includes('identity.phone');
    for (const id of ['consent-profile', 'consent-phone', 'consent-save']) $(id).disabled = false;
  } catch (e) {
    $('consent-error').textContent = `Reading your permissions failed: ${describe(e)}`;
  }
}

async function saveConsents() {
  const app = state.consentApp;
  if (!app) return;
  const wanted = CONSENT_SCOPES.filter((s) => (s === 'identity.profile' ? $('consent-profile') : $('consent-phone')).checked);
  const revoking = state.consentBefore.some((s) => !wanted.includes(s));
  $('consent-save').disabled = true;
  $('consent-error').textContent = '';
  const path = `/v1/apps/${encodeURIComponent(app.id)}/consents`;
  try {
    // PUT only adds, so taking one back means revoking all and adding the rest.
    if (revoking) await api('DELETE', path);
    if (wanted.length) await api('PUT', path, { scopes: wanted });
    $('consent-dialog').close();
    notice(wanted.length ? `${app.name} may now see: ${wanted.join(', ')}.` : `${app.name} sees nothing about you beyond its app-scoped id.`);
  } catch (e) {
    $('consent-error').textContent = `Saving failed: ${describe(e)}`;
    $('consent-save').disabled = false;
    $('consent-save').focus();
  }
}

// ---------------------------------------------------------------- operator

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

async function loadReviews() {
  try {
    const list = await api('GET', '/v1/review');
    renderReviews(Array.isArray(list) ? list : list.versions || list.pending || []);
  } catch (e) {
    report(e, 'Loading pending reviews');
  }
}

function renderReviews(list) {
  $('review-empty').hidden = list.length > 0;
  $('review-list').replaceChildren(...list.map(renderReviewItem));
}

function renderReviewItem(item) {
  const requested = (item.requested || []).map((r) => (typeof r === 'string' ? { name: r, reason: '' } : r));
  const imports = item.imports || [];
  const rules = imports.map((i) => ({ name: i, rule: importRule(item, i) }));
  const capabilityImports = rules.filter((r) => r.rule !== 'always');
  const sandboxedImports = rules.filter((r) => r.rule === 'always');

  const grants = requested.map((r) => {
    const usedBy = rules.filter((x) => grantUnlocks(r.name, x.rule)).map((x) => x.name.split('@')[0]);
    return h('li', { class: 'grant' },
      h('label', { class: 'check' },
        h('input', { type: 'checkbox', checked: true, value: r.name, dataset: { testid: 'grant-checkbox', grant: r.name } }),
        h('code', {}, r.name)),
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
    h('div', { class: 'review-actions' },
      h('button', { type: 'button', class: 'primary', dataset: { testid: 'review-approve' }, onclick: () => decide(item, li, 'approve') }, 'Approve with checked grants'),
      h('span', { class: 'reject' }, reason,
        h('button', { type: 'button', class: 'danger', dataset: { testid: 'review-reject' }, onclick: () => decide(item, li, 'reject') }, 'Reject'))));
  return li;
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

async function credit(ev) {
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

// ------------------------------------------------------------------- boot

function wire() {
  watchScroll();
  $('signup-form').addEventListener('submit', signUp);
  $('signin-form').addEventListener('submit', signInForm);
  $('signout').addEventListener('click', signOutHere);
  $('copy-id').addEventListener('click', () => state.me && copyText(state.me.id, 'Account id'));
  $('status-dismiss').addEventListener('click', clearStatus);
  $('pending-signatures').addEventListener('click', showPendingSignatures);
  $('new-chat-form').addEventListener('submit', createChat);
  $('composer').addEventListener('submit', sendMessage);
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

  $('consent-cancel').addEventListener('click', () => $('consent-dialog').close());
  $('consent-save').addEventListener('click', saveConsents);

  $('review-refresh').addEventListener('click', loadReviews);
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
