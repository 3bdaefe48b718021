// Signature requests: polling the pending ones, the dialog that shows the
// document (its text, or the file an app asks to have signed) and signs or
// declines it, and putting a request off ("Later").

import { state } from './state.js';
import { $, anyDialogOpen, closeDialog } from './dom.js';
import { api, describe, report, notice } from './api.js';
import { appName } from './chats.js';
import { showSignFile } from './files.js';

export async function pollSignatures() {
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

export function openSignDialog(request) {
  state.signRequest = request;
  $('sign-title').textContent = request.title || '(untitled document)';
  $('sign-app').textContent = appName(request.app);
  const chat = state.chats.find((c) => c.id === request.chat);
  $('sign-chat').textContent = chat ? chat.title : request.chat || '—';
  // A file (a PDF, a photo…) is shown as a file, never as its bytes' text.
  showSignFile(request.file);
  $('sign-document').hidden = Boolean(request.file);
  if (request.file) {
    $('sign-document').textContent = '';
  } else if (typeof request.document_text === 'string') {
    $('sign-document').textContent = request.document_text;
  } else {
    const bytes = request.document ? Math.floor((request.document.length * 3) / 4) : 0;
    $('sign-document').textContent = `(binary document, about ${bytes} bytes — not shown as text)`;
  }
  // A file's own SHA-256 is shown with it; the document's only if it differs.
  const hash = request.file && request.file.sha256 === request.document_sha256 ? '' : request.document_sha256;
  $('sign-hash').textContent = hash ? `SHA-256 ${hash}` : '';
  $('sign-error').textContent = '';
  for (const id of ['sign-confirm', 'sign-decline']) $(id).disabled = false;
  $('sign-dialog').showModal();
}

export async function decideSignature(action) {
  const request = state.signRequest;
  if (!request) return;
  state.signatureBusy = true;
  for (const id of ['sign-confirm', 'sign-decline']) $(id).disabled = true;
  $('sign-error').textContent = '';
  try {
    await api('POST', `/v1/signatures/${encodeURIComponent(request.id)}/${action}`);
    // For a page that asked for this signature through the bridge.
    state.lastSignature = { id: request.id, action };
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

export function signLater() {
  if (state.signRequest) state.snoozed.add(state.signRequest.id);
  state.signRequest = null;
  closeDialog('sign-dialog');
}

export function showPendingSignatures() {
  state.snoozed.clear();
  if (!anyDialogOpen() && state.pendingSignatures.length) openSignDialog(state.pendingSignatures[0]);
}
