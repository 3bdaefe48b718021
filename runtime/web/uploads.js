// The composer's attachments: picking files (at most 10 a message),
// uploading each one as soon as it is picked, its chip (name, size,
// progress or state, the host's error, remove), and the ids of the
// uploaded files that the next message sends.

import { state } from './state.js';
import { $, h, fileSize } from './dom.js';
import { authHeaders, errorFrom, report, announce } from './api.js';

/** What one message may carry (the host's limit). */
export const MAX_FILES = 10;

let items = []; // {key, file, chat, status: 'uploading'|'done'|'error', progress, id, error, xhr, el}
let nextKey = 1;

/** Uploads the files picked in the file input, as many as still fit in the message. */
export function addPicked() {
  const input = $('file-input');
  const picked = [...input.files];
  input.value = ''; // picking the same file again is a change too
  if (!state.chatId || !picked.length) return;
  const room = MAX_FILES - items.length;
  if (picked.length > room) {
    const left = picked.length - Math.max(room, 0);
    report(new Error(`a message carries at most ${MAX_FILES} files; ${left} of those picked were left out`), 'Attaching files');
  }
  for (const file of picked.slice(0, Math.max(room, 0))) {
    const item = { key: nextKey++, file, chat: state.chatId, status: 'uploading', progress: 0 };
    items.push(item);
    upload(item);
  }
  render();
}

function upload(item) {
  const form = new FormData();
  form.append('file', item.file, item.file.name);
  // XMLHttpRequest, not fetch: only it reports the upload's progress.
  const xhr = new XMLHttpRequest();
  item.xhr = xhr;
  xhr.open('POST', `/v1/chats/${encodeURIComponent(item.chat)}/files`);
  for (const [name, value] of Object.entries(authHeaders())) xhr.setRequestHeader(name, value);
  xhr.upload.addEventListener('progress', (e) => {
    if (!e.lengthComputable) return;
    item.progress = e.loaded / e.total;
    const bar = item.el && item.el.querySelector('progress');
    if (bar) bar.value = item.progress;
  });
  xhr.addEventListener('load', () => {
    let uploaded = null;
    try {
      uploaded = xhr.status === 201 ? JSON.parse(xhr.responseText) : null;
    } catch {
      uploaded = null;
    }
    if (uploaded && uploaded.id) {
      finish(item, 'done', { id: uploaded.id });
      announce(`${item.file.name} is uploaded.`);
      return;
    }
    const err = errorFrom(xhr.status, xhr.responseText, `Uploading ${item.file.name}`);
    finish(item, 'error', { error: err.message, code: err.code });
    if (err.status === 401) report(err, 'Uploading a file');
  });
  xhr.addEventListener('error', () => {
    // The host answers an oversized upload before reading all of it; a
    // browser may then see the connection closed instead of that answer.
    finish(item, 'error', { error: 'the upload was cut off (a network error, or a file over the host\'s size limit)', code: 'network' });
  });
  xhr.send(form);
}

function finish(item, status, facts) {
  item.xhr = null;
  if (!items.includes(item)) return; // removed meanwhile
  Object.assign(item, { status }, facts);
  if (status === 'error') announce(`${item.file.name} did not upload: ${item.error}`);
  redraw(item);
}

function remove(item) {
  if (item.xhr) item.xhr.abort();
  // An uploaded file not sent is discarded on the host too, freeing the
  // room it takes in the quota (a failure here only leaves it to expire).
  if (item.status === 'done' && item.id) {
    fetch(`/v1/files/${encodeURIComponent(item.id)}`, { method: 'DELETE', headers: authHeaders() }).catch(() => {});
  }
  const at = items.indexOf(item);
  items = items.filter((i) => i !== item);
  render();
  // Keep the keyboard where it was: the next chip's remove button, or Attach.
  const next = items[Math.min(at, items.length - 1)];
  (next ? next.el.querySelector('.chip-remove') : $('attach-button')).focus();
}

function chip(item) {
  const { file } = item;
  const shown = {
    uploading: h('progress', { max: 1, value: item.progress, 'aria-label': `Uploading ${file.name}` }),
    done: h('span', { class: 'chip-state' }, 'ready'),
    error: h('span', { class: 'chip-error', dataset: { testid: 'attachment-error' } }, item.error),
  }[item.status];
  return h('li', {
    class: `chip ${item.status}`,
    dataset: { testid: 'attachment-chip', state: item.status, fileId: item.id, code: item.code },
  },
  h('span', { class: 'chip-name', dataset: { testid: 'attachment-chip-name' } }, file.name),
  h('span', { class: 'chip-size muted' }, fileSize(file.size)),
  shown,
  h('button', {
    type: 'button',
    class: 'chip-remove small',
    'aria-label': `Remove ${file.name}`,
    title: 'Remove',
    dataset: { testid: 'attachment-remove' },
    onclick: () => remove(item),
  }, '×'));
}

/** Draws one chip again, keeping the focus on its remove button. */
function redraw(item) {
  const old = item.el;
  item.el = chip(item);
  if (!old || !old.isConnected) return render();
  const focused = old.contains(document.activeElement);
  old.replaceWith(item.el);
  if (focused) item.el.querySelector('.chip-remove').focus();
}

function render() {
  for (const item of items) item.el = chip(item);
  $('attachment-chips').replaceChildren(...items.map((i) => i.el));
  $('attachment-chips').hidden = items.length === 0;
  $('attach-button').disabled = items.length >= MAX_FILES;
}

/** The ids the next message sends; throws while one is uploading or after one failed. */
export function readyFiles() {
  const busy = items.find((i) => i.status === 'uploading');
  if (busy) throw new Error(`“${busy.file.name}” is still uploading; send when its chip says ready`);
  const failed = items.find((i) => i.status === 'error');
  if (failed) throw new Error(`“${failed.file.name}” did not upload (${failed.error}); remove it with × first`);
  return items.map((i) => i.id);
}

/** Drops the chips of files that were sent. */
export function forgetSent(ids) {
  items = items.filter((i) => !ids.includes(i.id));
  render();
}

/** Drops every chip (another chat was opened), stopping uploads under way. */
export function clearAttachments() {
  for (const item of items) if (item.xhr) item.xhr.abort();
  items = [];
  render();
}
