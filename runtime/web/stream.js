// The open chat's live event stream: a WebSocket opened with a one-time
// ticket, reconnecting with backoff, its state shown in the chat header; and
// what follows an event (signatures, wallet and invoices looked at again).

import { state } from './state.js';
import { $ } from './dom.js';
import { api, report } from './api.js';
import { applyEvent, loadMessages } from './messages.js';
import { refreshWallet, refreshInvoices } from './payments.js';
import { pollSignatures } from './signatures.js';

export async function connect(seq) {
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

export function disconnect() {
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
