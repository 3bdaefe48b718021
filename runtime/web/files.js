// Files people sent, as the page shows them: an attachment in the timeline
// (an image's preview, any other file as a row with a Download button),
// downloading a file, the image viewer, and the file a signature request
// asks the user to sign.
//
// A file's bytes need the bearer token, which an `<img src>` or a link
// cannot send: they are fetched with it and shown from blob URLs. The
// timeline's previews are shared by id and revoked once no message on the
// page shows them; a dialog's image is revoked when the dialog closes.

import { $, h, fileSize } from './dom.js';
import { apiBlob, describe, report } from './api.js';

const filePath = (file) => `/v1/files/${encodeURIComponent(file.id)}`;
const previewPath = (file) => `${filePath(file)}/preview`;

// The images a browser shows as they are; anything else with a preview
// (say, a TIFF) is shown by its preview in the viewer too.
const SHOWN_AS_IS = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp']);

/** "application/pdf" → "PDF document"; otherwise the media type itself. */
export function typeLabel(mediaType) {
  const known = {
    'application/pdf': 'PDF document',
    'image/png': 'PNG image',
    'image/jpeg': 'JPEG image',
    'image/gif': 'GIF image',
    'image/webp': 'WebP image',
    'text/plain': 'Text',
    'application/zip': 'ZIP archive',
  };
  return known[mediaType] || mediaType || 'file';
}

// ------------------------------------------------------ blob-backed images

/** Shows the bytes at `path` in `img` from a blob URL; false if `img` was unloaded or reused meanwhile. */
async function loadInto(img, path) {
  unload(img);
  img.dataset.want = path;
  const blob = await apiBlob(path);
  if (img.dataset.want !== path) return false;
  img.src = URL.createObjectURL(blob);
  return true;
}

/** Empties `img`, revoking its blob URL. */
function unload(img) {
  delete img.dataset.want;
  if (img.src.startsWith('blob:')) URL.revokeObjectURL(img.src);
  img.removeAttribute('src');
}

// ------------------------------------------------------- timeline previews

const previews = new Map(); // file id -> Promise<blob URL>

function previewUrl(file) {
  let url = previews.get(file.id);
  if (!url) {
    url = apiBlob(previewPath(file)).then((blob) => URL.createObjectURL(blob));
    previews.set(file.id, url);
    url.catch(() => previews.delete(file.id)); // asked again on the next drawing
  }
  return url;
}

/** Revokes the previews that no message in `list` shows any more (one left the page, or lost its files). */
export function watchPreviews(list) {
  new MutationObserver(() => {
    for (const [id, url] of previews) {
      if (list.querySelector(`img[data-preview-of="${CSS.escape(id)}"]`)) continue;
      previews.delete(id);
      url.then((u) => URL.revokeObjectURL(u), () => {});
    }
  }).observe(list, { childList: true, subtree: true });
}

/** A message's files: images as previews that open the viewer, other files as rows to download. */
export function renderAttachments(files) {
  if (!files || !files.length) return null;
  return h('div', { class: 'attachments', dataset: { testid: 'attachments' } }, files.map((file) =>
    file.preview ? renderPreview(file) : renderFileRow(file)));
}

function renderPreview(file) {
  const img = h('img', {
    alt: file.name,
    width: file.preview.width,
    height: file.preview.height,
    dataset: { testid: 'attachment-preview-image', previewOf: file.id },
  });
  const button = h('button', {
    type: 'button',
    class: 'attachment-preview',
    title: `${file.name} — ${fileSize(file.size)}`,
    'aria-label': `Open the image ${file.name}`,
    dataset: { testid: 'attachment-preview', fileId: file.id },
    onclick: () => openViewer(file),
  }, img);
  previewUrl(file).then((url) => {
    img.src = url;
  }, (e) => {
    img.replaceWith(h('span', { class: 'preview-error small-text' }, `${file.name}: no preview (${describe(e)})`));
  });
  return button;
}

function renderFileRow(file) {
  return h('div', { class: 'attachment-file', dataset: { testid: 'attachment-file', fileId: file.id } },
    h('span', { class: 'file-name', dataset: { testid: 'attachment-name' } }, file.name),
    h('span', { class: 'file-facts muted small-text' }, `${typeLabel(file.media_type)} · ${fileSize(file.size)}`),
    downloadButton(file, 'attachment-download'));
}

function downloadButton(file, testid) {
  return h('button', {
    type: 'button',
    class: 'small',
    'aria-label': `Download ${file.name}`,
    dataset: { testid },
    onclick: (ev) => download(file, ev.currentTarget),
  }, 'Download');
}

// ---------------------------------------------------------------- download

/** Saves a file: fetched with the token, handed to the browser from a blob through a temporary link. */
export async function download(file, button) {
  if (!file || button.getAttribute('aria-busy') === 'true') return;
  button.setAttribute('aria-busy', 'true');
  try {
    const url = URL.createObjectURL(await apiBlob(filePath(file)));
    const link = h('a', { href: url, download: file.name, hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
    // The browser has taken the blob by the time the click returns, in
    // Chromium; others may still be reading it for a moment.
    setTimeout(() => URL.revokeObjectURL(url), 30_000);
  } catch (e) {
    report(e, `Downloading “${file.name}”`);
  } finally {
    button.removeAttribute('aria-busy');
  }
}

// ------------------------------------------------------------ image viewer

let viewing = null; // the file the viewer shows
let opener = null; // what had the focus before: it gets it back

function openViewer(file) {
  viewing = file;
  opener = document.activeElement;
  const dialog = $('image-viewer');
  const img = $('image-viewer-image');
  $('image-viewer-title').textContent = file.name;
  $('image-viewer-facts').textContent = `${typeLabel(file.media_type)} · ${fileSize(file.size)}`;
  $('image-viewer-error').textContent = '';
  img.alt = file.name;
  dialog.setAttribute('aria-busy', 'true');
  dialog.showModal();
  const path = SHOWN_AS_IS.has(file.media_type) ? filePath(file) : previewPath(file);
  loadInto(img, path).catch((e) => {
    if (viewing === file) $('image-viewer-error').textContent = `The image did not load: ${describe(e)}`;
  }).finally(() => {
    if (viewing === file) dialog.removeAttribute('aria-busy');
  });
}

/** The viewer's controls: Close and Esc close it (and free its image), Download saves the file. */
export function wireViewer() {
  const dialog = $('image-viewer');
  $('image-viewer-close').addEventListener('click', () => dialog.close());
  $('image-viewer-download').addEventListener('click', (ev) => download(viewing, ev.currentTarget));
  dialog.addEventListener('close', () => {
    viewing = null;
    dialog.removeAttribute('aria-busy');
    unload($('image-viewer-image'));
    if (opener && opener.isConnected) opener.focus();
    opener = null;
  });
}

// ------------------------------------------------- the file to be signed

let signing = null; // the file the signature dialog shows

/** Shows a signature request's `file` in the signature dialog (its preview, name, type, size, sha256), or hides that part for none. */
export function showSignFile(file) {
  signing = file || null;
  const img = $('sign-file-preview');
  unload(img);
  img.hidden = true;
  $('sign-file').hidden = !file;
  $('sign-file-error').textContent = '';
  if (!file) return;
  $('sign-file-name').textContent = file.name;
  $('sign-file-type').textContent = typeLabel(file.media_type);
  $('sign-file-size').textContent = `${fileSize(file.size)} (${file.size} bytes)`;
  $('sign-file-sha256').textContent = file.sha256;
  if (!file.preview) return;
  img.alt = `Preview of ${file.name}`;
  img.width = file.preview.width;
  img.height = file.preview.height;
  loadInto(img, previewPath(file)).then((shown) => {
    if (shown && signing === file) img.hidden = false;
  }, (e) => {
    if (signing === file) $('sign-file-error').textContent = `The preview did not load: ${describe(e)}`;
  });
}

export function wireSignFile() {
  $('sign-file-download').addEventListener('click', (ev) => download(signing, ev.currentTarget));
  $('sign-dialog').addEventListener('close', () => showSignFile(null));
}
