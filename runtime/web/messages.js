// The open chat's timeline: loading, keeping to the bottom, drawing a
// message (with its files, invoice state and inline buttons), applying
// stream events, the composer (text and the uploaded files), pressing a
// message's button, and deleting one's own message.

import { state } from './state.js';
import { $, h, money, timeLabel } from './dom.js';
import { ApiError, api, describe, report, notice, announce } from './api.js';
import { renderAttachments, watchPreviews } from './files.js';
import { readyFiles, forgetSent } from './uploads.js';
import { memberName, appName } from './chats.js';
import { refreshWallet, refreshInvoices, openPayDialog } from './payments.js';

export async function loadMessages(seq) {
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
export function watchScroll() {
  const list = $('messages');
  watchPreviews(list);
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

export function upsertMessage(m) {
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
    m.edited_at && !m.deleted ? h('span', { class: 'edited', title: new Date(m.edited_at).toLocaleString() }, 'edited') : null,
    mine && !m.deleted ? h('button', {
      type: 'button',
      class: 'msg-delete small',
      'aria-label': 'Delete this message',
      dataset: { testid: 'message-delete', messageId: m.id },
      onclick: () => askDelete(m.id),
    }, 'Delete') : null);
  const files = m.deleted ? null : renderAttachments(m.files);
  const body = m.deleted
    ? h('p', { class: 'text' }, 'Message deleted')
    : files && !m.text ? null : h('p', { class: 'text', dataset: { testid: 'message-text' } }, m.text);
  const li = h('li', {
    class: classes.join(' '),
    dataset: { testid: 'message', messageId: m.id, senderKind: m.sender_kind, sort: sortKey(m) },
  }, meta, files, body);
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

export function applyEvent(ev) {
  if (ev.type === 'message.new' || ev.type === 'message.edited') {
    const { type, ...m } = ev;
    if (m.chat && m.chat !== state.chatId) return;
    const list = $('messages');
    const atBottom = nearBottom(list);
    const isNew = !state.messages.has(m.id);
    upsertMessage(m);
    const mine = m.sender_kind === 'user' && state.me && m.sender === state.me.id;
    if (atBottom || mine) list.scrollTop = list.scrollHeight;
    if (type === 'message.new' && isNew && !mine) announce(`${senderLabel(m)}: ${spoken(m)}`);
  } else if (ev.type === 'message.deleted') {
    const prev = state.messages.get(ev.id);
    if (prev) upsertMessage({ ...prev, deleted: true, text: '', buttons: [], files: [] });
  } else if (ev.type === 'lagged') {
    loadMessages(state.chatSeq);
  }
}

/** What a screen reader says of a new message: its text, or its files. */
function spoken(m) {
  const n = (m.files || []).length;
  const files = n ? `${n} file${n === 1 ? '' : 's'} (${m.files.map((f) => f.name).join(', ')})` : '';
  return [m.text, files].filter(Boolean).join(' — ');
}

let sending = false;
export async function sendMessage(ev) {
  ev.preventDefault();
  const input = $('message-input');
  const text = input.value;
  if (!state.chatId || sending) return;
  let files;
  try {
    files = readyFiles();
  } catch (e) {
    return report(e, 'Sending the message');
  }
  if (!text.trim() && !files.length) return;
  const seq = state.chatSeq;
  input.value = '';
  sending = true;
  try {
    // With files the text is an optional caption: blank means none.
    const body = files.length ? { text: text.trim() ? text : '', files } : { text };
    const m = await api('POST', `/v1/chats/${encodeURIComponent(state.chatId)}/messages`, body);
    forgetSent(files);
    if (seq !== state.chatSeq) return;
    upsertMessage(m);
    $('messages').scrollTop = $('messages').scrollHeight;
  } catch (e) {
    if (seq === state.chatSeq && !input.value) input.value = text;
    report(e, 'Sending the message');
  } finally {
    sending = false;
  }
}

// ------------------------------------------------------------- deleting

function askDelete(id) {
  state.deleteMessage = id;
  $('delete-error').textContent = '';
  $('delete-confirm').disabled = false;
  $('delete-dialog').showModal();
}

/** Deletes the message the delete dialog asks about, for everyone (its files too). */
export async function confirmDelete() {
  const id = state.deleteMessage;
  if (!id) return;
  $('delete-confirm').disabled = true;
  try {
    await api('DELETE', `/v1/chats/${encodeURIComponent(state.chatId)}/messages/${encodeURIComponent(id)}`);
    state.deleteMessage = null;
    $('delete-dialog').close();
    applyEvent({ type: 'message.deleted', id });
    // Its Delete button is gone: the timeline keeps the keyboard.
    $('messages').focus({ preventScroll: true });
    announce('Message deleted.');
  } catch (e) {
    $('delete-error').textContent = describe(e);
    $('delete-confirm').disabled = false;
    $('delete-confirm').focus();
  }
}

// ---------------------------------------------------------------- buttons

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
