// Money on the user's side: the wallet balance, the user's invoices (which
// mark their messages), and the dialog that confirms a payment before
// anything is paid.

import { state } from './state.js';
import { $, money, closeDialog } from './dom.js';
import { ApiError, api, describe, report, notice } from './api.js';
import { appName } from './chats.js';
import { upsertMessage } from './messages.js';

export async function refreshWallet() {
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

/** The caller's invoices, to mark their messages open / paid / expired. */
export async function refreshInvoices() {
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

export function openPayDialog(invoice) {
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

export async function confirmPay() {
  const invoice = state.payInvoice;
  if (!invoice) return;
  $('pay-confirm').disabled = true;
  $('pay-error').textContent = '';
  try {
    const paid = await api('POST', `/v1/invoices/${encodeURIComponent(invoice.id)}/pay`);
    // For a page that opened this invoice through the bridge.
    state.lastPaid = invoice.id;
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
