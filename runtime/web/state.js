// The client's shared mutable state: who is signed in, the open chat and
// what is loaded for it, the wallet, and what each dialog is deciding. The
// one object the modules share; they import it (nothing goes on `window`).

export const state = {
  token: null,
  me: null, // {role: 'user', id, name} | {role: 'operator'}
  chats: [],
  chatId: null,
  chat: null, // GET /v1/chats/{chat}
  chatSeq: 0, // bumps on every chat switch; stale answers are dropped
  messages: new Map(), // id -> message
  elements: new Map(), // id -> <li>
  installed: [], // GET /v1/chats/{chat}/apps
  catalogue: [], // GET /v1/apps
  appNames: new Map(), // app id -> name
  ws: null,
  wsRetry: 0,
  wsTimer: null,
  timers: [],
  balance: null,
  pendingSignatures: [],
  snoozed: new Set(), // signature ids put off with "Later" in this page's life
  signatureBusy: false,
  invoices: new Map(), // message id -> the caller's invoice on it
  payInvoice: null,
  signRequest: null,
  deleteMessage: null, // id of the own message the delete dialog asks about
  consentApp: null,
  // The last invoice paid and signature decided here, for the bridge.
  lastPaid: null,
  lastSignature: null,
  consentBefore: [],
};
