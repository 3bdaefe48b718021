// Building the page: `$` and `h` (elements from plain data; untrusted text
// only ever goes in as text), formatting money, sizes, times and ids, switching
// between the page's views, and dialog helpers.

export const $ = (id) => document.getElementById(id);

/** Creates an element: h('button', {type: 'button', dataset: {testid: 'x'}, onclick}, 'text', child…). */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'dataset') {
      for (const [dk, dv] of Object.entries(v)) if (dv !== undefined && dv !== null) el.dataset[dk] = dv;
    }
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
export function money(amount, currency = 'RUB') {
  const n = Number(amount) || 0;
  const abs = Math.abs(n);
  const units = Math.floor(abs / 100);
  const cents = String(abs % 100).padStart(2, '0');
  const symbol = currency === 'RUB' ? '₽' : currency;
  return `${n < 0 ? '-' : ''}${units}.${cents} ${symbol}`;
}

/** "1000", "1000.5", "1 000,50" → minor units, or null. */
export function parseMoney(text) {
  const clean = text.replace(/[\s ₽]/g, '').replace(',', '.');
  if (!/^\d+(\.\d{1,2})?$/.test(clean)) return null;
  const [units, cents = ''] = clean.split('.');
  return Number(units) * 100 + Number(cents.padEnd(2, '0'));
}

/** Bytes → "812 B", "14.2 KB", "3.0 MB" (powers of 1024). */
export function fileSize(bytes) {
  const n = Number(bytes) || 0;
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB'];
  let value = n / 1024;
  let i = 0;
  while (value >= 1024 && i < units.length - 1) {
    value /= 1024;
    i += 1;
  }
  return `${value.toFixed(1)} ${units[i]}`;
}

export function timeLabel(ms) {
  const d = new Date(ms);
  const now = new Date();
  const sameDay = d.toDateString() === now.toDateString();
  return sameDay
    ? d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })
    : d.toLocaleString([], { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' });
}

export function shortId(id) {
  return id ? `…${String(id).slice(-6)}` : '?';
}

// ------------------------------------------------------------------ views

export function show(view) {
  for (const id of ['loading', 'auth-view', 'user-view', 'operator-view']) $(id).hidden = id !== view;
}

export function anyDialogOpen() {
  return [...document.querySelectorAll('dialog')].some((d) => d.open);
}

export function closeDialog(id) {
  const d = $(id);
  if (d.open) d.close();
}
