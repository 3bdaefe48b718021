//! Capabilities: one module per WIT interface a mini-app can import. Each
//! links itself into the linker, checks the app's grant on every call and
//! answers a denial with the WIT error `denied` (never a trap), recording it
//! in the audit log. Capabilities know no HTTP.

pub mod bindings;
pub mod commit;
pub mod config;
pub mod grants;
pub mod http;
pub mod identity;
pub mod log;
pub mod messaging;
pub mod payments;
#[cfg(test)]
mod policy_tests;
pub mod rate;
pub mod storage;

use std::sync::Arc;

use wasmtime::component::{Linker, ResourceTable};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::config::{AppLimits, Limits};
use crate::engine::{HasGuard, StoreGuard};
use crate::store::audit::{self, AuditEntry};
use crate::store::logs::NewLogLine;
use crate::store::{Db, StoreError};

pub use bindings::miniapp::platform::types::Error as WitError;
pub use grants::Grants;
pub use messaging::{OutboxOp, OutgoingMessage};

/// What a host function returns on failure: a WIT error for the guest, or a
/// trap that ends the invocation.
#[derive(Debug)]
pub enum CapError {
    /// Returned to the guest as the WIT `error` value.
    Wit(WitError),
    /// Ends the invocation.
    Trap(wasmtime::Error),
}

impl From<WitError> for CapError {
    fn from(e: WitError) -> Self {
        CapError::Wit(e)
    }
}

impl From<StoreError> for CapError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "store failed during a host call");
        CapError::Wit(WitError::Unavailable("storage backend unavailable".into()))
    }
}

impl bindings::miniapp::platform::types::Host for HostState {
    fn convert_error(&mut self, err: CapError) -> wasmtime::Result<WitError> {
        match err {
            CapError::Wit(e) => Ok(e),
            CapError::Trap(e) => Err(e),
        }
    }
}

/// Host-wide services and settings capabilities use; shared by all stores.
pub struct Services {
    /// The database.
    pub db: Db,
    /// Host-wide limits.
    pub limits: Limits,
    /// Key app-scoped user ids are derived with.
    pub identity_key: Vec<u8>,
    /// Messages per (app, chat) per minute.
    pub rate: rate::RateLimiter,
    /// The address the host's own API listens on, set once it is bound
    /// (port 0 picks one); outbound HTTP never connects to it.
    pub host_address: Arc<std::sync::OnceLock<std::net::SocketAddr>>,
    /// Stores what invocations changed.
    pub committer: commit::Committer,
    /// Storage keys under contention on this node.
    pub hot_keys: storage::hot_keys::HotKeys,
}

impl Services {
    /// Services over `db` with `limits` and a fixed identity key, for tests.
    #[cfg(test)]
    pub(crate) fn for_tests(db: &Db, limits: &Limits) -> Arc<Services> {
        Arc::new(Services {
            db: db.clone(),
            limits: limits.clone(),
            identity_key: vec![7; 32],
            rate: Default::default(),
            host_address: Default::default(),
            committer: commit::Committer::start(db.clone()),
            hot_keys: Default::default(),
        })
    }
}

/// Who and what one invocation runs for.
#[derive(Clone)]
pub struct Invocation {
    /// The app's id.
    pub app_id: Arc<str>,
    /// The running version.
    pub version: Arc<str>,
    /// What the operator granted that version.
    pub grants: Arc<Grants>,
    /// The limits the version runs with.
    pub limits: AppLimits,
    /// The chat of the event, if any.
    pub chat: Option<String>,
    /// The platform account that caused the event, if any (never shown to the app).
    pub account: Option<String>,
    /// The event's id in the job queue (the app's update id), for events.
    pub event_id: Option<i64>,
    /// Which delivery of the event this is (1 the first), for events.
    pub event_attempt: Option<u32>,
    /// Whether this run holds the storage keys it lost a commit race on
    /// (see [`storage::hot_keys`]).
    pub holds_hot_keys: bool,
    /// Shared services.
    pub services: Arc<Services>,
}

/// Everything a store holds for one invocation.
pub struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    guard: StoreGuard,
    /// Who and what the invocation is for.
    pub cx: Invocation,
    /// Messages sent, edited or deleted so far, applied by the caller after the invocation.
    pub outbox: Vec<OutboxOp>,
    /// Log lines written so far, flushed by the caller after the invocation.
    pub logs: Vec<NewLogLine>,
    /// Storage read and written so far (buffered until the commit).
    pub(crate) kv: storage::txn::KvTxn,
    /// Money operations so far (buffered until the commit).
    pub(crate) payments: Vec<payments::commit::PaymentOp>,
    /// Signature requests so far (buffered until the commit).
    pub(crate) signatures: Vec<identity::commit::SignatureDraft>,
    log_state: log::LogState,
    http_ctx: wasmtime_wasi_http::WasiHttpCtx,
    http_policy: http::HttpPolicy,
    send_refused: bool,
    host_calls: u32,
    /// Signature requests made so far (bounded per invocation).
    pub(crate) signature_requests: u32,
    /// Denials seen in this invocation, by (capability, why): the first of
    /// each is audited at once, the repeats once, summed, at the end.
    denials: std::collections::BTreeMap<(String, String), u32>,
    stdout: MemoryOutputPipe,
    stderr: MemoryOutputPipe,
}

impl HostState {
    /// A fresh state for one invocation. WASI gets nothing: no preopened
    /// dirs, no env vars, no args, no network; stdout and stderr are
    /// captured (up to the per-invocation log budget) for the app's log.
    pub fn new(cx: Invocation) -> HostState {
        let limits = &cx.services.limits;
        let mut table = ResourceTable::new();
        table.set_max_capacity(limits.max_resource_table);
        let stdout = MemoryOutputPipe::new(limits.log_bytes_per_invocation);
        let stderr = MemoryOutputPipe::new(limits.log_bytes_per_invocation);
        let wasi = WasiCtx::builder()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let http_policy = http::HttpPolicy::new(
            cx.grants.names(),
            http::Requester {
                db: cx.services.db.clone(),
                app: cx.app_id.clone(),
                chat: cx.chat.clone(),
                account: cx.account.clone(),
            },
        );
        HostState {
            wasi,
            table,
            guard: StoreGuard::new(limits, &cx.limits),
            cx,
            outbox: Vec::new(),
            logs: Vec::new(),
            kv: Default::default(),
            payments: Vec::new(),
            signatures: Vec::new(),
            log_state: log::LogState::default(),
            http_ctx: wasmtime_wasi_http::WasiHttpCtx::new(),
            http_policy,
            send_refused: false,
            host_calls: 0,
            signature_requests: 0,
            denials: std::collections::BTreeMap::new(),
            stdout,
            stderr,
        }
    }

    /// What the invocation changed, for [`commit::Committer::commit`].
    pub fn take_effects(&mut self) -> commit::Effects {
        commit::Effects {
            kv: std::mem::take(&mut self.kv),
            ops: std::mem::take(&mut self.outbox),
            payments: std::mem::take(&mut self.payments),
            signatures: std::mem::take(&mut self.signatures),
        }
    }

    /// The store's budgets (memory refused, CPU spent).
    pub fn guard_state(&self) -> &StoreGuard {
        &self.guard
    }

    /// Host-wide limits.
    pub fn limits(&self) -> &Limits {
        &self.cx.services.limits
    }

    /// Ends the invocation's bookkeeping once the guest is done: moves
    /// captured stdout/stderr into the log lines and audits repeated
    /// denials as one summed entry each.
    pub async fn finish(&mut self) {
        self.drain_stdio();
        let repeated: Vec<((String, String), u32)> = std::mem::take(&mut self.denials)
            .into_iter()
            .filter(|(_, n)| *n > 1)
            .collect();
        for ((capability, why), n) in repeated {
            let more = n - 1;
            let detail = format!("{why} (denied {more} more times in this invocation)");
            self.write_denial(&capability, detail.clone()).await;
            self.append_log("warn", format!("denied: {capability} ({detail})"));
        }
    }

    /// Counts one host call; past the per-invocation bound the invocation
    /// ends (a trap), so a looping guest cannot flood the host with calls.
    pub fn count_host_call(&mut self) -> Result<(), CapError> {
        self.host_calls += 1;
        let max = self.cx.services.limits.max_host_calls_per_invocation;
        if self.host_calls > max {
            return Err(CapError::Trap(wasmtime::Error::msg(format!(
                "host-call limit: the guest made more than {max} host calls in one invocation"
            ))));
        }
        Ok(())
    }

    /// Moves captured stdout/stderr into the log, line by line, within the
    /// same per-invocation budget as the app's own log lines.
    fn drain_stdio(&mut self) {
        let captured = [("stdout", self.stdout.contents()), ("stderr", self.stderr.contents())];
        for (level, bytes) in captured {
            let text = String::from_utf8_lossy(&bytes).into_owned();
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                self.append_log(level, line.to_string());
            }
        }
    }

    /// Checks `grant`; if missing, records the denial in the audit log and
    /// the app's log and returns `denied`.
    pub async fn require(&mut self, grant: &str) -> Result<(), CapError> {
        self.count_host_call()?;
        if self.cx.grants.has(grant) {
            return Ok(());
        }
        self.audit_denial(grant, "not granted").await;
        Err(CapError::Wit(WitError::Denied))
    }

    /// Records a denied call: an audit log row and a line in the app's log
    /// for the first of its kind in this invocation; repeats are counted and
    /// summed up in one row when the invocation ends.
    pub async fn audit_denial(&mut self, capability: &str, why: &str) {
        let seen = self
            .denials
            .entry((capability.to_string(), why.to_string()))
            .or_insert(0);
        *seen += 1;
        if *seen > 1 {
            return;
        }
        self.write_denial(capability, why.to_string()).await;
        self.append_log("warn", format!("denied: {capability} ({why})"));
    }

    async fn write_denial(&mut self, capability: &str, detail: String) {
        let entry = AuditEntry {
            actor: format!("app:{}", self.cx.app_id),
            action: "capability.denied".into(),
            app_id: Some(self.cx.app_id.to_string()),
            capability: Some(capability.to_string()),
            chat_id: self.cx.chat.clone(),
            account_id: self.cx.account.clone(),
            detail,
            ..AuditEntry::default()
        };
        if let Err(e) = audit::record(&self.cx.services.db, entry).await {
            tracing::error!(error = %e, "could not write audit entry");
        }
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl HasGuard for HostState {
    fn guard(&mut self) -> &mut StoreGuard {
        &mut self.guard
    }
}

/// Links WASI (with nothing granted) and every capability interface.
pub fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_async(linker)?;
    bindings::miniapp::platform::types::add_to_linker::<HostState, wasmtime::component::HasSelf<HostState>>(
        linker,
        |s| s,
    )?;
    log::add_to_linker(linker)?;
    messaging::add_to_linker(linker)?;
    identity::add_to_linker(linker)?;
    storage::add_to_linker(linker)?;
    payments::add_to_linker(linker)?;
    http::add_to_linker(linker)?;
    config::add_to_linker(linker)?;
    Ok(())
}

/// Applies the platform's text policy ([`crate::text`]) to guest text other
/// people will see.
pub(crate) fn check_visible(what: &str, text: &str) -> Result<(), CapError> {
    crate::text::check_visible(what, text).map_err(|e| CapError::Wit(WitError::Invalid(e.to_string())))
}

/// Checks a guest-controlled size before anything is allocated for it.
pub(crate) fn check_size(what: &str, len: usize, max: usize) -> Result<(), CapError> {
    if len > max {
        Err(CapError::Wit(WitError::TooLarge(format!(
            "{what} is {len} bytes; the limit is {max}"
        ))))
    } else {
        Ok(())
    }
}
