//! What every capability of one invocation shares: who and what it runs
//! for ([`Invocation`]), the host-wide [`Services`], and the bookkeeping
//! every host call goes through ([`InvocationCtx`]: the grant check, the
//! host-call bound, denials and the app's log lines).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{CapError, Grants, WitError, commit, rate, storage};
use crate::config::{AppLimits, Limits};
use crate::store::Db;
use crate::store::audit::{self, AuditEntry};
use crate::store::logs::NewLogLine;
use crate::store::objects::Objects;

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
    /// Live pages' publishes per (app, chat) per minute.
    pub page_rate: rate::RateLimiter,
    /// The address the host's own API listens on, set once it is bound
    /// (port 0 picks one); outbound HTTP never connects to it.
    pub host_address: Arc<std::sync::OnceLock<std::net::SocketAddr>>,
    /// Stores what invocations changed.
    pub committer: commit::Committer,
    /// Storage keys under contention on this node.
    pub hot_keys: storage::hot_keys::HotKeys,
    /// Where files' bytes live.
    pub objects: Objects,
    /// Key download links (`files.download-url`) are signed with.
    pub file_access_key: Vec<u8>,
}

impl Services {
    /// Services over `db` with `limits` and a fixed identity key, for tests.
    #[cfg(test)]
    pub(crate) fn for_tests(db: &Db, limits: &Limits) -> Arc<Services> {
        let objects = Objects::memory();
        Arc::new(Services {
            committer: commit::Committer::start(db.clone(), objects.clone()),
            objects,
            file_access_key: vec![9; 32],
            db: db.clone(),
            limits: limits.clone(),
            identity_key: vec![7; 32],
            rate: Default::default(),
            page_rate: Default::default(),
            host_address: Default::default(),
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
    /// Whether the app may act in `chat` (send, read, invoice its
    /// members) without asking the store: true but for a payment or
    /// signature event from a chat the app has been uninstalled from,
    /// which it still gets (they are owed) with the chat closed to it.
    pub chat_open: bool,
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

/// Per-invocation log accounting.
#[derive(Debug, Default)]
struct LogBudget {
    bytes: usize,
    dropped: usize,
}

/// The part of an invocation's state every capability uses: its
/// [`Invocation`], its log lines, its host-call count and its denials.
pub struct InvocationCtx {
    /// Who and what the invocation is for.
    pub cx: Invocation,
    /// Log lines written so far, written to the app's log after the invocation.
    pub logs: Vec<NewLogLine>,
    log_budget: LogBudget,
    /// Host calls made so far.
    pub(crate) host_calls: u32,
    /// Denials seen in this invocation, by (capability, why): the first of
    /// each is audited at once, the repeats once, summed, at the end.
    denials: BTreeMap<(String, String), u32>,
}

impl InvocationCtx {
    /// The shared state of a fresh invocation for `cx`.
    pub fn new(cx: Invocation) -> InvocationCtx {
        InvocationCtx {
            cx,
            logs: Vec::new(),
            log_budget: LogBudget::default(),
            host_calls: 0,
            denials: BTreeMap::new(),
        }
    }

    /// The id `account` has inside this invocation's app (see
    /// [`super::identity::app_scoped_id`]).
    pub fn app_scoped_id(&self, account: &str) -> String {
        super::identity::app_scoped_id(&self.cx.services.identity_key, &self.cx.app_id, account)
    }

    /// Host-wide limits.
    pub fn limits(&self) -> &Limits {
        &self.cx.services.limits
    }

    /// Counts one host call; past the per-invocation bound the invocation
    /// ends (a trap), so a looping guest cannot flood the host with calls.
    ///
    /// # Errors
    ///
    /// [`CapError::Trap`] past `max_host_calls_per_invocation`.
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

    /// Counts the call and checks `grant`; if missing, records the denial
    /// in the audit log and the app's log.
    ///
    /// # Errors
    ///
    /// `denied` without the grant; a trap past the host-call bound.
    pub async fn require(&mut self, grant: &str) -> Result<(), CapError> {
        // A unit asking for a grant no unit declares would deny every call.
        debug_assert!(super::grants::is_known_grant(grant), "{grant:?} is in no unit's grants");
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
        crate::observe::metrics::denial(&self.cx.app_id, capability);
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

    /// Audits the repeated denials of the invocation as one summed entry
    /// each; called once, when the guest is done.
    pub async fn finish(&mut self) {
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

    /// Appends a line to the app's log within the per-line and
    /// per-invocation budgets (a line past the first is cut, lines past
    /// the second dropped with one warning).
    pub fn append_log(&mut self, level: &'static str, mut message: String) {
        let limits = &self.cx.services.limits;
        let (max_line, budget) = (limits.max_log_line_bytes, limits.log_bytes_per_invocation);
        if message.len() > max_line {
            message.truncate(message.floor_char_boundary(max_line));
            message.push_str(" [cut]");
        }
        if self.log_budget.bytes + message.len() > budget {
            self.log_budget.dropped += 1;
            if self.log_budget.dropped == 1 {
                self.logs.push(NewLogLine {
                    level: "warn",
                    message: format!("log budget of {budget} bytes per invocation used up; further lines dropped"),
                });
            }
            return;
        }
        self.log_budget.bytes += message.len();
        self.logs.push(NewLogLine { level, message });
    }
}
