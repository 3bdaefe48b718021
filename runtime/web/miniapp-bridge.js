// miniapp web-app bridge, served by the host at /.miniapp/bridge.js on every
// app's origin (the role of Telegram's telegram-web-app.js). A page inside the
// chat client asks the client for what only the client may do — pay an
// invoice, sign, give a permission — and the client asks the user first,
// every time. Messages go only to the client's origins and are taken only
// from the window that framed the page.
//
//   <script src="/.miniapp/bridge.js"></script>
//   MiniApp.ready();
//   const { status } = await MiniApp.openInvoice(invoiceId);   // 'paid' | 'cancelled'
//
// Every request answers a promise; a request the client refuses (not this
// app's invoice, no such signature request, …) rejects with an Error whose
// `code` says why.
(function () {
  'use strict';
  // The chat client's origins, filled in by the host.
  const CLIENT_ORIGINS = __MINIAPP_CLIENT_ORIGINS__;
  const framed = window.parent && window.parent !== window;
  const waiting = new Map();
  let nextId = 1;
  let mainButtonHandlers = [];
  let themeHandlers = [];

  function post(message) {
    if (!framed) return false;
    for (const origin of CLIENT_ORIGINS) {
      // Delivered only if the parent is at that origin.
      window.parent.postMessage(Object.assign({ miniapp: 1 }, message), origin);
    }
    return true;
  }

  function request(type, fields) {
    return new Promise((resolve, reject) => {
      const id = nextId++;
      waiting.set(id, { resolve, reject });
      if (!post(Object.assign({ type, id }, fields))) {
        waiting.delete(id);
        const error = new Error('this page is not open inside the chat client');
        error.code = 'not_in_client';
        reject(error);
      }
    });
  }

  window.addEventListener('message', (event) => {
    if (!framed || event.source !== window.parent || !CLIENT_ORIGINS.includes(event.origin)) return;
    const m = event.data;
    if (!m || m.miniapp !== 1) return;
    if (m.type === 'result' && waiting.has(m.id)) {
      const { resolve, reject } = waiting.get(m.id);
      waiting.delete(m.id);
      if (m.error) {
        const error = new Error(m.error.message || m.error.code);
        error.code = m.error.code;
        reject(error);
      } else {
        resolve(m.result);
      }
    } else if (m.type === 'theme') {
      MiniApp.theme = Object.freeze(Object.assign({}, m.theme));
      for (const [name, value] of Object.entries(MiniApp.theme)) {
        document.documentElement.style.setProperty(`--miniapp-${name.replace(/_/g, '-')}`, value);
      }
      for (const handler of themeHandlers) handler(MiniApp.theme);
    } else if (m.type === 'main-button') {
      for (const handler of mainButtonHandlers) handler();
    }
  });

  const MainButton = {
    text: '',
    visible: false,
    /** Sets the label of the button the client shows under the page. */
    setText(text) {
      this.text = String(text).slice(0, 64);
      post({ type: 'main-button', text: this.text, visible: this.visible });
      return this;
    },
    show() {
      this.visible = true;
      post({ type: 'main-button', text: this.text, visible: true });
      return this;
    },
    hide() {
      this.visible = false;
      post({ type: 'main-button', text: this.text, visible: false });
      return this;
    },
    /** Calls `handler` on every press. */
    onClick(handler) {
      mainButtonHandlers.push(handler);
      return this;
    },
  };

  const MiniApp = {
    /** The client's colours (`bg_color`, `text_color`, `hint_color`,
     *  `button_color`, `button_text_color`), also as CSS variables
     *  `--miniapp-bg-color`, …; empty until the client sends them. */
    theme: Object.freeze({}),
    /** True when the page is open inside the chat client. */
    inClient: framed,
    MainButton,
    /** Tells the client the page is ready (it then sends the theme). */
    ready() {
      post({ type: 'ready' });
    },
    /** Asks the client to close the app's panel. */
    close() {
      post({ type: 'close' });
    },
    /** Calls `handler` when the theme arrives or changes. */
    onTheme(handler) {
      themeHandlers.push(handler);
    },
    /** Opens the client's payment dialog for this app's open invoice `id`;
     *  resolves `{status: 'paid' | 'cancelled'}` once the user decided. */
    openInvoice(id) {
      return request('open-invoice', { invoice: String(id) });
    },
    /** Opens the client's signing dialog for this app's pending signature
     *  request `id`; resolves `{status: 'signed' | 'declined' | 'later'}`. */
    requestSignature(id) {
      return request('request-signature', { signature: String(id) });
    },
    /** Opens the client's permissions dialog for this app, asking for
     *  `scope` (`identity.profile`, `identity.phone` or `notify`);
     *  resolves `{granted: boolean}` once it closes. */
    requestConsent(scope) {
      return request('request-consent', { scope: String(scope) });
    },
    /** `requestConsent('notify')`: may the app write to the user privately? */
    requestNotify() {
      return request('request-consent', { scope: 'notify' });
    },
  };
  window.MiniApp = MiniApp;
})();
