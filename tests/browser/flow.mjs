// End-to-end check of the chat web client in headless Chromium.
//
//   MINIAPP_URL      base URL of a running host (default http://127.0.0.1:8080)
//   OPERATOR_TOKEN   the host's operator token (credits the wallet; operator scenario)
//   OUT_DIR          where PNG screenshots go (default ./screenshots)
//   GOV_APP          app id of the approved gov-services web app (user scenario)
//   PENDING_APP      app id with a version waiting for review (operator scenario)
//   PROBE_APP        app id of the approved web-probe web app (isolation scenario)
//   SHOP_APP         app id of the approved shopping-list app (live scenario)
//   SCENARIO         user | operator | isolation | live | all (default: all)
//   CHROMIUM         browser binary (default /usr/bin/chromium)
//
// Exits 0 when every step passed and no page or frame threw an uncaught
// exception or logged a console error; otherwise prints the failing step,
// the client's error area and page errors, saves a failure screenshot,
// exits 1.

import { chromium } from 'playwright-core';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';

const BASE = (process.env.MINIAPP_URL || 'http://127.0.0.1:8080').replace(/\/+$/, '');
const OPERATOR_TOKEN = process.env.OPERATOR_TOKEN || '';
const OUT_DIR = process.env.OUT_DIR || path.resolve('screenshots');
const GOV_APP = process.env.GOV_APP || '';
const PENDING_APP = process.env.PENDING_APP || '';
const PROBE_APP = process.env.PROBE_APP || '';
const SHOP_APP = process.env.SHOP_APP || '';
const SCENARIO = process.env.SCENARIO || 'all';
const WAIT = 20_000; // every expectation waits at most this long

if (!['user', 'operator', 'isolation', 'live', 'all'].includes(SCENARIO)) fail(`SCENARIO must be user, operator, isolation, live or all (got ${SCENARIO})`);
const runUser = SCENARIO === 'user' || SCENARIO === 'all';
const runOperator = SCENARIO === 'operator' || SCENARIO === 'all';
const runIsolation = SCENARIO === 'isolation' || SCENARIO === 'all';
const runLive = SCENARIO === 'live' || SCENARIO === 'all';
const missing = [
  ['OPERATOR_TOKEN', OPERATOR_TOKEN, true],
  ['GOV_APP', GOV_APP, runUser || runIsolation],
  ['PENDING_APP', PENDING_APP, runOperator],
  ['PROBE_APP', PROBE_APP, runIsolation],
  ['SHOP_APP', SHOP_APP, runLive],
].filter(([, value, needed]) => needed && !value).map(([name]) => name);
if (missing.length) fail(`missing environment: ${missing.join(', ')}`);
fs.mkdirSync(OUT_DIR, { recursive: true });

function fail(message) {
  console.error(`FAIL: ${message}`);
  process.exit(1);
}

// Fixed numbers, so the files sort in story order whichever scenarios ran.
const SCREENS = [
  'signed-up', 'chat-timeline', 'attachments-picked', 'attachments-sent', 'image-viewer',
  'delete-dialog', 'app-panel', 'booking-form', 'signature-dialog',
  'pay-dialog', 'confirmation-in-chat', 'scan-form', 'signature-file', 'scan-signed',
  'operator-review', 'after-approval', 'dashboard-health', 'dashboard-report',
  'isolation-attacker', 'isolation-victim', 'live-adding', 'live-seen',
];
async function shot(page, name) {
  const n = SCREENS.indexOf(name) + 1;
  if (n === 0) throw new Error(`unknown screen ${name}`);
  const file = path.join(OUT_DIR, `${String(n).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file });
  console.log(`  screenshot ${file}`);
}

let current = '';
async function step(name, fn) {
  current = name;
  const started = Date.now();
  const errorsBefore = pageErrors.length;
  await fn();
  // A step that left an uncaught exception or a console error behind (in
  // the client or in the app's frame) failed, whatever the page shows.
  const fresh = pageErrors.slice(errorsBefore);
  if (fresh.length) throw new Error(`errors in the page during this step:\n    ${fresh.join('\n    ')}`);
  console.log(`ok   ${name} (${Date.now() - started} ms)`);
}

/** Direct API call from Node (for what the UI must not do, e.g. the operator's credit). */
async function api(method, route, token, body) {
  const res = await fetch(BASE + route, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${route} answered ${res.status}: ${text}`);
  return text ? JSON.parse(text) : null;
}

/** Polls `fn` until it returns a truthy value or WAIT passes. */
async function until(what, fn) {
  const deadline = Date.now() + WAIT;
  let last;
  for (;;) {
    try {
      const value = await fn();
      if (value) return value;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${WAIT / 1000} s waiting for ${what}${last ? ` (last error: ${last.message})` : ''}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** The origin every web app is served from: `{app}.apps.localhost:<port>`. */
function appOrigin(app) {
  return `http://${app}.apps.localhost:${new URL(BASE).port}`;
}

async function visible(locator, what) {
  try {
    await locator.first().waitFor({ state: 'visible', timeout: WAIT });
  } catch {
    throw new Error(`timed out after ${WAIT / 1000} s waiting for ${what} to be visible`);
  }
  return locator.first();
}

async function gone(locator, what) {
  try {
    await locator.first().waitFor({ state: 'hidden', timeout: WAIT });
  } catch {
    throw new Error(`${what} still visible after ${WAIT / 1000} s`);
  }
}

/** The id of the chat the page shows (`#/chat/{id}`). */
function chatIdOf(page) {
  return decodeURIComponent(new URL(page.url()).hash.replace(/^#\/chat\//, ''));
}

/** Drops the console errors since `before` that `expected` matches (a refusal the step provoked on purpose). */
function forgive(before, expected) {
  const kept = pageErrors.slice(before).filter((line) => !expected.test(line));
  pageErrors.length = before;
  pageErrors.push(...kept);
}

// ------------------------------------------------------------ file bytes

function pngChunk(type, data) {
  const head = Buffer.alloc(4);
  head.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(zlib.crc32(body) >>> 0);
  return Buffer.concat([head, body, crc]);
}

/** A width×height RGB PNG (a colour gradient); with `pixels` false, one that only claims that size (a decompression bomb): its image data is empty. */
function png(width, height, pixels = true) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  const chunks = [pngChunk('IHDR', ihdr)];
  const row = width * 3 + 1;
  const raw = Buffer.alloc(pixels ? row * height : 0);
  for (let y = 0; pixels && y < height; y += 1) {
    for (let x = 0; x < width; x += 1) {
      raw.set([x % 256, y % 256, (x + y) % 256], y * row + 1 + x * 3);
    }
  }
  chunks.push(pngChunk('IDAT', pixels ? zlib.deflateSync(raw) : raw), pngChunk('IEND', Buffer.alloc(0)));
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), ...chunks]);
}

/** A small, valid one-page PDF saying `text`. */
function pdf(text) {
  const stream = `BT /F1 24 Tf 72 720 Td (${text}) Tj ET`;
  const objects = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>',
    `<< /Length ${stream.length} >>\nstream\n${stream}\nendstream`,
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>',
  ];
  let out = '%PDF-1.4\n';
  const offsets = objects.map((body, i) => {
    const at = out.length;
    out += `${i + 1} 0 obj\n${body}\nendobj\n`;
    return at;
  });
  const xref = out.length;
  out += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  for (const at of offsets) out += `${String(at).padStart(10, '0')} 00000 n \n`;
  out += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(out, 'latin1');
}

const sha256 = (bytes) => crypto.createHash('sha256').update(bytes).digest('hex');

// Uncaught exceptions and console errors of the page and of every frame in
// it (the app's iframe included); any of them fails the step it happened in.
const pageErrors = [];
function watch(page, label) {
  page.on('pageerror', (e) => pageErrors.push(`[${label}] page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') {
      const where = m.location() && m.location().url ? ` (${m.location().url})` : '';
      pageErrors.push(`[${label}] console: ${m.text()}${where}`);
    }
  });
  page.on('crash', () => pageErrors.push(`[${label}] the page crashed`));
}

// ------------------------------------------------------------- user flow

async function userScenario(browser) {
  const context = await browser.newContext({ viewport: { width: 1366, height: 860 } });
  context.setDefaultTimeout(WAIT);
  const page = await context.newPage();
  watch(page, 'user');
  try {
    let token;
    let accountId;

    await step('sign up as "Browser User"', async () => {
      await page.goto(`${BASE}/`);
      await (await visible(page.getByTestId('signup-name'), 'the sign-up form')).fill('Browser User');
      await page.getByTestId('signup-submit').click();
      const display = await visible(page.getByTestId('token-display'), 'the new token');
      token = (await display.textContent()).trim();
      if (!/^\S{16,}$/.test(token)) throw new Error(`the token shown looks wrong: ${JSON.stringify(token)}`);
      await shot(page, 'signed-up');
      await page.getByTestId('token-dialog-close').click();
      await gone(page.getByTestId('token-dialog'), 'the token dialog');
      accountId = (await (await visible(page.getByTestId('account-id'), 'the account id')).textContent()).trim();
      const me = await api('GET', '/v1/me', token);
      if (me.id !== accountId || me.name !== 'Browser User') {
        throw new Error(`the UI shows account ${accountId} but the token is ${JSON.stringify(me)}`);
      }
      await until('the wallet balance', async () => /0\.00/.test(await page.getByTestId('wallet-balance').textContent()));
    });

    await step('create the chat "Browser chat"', async () => {
      await page.getByTestId('new-chat-title').fill('Browser chat');
      await page.getByTestId('new-chat-submit').click();
      await visible(page.getByTestId('chat-item').filter({ hasText: 'Browser chat' }), 'the new chat in the list');
      await until('the chat to open', async () => (await page.getByTestId('chat-title').textContent()) === 'Browser chat');
      await until('the live connection', async () => (await page.getByTestId('ws-state').getAttribute('data-state')) === 'live');
    });

    await step('send "hello from the browser"', async () => {
      await page.getByTestId('message-input').fill('hello from the browser');
      await page.getByTestId('message-send').click();
      await visible(page.getByTestId('message').filter({ hasText: 'hello from the browser' }), 'the sent message in the timeline');
      await shot(page, 'chat-timeline');
    });

    const photo = png(640, 480);
    const report = pdf('Quarterly report');
    const chips = page.getByTestId('attachment-chip');
    const chipOf = (name) => chips.filter({ has: page.getByTestId('attachment-chip-name').getByText(name, { exact: true }) });
    await step('attach a photo, a PDF and a PNG bomb: each uploads at once, the bomb\'s chip shows the host\'s refusal', async () => {
      const errorsBefore = pageErrors.length;
      const [chooser] = await Promise.all([
        page.waitForEvent('filechooser', { timeout: WAIT }),
        page.getByTestId('attach-button').click(),
      ]);
      if (!chooser.isMultiple()) throw new Error('the file picker does not take several files');
      await chooser.setFiles([
        { name: 'photo.png', mimeType: 'image/png', buffer: photo },
        { name: 'report.pdf', mimeType: 'application/pdf', buffer: report },
        { name: 'bomb.png', mimeType: 'image/png', buffer: png(100_000, 100_000, false) },
      ]);
      for (const name of ['photo.png', 'report.pdf']) {
        await visible(chipOf(name).and(page.locator('[data-state="done"]')), `the chip of ${name} saying it is uploaded`);
      }
      const bomb = await visible(chipOf('bomb.png').and(page.locator('[data-state="error"]')), 'the chip of bomb.png saying it failed');
      const code = await bomb.getAttribute('data-code');
      const said = (await bomb.getByTestId('attachment-error').textContent()).trim();
      // The host's own message, not a status code.
      if (code !== 'image_too_large' || !/pixels/.test(said)) throw new Error(`the bomb's chip says ${JSON.stringify(said)} (${code})`);
      forgive(errorsBefore, /status of 422/);
      await shot(page, 'attachments-picked');
    });

    await step('Send refuses while a chip failed; remove the bomb with ×', async () => {
      await page.getByTestId('message-send').click();
      await until('the client to say the bomb did not upload', async () => /bomb\.png.*did not upload/.test(await page.getByTestId('status').textContent()));
      await page.getByTestId('status-dismiss').click();
      await chipOf('bomb.png').getByTestId('attachment-remove').click();
      await gone(chipOf('bomb.png'), 'the chip of bomb.png');
      if ((await chips.count()) !== 2) throw new Error(`expected 2 chips left, found ${await chips.count()}`);
    });

    let sent;
    const message = page.getByTestId('message').filter({ hasText: 'Photo and PDF' });
    await step('send the photo and the PDF with a caption; the photo\'s preview shows in the timeline', async () => {
      await page.getByTestId('message-input').fill('Photo and PDF');
      await page.getByTestId('message-send').click();
      const shown = await visible(message, 'the message with the caption');
      await gone(chips, 'the chips after sending');
      const image = shown.getByTestId('attachment-preview-image');
      await until('the preview image to be drawn', async () => image.evaluate((img) => img.complete && img.naturalWidth > 0));
      const natural = await image.evaluate((img) => [img.naturalWidth, img.naturalHeight, img.src]);
      if (natural[0] > 320 || natural[1] > 320 || !natural[2].startsWith('blob:')) throw new Error(`the preview is ${natural.join(' ')}`);
      await visible(shown.getByTestId('attachment-file').filter({ hasText: 'report.pdf' }).filter({ hasText: 'PDF' }), 'the PDF\'s row with its name and type');
      const id = await shown.getAttribute('data-message-id');
      const { messages } = await api('GET', `/v1/chats/${chatIdOf(page)}/messages`, token);
      sent = messages.find((m) => m.id === id);
      const files = (sent && sent.files) || [];
      const names = files.map((f) => f.name).join(',');
      if (names !== 'photo.png,report.pdf' || files[1].sha256 !== sha256(report) || files[0].sha256 !== sha256(photo)) {
        throw new Error(`the host has ${JSON.stringify(sent)}`);
      }
      await shot(page, 'attachments-sent');
    });

    await step('open the photo in the image viewer; close it with its button, then with Esc', async () => {
      const preview = message.getByTestId('attachment-preview');
      await preview.click();
      const viewer = await visible(page.getByTestId('image-viewer'), 'the image viewer');
      const image = viewer.getByTestId('image-viewer-image');
      // The full image, not its preview.
      await until('the full photo in the viewer', async () => image.evaluate((img) => img.complete && img.naturalWidth === 640 && img.naturalHeight === 480));
      if ((await page.getByTestId('image-viewer-title').textContent()) !== 'photo.png') throw new Error('the viewer does not name the photo');
      await shot(page, 'image-viewer');
      await page.getByTestId('image-viewer-close').click();
      await gone(viewer, 'the image viewer');
      // The dialog's close event comes a moment after it hides.
      await until('the focus back on the photo', async () =>
        page.evaluate(() => document.activeElement && document.activeElement.dataset.testid === 'attachment-preview'));
      await until('the closed viewer to let go of its image', async () => (await image.getAttribute('src')) === null);
      await preview.click();
      await visible(viewer, 'the image viewer, again');
      await page.keyboard.press('Escape');
      await gone(viewer, 'the image viewer after Esc');
    });

    await step('download the PDF: the bytes are the ones sent', async () => {
      const [download] = await Promise.all([
        page.waitForEvent('download', { timeout: WAIT }),
        message.getByTestId('attachment-file').filter({ hasText: 'report.pdf' }).getByTestId('attachment-download').click(),
      ]);
      if (download.suggestedFilename() !== 'report.pdf') throw new Error(`downloaded as ${download.suggestedFilename()}`);
      const saved = fs.readFileSync(await download.path());
      if (!saved.equals(report)) throw new Error(`the download has ${saved.length} bytes (sha256 ${sha256(saved)}), not the ${report.length} sent`);
    });

    await step('delete the message with the files; its preview is freed and its files are gone', async () => {
      const errorsBefore = pageErrors.length;
      const blob = await message.getByTestId('attachment-preview-image').getAttribute('src');
      await message.getByTestId('message-delete').click();
      await visible(page.getByTestId('delete-dialog'), 'the delete dialog');
      await shot(page, 'delete-dialog');
      await page.getByTestId('delete-confirm').click();
      await gone(page.getByTestId('delete-dialog'), 'the delete dialog');
      const deleted = page.locator(`[data-testid="message"][data-message-id="${sent.id}"]`);
      await visible(deleted.filter({ hasText: 'Message deleted' }), 'the message marked deleted');
      if (await deleted.getByTestId('attachments').count()) throw new Error('the deleted message still shows its files');
      if (await deleted.getByTestId('message-delete').count()) throw new Error('the deleted message can be deleted again');
      // A revoked blob URL no longer loads (an image: the client's CSP lets
      // blob: URLs be images, nothing else).
      await until(`the preview's blob URL ${blob} to be revoked`, async () => page.evaluate((url) => new Promise((done) => {
        const img = new Image();
        img.onload = () => done(false);
        img.onerror = () => done(true);
        img.src = url;
      }), blob));
      forgive(errorsBefore, /blob:|ERR_FILE_NOT_FOUND/);
      for (const file of sent.files) {
        const res = await fetch(`${BASE}/v1/files/${file.id}`, { headers: { authorization: `Bearer ${token}` } });
        if (res.status !== 404) throw new Error(`${file.name} of the deleted message answers ${res.status}`);
      }
    });

    await step('credit the wallet with 1000.00 ₽ (operator API)', async () => {
      await api('POST', `/v1/admin/wallets/${encodeURIComponent(accountId)}/credit`, OPERATOR_TOKEN, { amount: 100000 });
      await until('the wallet to show 1000.00 ₽', async () => (await page.getByTestId('wallet-balance').textContent()).includes('1000.00'));
    });

    await step(`add the gov-services app (${GOV_APP}) to the chat`, async () => {
      const select = page.getByTestId('add-app-select');
      await until(`app ${GOV_APP} in the add-app list`, async () => (await select.locator(`option[value="${GOV_APP}"]`).count()) > 0);
      await select.selectOption(GOV_APP);
      await page.getByTestId('add-app-button').click();
      await visible(page.locator(`[data-testid="installed-app"][data-app-id="${GOV_APP}"]`), 'the installed app');
    });

    await step('allow the app to write to you (notify) in the Permissions dialog, then take it back', async () => {
      const consents = `/v1/apps/${encodeURIComponent(GOV_APP)}/consents`;
      const open = async () => {
        await page.locator(`[data-testid="consent-button"][data-app-id="${GOV_APP}"]`).first().click();
        await visible(page.getByTestId('consent-dialog'), 'the permissions dialog');
        await until('the permissions to load', async () => !(await page.getByTestId('consent-notify').isDisabled()));
      };
      await open();
      if (await page.getByTestId('consent-notify').isChecked()) throw new Error('notify is allowed before the user allowed it');
      // Scopes the operator did not grant the app cannot be given to it.
      if (!(await page.getByTestId('consent-phone').isDisabled())) throw new Error('the phone box is offered though the app was not granted identity.phone');
      await page.getByTestId('consent-notify').check();
      await page.getByTestId('consent-save').click();
      await gone(page.getByTestId('consent-dialog'), 'the permissions dialog');
      let scopes = (await api('GET', consents, token)).scopes;
      if (JSON.stringify(scopes) !== '["notify"]') throw new Error(`after allowing, the host has ${JSON.stringify(scopes)}`);
      await open();
      if (!(await page.getByTestId('consent-notify').isChecked())) throw new Error('the dialog does not show notify as allowed');
      await page.getByTestId('consent-notify').uncheck();
      await page.getByTestId('consent-save').click();
      await gone(page.getByTestId('consent-dialog'), 'the permissions dialog');
      scopes = (await api('GET', consents, token)).scopes;
      if (scopes.length !== 0) throw new Error(`after taking it back, the host still has ${JSON.stringify(scopes)}`);
    });

    let frame;
    await step('open the web app in the side panel', async () => {
      await page.locator(`[data-testid="open-app-button"][data-app-id="${GOV_APP}"]`).click();
      const iframe = await visible(page.getByTestId('app-frame'), 'the app panel iframe');
      const sandbox = await iframe.getAttribute('sandbox');
      // Sandboxed: scripts, forms and downloads, on the app's own origin;
      // no popups, no navigating the client, no dialogs.
      const flags = (sandbox || '').split(/\s+/).filter(Boolean).sort().join(' ');
      if (sandbox === null || flags !== 'allow-downloads allow-forms allow-same-origin allow-scripts') throw new Error(`unexpected sandbox on the app frame: ${sandbox}`);
      const src = await iframe.getAttribute('src');
      if (!src.startsWith(`${appOrigin(GOV_APP)}/`)) throw new Error(`the app frame is not on the app's own origin: ${src}`);
      frame = page.frameLocator('[data-testid="app-frame"]');
      await visible(frame.locator('#book'), 'the booking form #book inside the app');
      await shot(page, 'app-panel');
    });

    await step('the app page runs on its own origin and can read neither the client nor its own cookie', async () => {
      const appFrame = page.frames().find((f) => f.url().startsWith(appOrigin(GOV_APP)));
      if (!appFrame) throw new Error('the app frame is not loaded');
      const probe = await appFrame.evaluate(() => {
        const tryRead = (read) => { try { return `read:${String(read()).slice(0, 40)}`; } catch (e) { return 'blocked'; } };
        return {
          parent: tryRead(() => window.parent.document.body.innerHTML),
          top: tryRead(() => window.top.localStorage.length),
          storage: tryRead(() => window.localStorage.length),
          cookie: tryRead(() => document.cookie),
          origin: window.origin,
        };
      });
      for (const key of ['parent', 'top', 'cookie']) {
        if (probe[key] !== 'blocked' && probe[key] !== 'read:') throw new Error(`the sandboxed app could read ${key}: ${JSON.stringify(probe)}`);
      }
      // Its own storage is its own origin's (partitioned under the client).
      if (probe.origin !== appOrigin(GOV_APP)) throw new Error(`the app page is not on its own origin: ${probe.origin}`);
    });

    await step('fill in and submit the booking form', async () => {
      for (const id of ['service', 'slot']) {
        const select = frame.locator(`#${id}`);
        const values = await until(`options in #${id}`, async () => {
          const all = await select.locator('option').evaluateAll((os) => os.filter((o) => !o.disabled).map((o) => o.value));
          const usable = all.filter((v) => v !== '');
          return usable.length ? usable : null;
        });
        await select.selectOption(values[0]);
      }
      await shot(page, 'booking-form');
      await frame.locator('#submit').click();
      await until('#status in the app to mention "signature"', async () =>
        /signature/i.test((await frame.locator('#status').textContent()) || ''));
    });

    await step('the page asks the client through the bridge; it knows the client\'s theme and cannot reach another app\'s request', async () => {
      // The bridge gave the page the client's colours as CSS variables.
      await until('the theme in the app page', async () =>
        (await frame.locator('html').evaluate((el) => getComputedStyle(el).getPropertyValue('--miniapp-button-color').trim())) !== '');
      // A request that is not this app's (or does not exist) is refused, not shown.
      const refused = await frame.locator('html').evaluate(() =>
        window.MiniApp.requestSignature('no-such-request').then(() => 'granted', (e) => e.code));
      if (refused !== 'not_found') throw new Error(`a request for a signature that is not the app's answered ${refused}`);
    });

    await step('sign the document in the signature dialog the page opened', async () => {
      await visible(page.getByTestId('sign-dialog'), 'the signature dialog');
      await shot(page, 'signature-dialog');
      await page.getByTestId('sign-confirm').click();
      await gone(page.getByTestId('sign-dialog'), 'the signature dialog');
    });

    await step('the page opens its invoice through the bridge; the client asks before paying', async () => {
      // No click in the chat: the status page, told by the app that the
      // application was signed, asks the client to open the invoice.
      await until('#status in the app to ask for the fee', async () =>
        /pay the fee/i.test((await frame.locator('#status').textContent()) || ''));
      await visible(page.getByTestId('pay-dialog'), 'the payment confirmation dialog the page opened');
      await shot(page, 'pay-dialog');
      await page.getByTestId('pay-confirm').click();
      await gone(page.getByTestId('pay-dialog'), 'the payment dialog');
    });

    await step('see the confirmation in the chat', async () => {
      await visible(page.locator('[data-testid="message"][data-sender-kind="app"]').filter({ hasText: /confirmed/i }), 'a bot message containing "confirmed"');
      await until('the wallet to show less than 1000.00 ₽', async () => {
        const amount = await page.getByTestId('wallet-balance').getAttribute('data-amount');
        return amount !== null && Number(amount) < 100000;
      });
      // The app's page is told too, without polling.
      await until('#status in the app to say confirmed', async () =>
        /confirmed/i.test((await frame.locator('#status').textContent()) || ''));
      await shot(page, 'confirmation-in-chat');
    });

    await step('the page\'s main button "Done" closes the app panel', async () => {
      const done = await visible(page.getByTestId('app-main-button'), 'the main button the page set');
      if ((await done.textContent()) !== 'Done') throw new Error(`the main button says ${await done.textContent()}`);
      await done.click();
      await gone(page.getByTestId('app-panel'), 'the app panel');
    });

    let scanSignature;
    await step('upload a PDF scan in gov-services and have it signed', async () => {
      // The panel shows the booking's status page; open the app's start page again.
      await page.locator(`[data-testid="open-app-button"][data-app-id="${GOV_APP}"]`).click();
      await visible(frame.locator('#scan'), 'the scan field of gov-services');
      await frame.locator('#scan').setInputFiles({ name: 'scan.pdf', mimeType: 'application/pdf', buffer: report });
      await shot(page, 'scan-form');
      await frame.locator('#sign-scan').click();
      await until('gov-services to wait for the signature of the scan', async () =>
        /waiting for your signature/i.test((await frame.locator('#status').textContent()) || ''));
      scanSignature = await frame.locator('#status').getAttribute('data-signature');
      if (!scanSignature) throw new Error('the status names no signature request');
    });

    await step('the signature dialog shows the PDF (name, size, sha256, Download) before it is signed', async () => {
      const dialog = await visible(page.getByTestId('sign-dialog'), 'the signature dialog');
      const part = await visible(dialog.getByTestId('sign-file'), 'the file part of the signature dialog');
      const facts = {
        name: await part.getByTestId('sign-file-name').textContent(),
        size: await part.getByTestId('sign-file-size').textContent(),
        sha256: await part.getByTestId('sign-file-sha256').textContent(),
      };
      if (facts.name !== 'scan.pdf' || !facts.size.includes(`${report.length} bytes`) || facts.sha256 !== sha256(report)) {
        throw new Error(`the dialog shows ${JSON.stringify(facts)}`);
      }
      if (await dialog.getByTestId('sign-document').isVisible()) throw new Error('the PDF\'s bytes are shown as text too');
      const [download] = await Promise.all([
        page.waitForEvent('download', { timeout: WAIT }),
        part.getByTestId('sign-file-download').click(),
      ]);
      if (!fs.readFileSync(await download.path()).equals(report)) throw new Error('the PDF downloaded from the dialog is not the one uploaded');
      await shot(page, 'signature-file');
      await dialog.getByTestId('sign-confirm').click();
      await gone(dialog, 'the signature dialog');
    });

    await step('gov-services has the scan on record; the public signature names the PDF\'s sha256', async () => {
      await until('#status in the app to say the scan is signed', async () =>
        /signed/i.test((await frame.locator('#status').textContent()) || ''));
      await visible(page.locator('[data-testid="message"][data-sender-kind="app"]').filter({ hasText: /scan\.pdf signed/i }), 'the app\'s message about the signed scan');
      const record = await (await fetch(`${BASE}/v1/signatures/${encodeURIComponent(scanSignature)}`)).json();
      if (record.status !== 'signed' || record.document_sha256 !== sha256(report)) {
        throw new Error(`the public record is ${JSON.stringify(record)}`);
      }
      // The app offers the scan for download: a link that works without a
      // token, for this user only, clicked inside the app's frame.
      const [download] = await Promise.all([
        page.waitForEvent('download', { timeout: WAIT }),
        frame.locator('a#download').click(),
      ]);
      if (download.suggestedFilename() !== 'scan.pdf') throw new Error(`the app's link downloads ${download.suggestedFilename()}`);
      if (!fs.readFileSync(await download.path()).equals(report)) throw new Error('the app\'s download link gives other bytes');
      await shot(page, 'scan-signed');
    });
  } catch (e) {
    await failWith(page, 'user', e);
  } finally {
    await context.close();
  }
}

// --------------------------------------------------------- operator flow

async function operatorScenario(browser) {
  const context = await browser.newContext({ viewport: { width: 1366, height: 860 } });
  context.setDefaultTimeout(WAIT);
  const page = await context.newPage();
  watch(page, 'operator');
  const item = page.locator(`[data-testid="review-item"][data-app="${PENDING_APP}"]`);
  try {
    await step('sign in as the operator', async () => {
      await page.goto(`${BASE}/`);
      await (await visible(page.getByTestId('signin-token'), 'the sign-in form')).fill(OPERATOR_TOKEN);
      await page.getByTestId('signin-submit').click();
      await visible(page.getByTestId('operator-page'), 'the operator page');
    });

    let version;
    await step(`find ${PENDING_APP} among the pending reviews`, async () => {
      const first = await visible(item, `a review item for ${PENDING_APP}`);
      version = await first.getAttribute('data-version');
      // An upgrade: what it changes against the running version, and the
      // capability it adds left for the operator to check.
      const diff = await visible(first.getByTestId('review-upgrade'), 'the upgrade\'s diff against the running version');
      const added = await diff.getByTestId('upgrade-added').textContent();
      if (!/notify/.test(added) || !/0\.1\.0/.test(await diff.textContent())) throw new Error(`the diff says ${await diff.textContent()}`);
      const grants = first.getByTestId('grant-checkbox');
      const count = await grants.count();
      for (let i = 0; i < count; i += 1) {
        const box = grants.nth(i);
        const isNew = (await box.getAttribute('data-grant')) === 'notify';
        if ((await box.isChecked()) === isNew) throw new Error(`${await box.getAttribute('data-grant')} is ${isNew ? '' : 'not '}checked by default`);
      }
      // The grants each import needs come from the host's table (import_rules).
      await visible(first.getByText(/^needs /).first(), 'an import with the grants that unlock it');
      if (await first.getByText('unknown interface').count()) throw new Error('an import of a published app shows as unknown');
      await shot(page, 'operator-review');
    });

    await step(`approve ${PENDING_APP} ${version}`, async () => {
      const target = page.locator(`[data-testid="review-item"][data-app="${PENDING_APP}"][data-version="${version}"]`);
      await target.getByTestId('review-approve').click();
      await gone(target, 'the approved review item');
      const app = await api('GET', `/v1/apps/${encodeURIComponent(PENDING_APP)}`, OPERATOR_TOKEN);
      const v = (app.versions || []).find((x) => x.version === version);
      if (!v || v.status !== 'approved') throw new Error(`after approval the host says version ${version} is ${v ? v.status : 'missing'}`);
      if ((v.grants || []).includes('notify')) throw new Error('the new capability was granted without being checked');
      await shot(page, 'after-approval');
    });

    const card = (app) => page.locator(`[data-testid="health-card"][data-app="${app}"]`);
    if (runUser) {
      await step(`the dashboard charts ${GOV_APP}, which served the user's requests`, async () => {
        const gov = await visible(card(GOV_APP), `the health card of ${GOV_APP}`);
        // Charts are read on a refresh; the host flushes its counts on read.
        await until('invocations in the chart of gov-services', async () => {
          await page.getByTestId('dashboard-refresh').click();
          const total = Number(await gov.getByTestId('chart-invocations').getAttribute('data-total'));
          return total > 0;
        });
        const bars = await gov.locator('[data-testid="chart-invocations"] rect.bar').count();
        if (bars < 1) throw new Error('the invocations chart draws no bar');
        const p99 = await gov.getByTestId('chart-p99');
        if (Number(await p99.getAttribute('data-points')) < 1) throw new Error('the p99 chart has no point');
        if (!/invocations/.test(await gov.getByTestId('health-totals').textContent())) throw new Error('no totals on the card');
        await visible(page.locator('[data-testid="queue-card"] svg[data-testid="queue-all"]'), 'the host-wide queue chart');
        await shot(page, 'dashboard-health');
      });
    }

    await step('a member\'s report shows on the dashboard; dismissing it takes it off the queue', async () => {
      const member = await api('POST', '/v1/accounts', '', { name: 'Reporting Member' });
      const app = runUser ? GOV_APP : PENDING_APP;
      const filed = await api('POST', '/v1/reports', member.token, { app, reason: 'spam', note: 'sends me adverts' });
      const item = page.locator(`[data-testid="report-item"][data-id="${filed.id}"]`);
      await until(`report ${filed.id} on the dashboard`, async () => {
        await page.getByTestId('dashboard-refresh').click();
        return (await item.count()) > 0;
      });
      const shown = await visible(item, 'the report');
      if (!/sends me adverts/.test(await shown.textContent())) throw new Error(`the report shows ${await shown.textContent()}`);
      await shown.scrollIntoViewIfNeeded();
      await shot(page, 'dashboard-report');
      await shown.getByTestId('report-note').fill('not spam');
      await shown.getByTestId('report-dismiss').click();
      await gone(item, 'the dismissed report');
      const closed = await api('GET', '/v1/reports?status=dismissed', OPERATOR_TOKEN);
      const mine = (closed.reports || []).find((r) => r.id === filed.id);
      if (!mine || mine.action_note !== 'not spam') throw new Error(`the host has ${JSON.stringify(mine)}`);
    });

    await step(`suspend, resume and roll back ${PENDING_APP} from its card`, async () => {
      const poll = await visible(card(PENDING_APP), `the health card of ${PENDING_APP}`);
      await poll.getByTestId('app-suspend').click();
      await visible(poll.getByTestId('app-resume'), 'the resume button of the suspended app');
      let app = await api('GET', `/v1/apps/${encodeURIComponent(PENDING_APP)}`, OPERATOR_TOKEN);
      if (app.status !== 'suspended') throw new Error(`after suspending the host says ${app.status}`);
      await poll.getByTestId('app-resume').click();
      await visible(poll.getByTestId('app-suspend'), 'the suspend button of the resumed app');
      app = await api('GET', `/v1/apps/${encodeURIComponent(PENDING_APP)}`, OPERATOR_TOKEN);
      if (app.status !== 'active') throw new Error(`after resuming the host says ${app.status}`);
      await poll.getByTestId('app-manage').locator('summary').click();
      const back = await visible(poll.locator('[data-testid="app-rollback"][data-version="0.1.0"]'), 'the roll-back button to 0.1.0');
      await back.click();
      await until('the card to show 0.1.0 running', async () => (await poll.getAttribute('data-version')) === '0.1.0');
      app = await api('GET', `/v1/apps/${encodeURIComponent(PENDING_APP)}`, OPERATOR_TOKEN);
      if (app.active_version !== '0.1.0') throw new Error(`after rolling back the host runs ${app.active_version}`);
    });
  } catch (e) {
    await failWith(page, 'operator', e);
  } finally {
    await context.close();
  }
}

// ------------------------------------------------------- isolation flow

// Two web apps in one chat: gov-services (the attacker, A) and web-probe
// (the victim, B, whose `/say?text=` posts into the chat as B). With B's
// session live in the browser, A's page tries to make B act by a form
// post, a form GET, a fetch, an image and a navigation of its own frame.
// None of it may reach B: the chat must not gain a message from B. The
// context bypasses CSP, so it is the host's own checks (origin, session)
// that are tested, not only the app CSP's form-action/connect-src/img-src.
async function isolationScenario(browser) {
  const context = await browser.newContext({ viewport: { width: 1366, height: 860 }, bypassCSP: true });
  context.setDefaultTimeout(WAIT);
  const page = await context.newPage();
  watch(page, 'isolation');
  try {
    let user;
    let chat;
    await step('set up a chat with two web apps (API)', async () => {
      const res = await fetch(`${BASE}/v1/accounts`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'Isolation User' }),
      });
      if (!res.ok) throw new Error(`sign-up answered ${res.status}`);
      user = await res.json();
      chat = (await api('POST', '/v1/chats', user.token, { title: 'Two apps' })).id;
      for (const app of [GOV_APP, PROBE_APP]) await api('POST', `/v1/chats/${chat}/apps`, user.token, { app });
      await page.goto(`${BASE}/`);
      await (await visible(page.getByTestId('signin-token'), 'the sign-in form')).fill(user.token);
      await page.getByTestId('signin-submit').click();
      await (await visible(page.locator(`[data-testid="chat-item"][data-chat-id="${chat}"]`), 'the chat')).click();
      await until('the live connection', async () => (await page.getByTestId('ws-state').getAttribute('data-state')) === 'live');
    });

    const fromB = async () => (await api('GET', `/v1/chats/${chat}/messages`, user.token)).messages
      .filter((m) => m.sender === PROBE_APP).map((m) => m.text);
    const frameOf = (app) => page.frames().find((f) => f.url().startsWith(appOrigin(app)));

    await step('open the victim (web-probe) so its session is live; it acts when it asks', async () => {
      await page.locator(`[data-testid="open-app-button"][data-app-id="${PROBE_APP}"]`).click();
      const b = await until('the web-probe frame on its own origin', async () => frameOf(PROBE_APP));
      await until('web-probe to answer', async () => /web-probe/.test(await b.evaluate(() => document.body.innerText)));
      // B's own page can make B act (same origin, its own session).
      const own = await b.evaluate(async () => (await fetch('/say?text=b-itself', { method: 'POST' })).status);
      if (own !== 200) throw new Error(`web-probe's own request answered ${own}`);
      await until('the message B sent itself', async () => (await fromB()).includes('b-itself'));
      await shot(page, 'isolation-victim');
    });

    await step('open the attacker (gov-services) in the panel', async () => {
      await page.locator(`[data-testid="open-app-button"][data-app-id="${GOV_APP}"]`).click();
      await visible(page.frameLocator('[data-testid="app-frame"]').locator('#book'), 'the booking form inside gov-services');
    });

    await step('A cannot make B act: fetch, image, form post, form GET, navigation', async () => {
      const b = appOrigin(PROBE_APP);
      const attempts = ['fetch', 'fetch-post', 'image', 'form-post', 'form-get', 'navigation'];
      const a = await until('the gov-services frame', async () => frameOf(GOV_APP));
      // The refusals show up as failed loads in the console: expected here.
      const errorsBefore = pageErrors.length;
      await a.evaluate(async (target) => {
        const say = (how) => `${target}/say?text=pwned-by-${how}`;
        await fetch(say('fetch'), { credentials: 'include', mode: 'no-cors' }).catch(() => {});
        await fetch(say('fetch-post'), { method: 'POST', credentials: 'include', mode: 'no-cors' }).catch(() => {});
        await new Promise((done) => { const img = new Image(); img.onload = done; img.onerror = done; img.src = say('image'); });
        for (const [how, method] of [['form-post', 'POST'], ['form-get', 'GET']]) {
          const sink = document.createElement('iframe');
          sink.name = `sink-${how}`;
          document.body.append(sink);
          const loaded = new Promise((done) => { sink.onload = done; });
          const form = document.createElement('form');
          form.method = method;
          form.action = method === 'GET' ? `${target}/say` : say(how);
          form.target = sink.name;
          const text = document.createElement('input');
          text.name = 'text';
          text.value = `pwned-by-${how}`;
          form.append(text);
          document.body.append(form);
          form.submit();
          await Promise.race([loaded, new Promise((done) => setTimeout(done, 5000))]);
        }
      }, b);
      // Last, A navigates its own frame to B.
      await a.evaluate((url) => { window.location.href = url; }, `${b}/say?text=pwned-by-navigation`);
      const answer = await until('the navigated frame to load', async () => {
        const f = page.frames().find((x) => x.url().includes('pwned-by-navigation'));
        const text = f && (await f.evaluate(() => document.body.innerText));
        return text && text.trim();
      });
      // Every attempt has had its answer; B said nothing for any of them.
      const said = await fromB();
      const leaked = attempts.filter((how) => said.includes(`pwned-by-${how}`));
      if (leaked.length) throw new Error(`A made B act by: ${leaked.join(', ')} (B said ${JSON.stringify(said)})`);
      if (!/cross_origin_request/.test(answer)) throw new Error(`the navigation was not refused as cross-origin: ${answer}`);
      await shot(page, 'isolation-attacker');
      pageErrors.length = errorsBefore;
    });
  } catch (e) {
    await failWith(page, 'isolation', e);
  } finally {
    pageErrors.length = 0;
    await context.close();
  }
}

// ------------------------------------------------------------ live flow

// Two people, each in a browser context of their own, open shopping-list
// from the same chat. Ann adds "milk" on her page; Ben's page shows it
// without reloading (the host pushes it over the page's event stream);
// Ben ticks it and Ann's page shows it ticked.
async function liveScenario(browser) {
  const contexts = [];
  const pages = [];
  try {
    let chat;
    const people = [];
    await step('set up a chat of two with shopping-list (API)', async () => {
      for (const name of ['Ann Live', 'Ben Live']) {
        const res = await fetch(`${BASE}/v1/accounts`, {
          method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name }),
        });
        if (!res.ok) throw new Error(`sign-up answered ${res.status}`);
        people.push(await res.json());
      }
      const [ann, ben] = people;
      const created = await api('POST', '/v1/chats', ann.token, { title: 'Groceries', members: [ben.id] });
      chat = created.id;
      if ((created.invited || []).includes(ben.id)) {
        await api('POST', `/v1/chats/${chat}/members`, ben.token, { account: ben.id });
      }
      await api('POST', `/v1/chats/${chat}/apps`, ann.token, { app: SHOP_APP });
    });

    const frames = [];
    for (const [i, who] of ['Ann', 'Ben'].entries()) {
      await step(`${who} opens shopping-list from the chat in a browser of their own`, async () => {
        const context = await browser.newContext({ viewport: { width: 1366, height: 860 } });
        context.setDefaultTimeout(WAIT);
        contexts.push(context);
        const page = await context.newPage();
        watch(page, `live-${who}`);
        pages.push(page);
        await page.goto(`${BASE}/`);
        await (await visible(page.getByTestId('signin-token'), 'the sign-in form')).fill(people[i].token);
        await page.getByTestId('signin-submit').click();
        await (await visible(page.locator(`[data-testid="chat-item"][data-chat-id="${chat}"]`), 'the chat')).click();
        await page.locator(`[data-testid="open-app-button"][data-app-id="${SHOP_APP}"]`).click();
        const frame = page.frameLocator('[data-testid="app-frame"]');
        // "live": the page's event stream is open.
        await visible(frame.locator('#state[data-state="live"]'), `${who}'s list to be live`);
        frames.push(frame);
      });
    }
    const [annFrame, benFrame] = frames;
    const benWindow = () => pages[1].frames().find((f) => f.url().startsWith(appOrigin(SHOP_APP)));

    await step('Ann adds "milk"; Ben sees it appear without reloading', async () => {
      // A mark in Ben's page that a reload would wipe.
      await (await until('Ben\'s app frame', async () => benWindow())).evaluate(() => { window.__sameDocument = true; });
      await annFrame.locator('#item-input').fill('milk');
      await shot(pages[0], 'live-adding');
      await annFrame.locator('#add').click();
      await visible(annFrame.locator('li[data-text="milk"]'), 'milk on Ann\'s own page');
      try {
        await benFrame.locator('li[data-text="milk"]').waitFor({ state: 'visible', timeout: 10_000 });
      } catch {
        throw new Error('milk did not appear on Ben\'s page within 10 s');
      }
      const same = await benWindow().evaluate(() => window.__sameDocument === true);
      if (!same) throw new Error('Ben\'s page was reloaded: the item must arrive live');
      await shot(pages[1], 'live-seen');
    });

    await step('Ben ticks milk; Ann sees it ticked without reloading', async () => {
      await benFrame.locator('li[data-text="milk"] .tick').check();
      try {
        await annFrame.locator('li.done[data-text="milk"]').waitFor({ state: 'visible', timeout: 10_000 });
      } catch {
        throw new Error('the tick did not appear on Ann\'s page within 10 s');
      }
    });
  } catch (e) {
    await failWith(pages[pages.length - 1] || (await browser.newPage()), 'live', e);
  } finally {
    for (const context of contexts) await context.close();
  }
}

// ------------------------------------------------------------------ main

let failed = false;
async function failWith(page, scenario, error) {
  failed = true;
  console.error(`FAIL [${scenario}] ${current}: ${error.message}`);
  try {
    const status = (await page.getByTestId('status').textContent({ timeout: 1000 })) || '';
    if (status.trim()) console.error(`  client error area: ${status.trim()}`);
  } catch {
    // the page may be gone
  }
  for (const line of pageErrors) console.error(`  ${line}`);
  pageErrors.length = 0;
  try {
    const file = path.join(OUT_DIR, `failure-${scenario}.png`);
    await page.screenshot({ path: file, timeout: 5000 });
    console.error(`  screenshot ${file}`);
  } catch {
    // nothing more to show
  }
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox'],
});
try {
  if (runUser) await userScenario(browser);
  if (runOperator) await operatorScenario(browser);
  if (runIsolation) await isolationScenario(browser);
  if (runLive) await liveScenario(browser);
} finally {
  await browser.close();
}
if (pageErrors.length) {
  // Errors that came after the last step of a scenario.
  failed = true;
  console.error('FAIL: errors in the page after the last step:');
  for (const line of pageErrors) console.error(`  ${line}`);
}
if (failed) process.exit(1);
console.log(`browser flow passed (${SCENARIO}); screenshots in ${OUT_DIR}`);
