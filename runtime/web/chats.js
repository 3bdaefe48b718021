// Chats: the chat list and invitations, creating a chat, the `#/chat/{id}`
// route, opening and closing a chat, its header, and the names of members
// and apps as the timeline shows them.

import { state } from './state.js';
import { $, h, shortId } from './dom.js';
import { api, report, clearStatus } from './api.js';
import { connect, disconnect } from './stream.js';
import { loadMessages } from './messages.js';
import { loadInstalled, closeAppPanel } from './apps.js';
import { refreshInvoices } from './payments.js';
import { clearAttachments } from './uploads.js';

export async function loadChats() {
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

export async function createChat(ev) {
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

export async function route() {
  if (!state.me) return;
  const m = location.hash.match(/^#\/chat\/([^/]+)$/);
  if (state.me.role !== 'user') return;
  if (m) await openChat(decodeURIComponent(m[1]));
  else closeChat();
}

function closeChat() {
  disconnect();
  closeAppPanel();
  clearAttachments();
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
  clearAttachments(); // uploaded to the chat being left
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

export function memberName(id) {
  const me = state.me;
  if (me && me.id === id) return `${me.name} (you)`;
  const members = (state.chat && (state.chat.people || state.chat.members)) || [];
  const found = members.find((m) => m && typeof m === 'object' && m.id === id);
  if (found && found.name) return found.name;
  return `User ${shortId(id)}`;
}

export function appName(id) {
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
