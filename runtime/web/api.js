// Talking to the host and saying what went wrong: `api` (fetch with the
// bearer token, JSON in and out, ApiError from the host's error body), and
// the status area (`report` shows an error and signs out on a refused token),
// the passing notice and the screen-reader announcement.

import { state } from './state.js';
import { $ } from './dom.js';
import { signOut } from './session.js';

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** One API call; throws ApiError carrying the host's {error: {code, message}}. */
export async function api(method, path, body) {
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

export function describe(err) {
  if (err instanceof ApiError) {
    return err.status ? `${err.message} (${err.code}, HTTP ${err.status})` : err.message;
  }
  return err && err.message ? err.message : String(err);
}

// ------------------------------------------------------------ status area

let networkErrorShown = false;

/** Shows an error in the role="alert" area; never swallowed. */
export function report(err, doing) {
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

export function clearStatus() {
  networkErrorShown = false;
  $('status').textContent = '';
  $('status-dismiss').hidden = true;
}

let noticeTimer = null;
export function notice(text) {
  $('notice').textContent = text;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => {
    $('notice').textContent = '';
  }, 6000);
}

export function announce(text) {
  $('live').textContent = text;
}
