// Talking to the host and saying what went wrong: `api` (fetch with the
// bearer token, JSON in and out, ApiError from the host's error body),
// `apiBlob` (the same for a file's bytes), and
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

/** The Authorization header, when signed in. */
export function authHeaders() {
  return state.token ? { Authorization: `Bearer ${state.token}` } : {};
}

function parseJson(text) {
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/** The ApiError for a refused request: the host's {error: {code, message}} when the body has one. */
export function errorFrom(status, bodyText, what) {
  const data = parseJson(bodyText);
  const err = data && data.error;
  return new ApiError(
    status,
    (err && err.code) || `http_${status}`,
    (err && err.message) || `${what} answered HTTP ${status}`,
  );
}

async function send(method, path, init) {
  try {
    const res = await fetch(path, { method, ...init });
    if (networkErrorShown) clearStatus(); // the server is back
    return res;
  } catch (e) {
    throw new ApiError(0, 'network', `cannot reach the server (${e.message})`);
  }
}

/** One API call; throws ApiError carrying the host's {error: {code, message}}. */
export async function api(method, path, body) {
  const headers = authHeaders();
  const init = { headers };
  if (body !== undefined) {
    headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const res = await send(method, path, init);
  const text = await res.text();
  if (!res.ok) throw errorFrom(res.status, text, `${method} ${path}`);
  return parseJson(text);
}

/** GETs bytes (a file, a preview) with the token; throws ApiError like `api`. */
export async function apiBlob(path) {
  const res = await send('GET', path, { headers: authHeaders() });
  if (!res.ok) throw errorFrom(res.status, await res.text(), `GET ${path}`);
  return res.blob();
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
