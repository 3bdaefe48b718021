//! Limits. Host-wide defaults live in [`Limits`]; the operator may override
//! some of them for one app version at approval ([`LimitOverrides`]); the
//! result for one app is [`AppLimits`]. Every number a hostile app or client
//! could push against lives here, with its default.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Host-wide limits.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Defaults for every app (the operator may override per app).
    pub app: AppLimits,
    /// Ceiling for per-app memory overrides (and the pooling allocator's slot size).
    pub max_app_memory_bytes: usize,
    /// Table-elements cap per instance.
    pub table_elements: usize,
    /// Guest wasm stack, in bytes.
    pub max_wasm_stack: usize,
    /// Bytes a guest may pass to the host in one call (wasmtime's hostcall
    /// fuel); more traps the invocation before the host allocates it.
    pub hostcall_fuel_bytes: usize,
    /// Component-model handles alive at once in one store.
    pub max_component_handles: usize,
    /// Entries in one store's resource table (WASI streams and the like).
    pub max_resource_table: usize,
    /// Largest accepted HTTP request body (uploads included), in bytes.
    pub max_request_bytes: usize,
    /// How long one API request may take.
    pub request_timeout: Duration,
    /// How long app log lines are kept.
    pub log_retention: Duration,
    /// How long audit log entries are kept.
    pub audit_retention: Duration,
    /// How often old rows are swept away.
    pub retention_sweep: Duration,
    /// Signature requests one invocation may make.
    pub signatures_per_invocation: u32,
    /// Unanswered signature requests one app may have waiting for one user.
    pub pending_signatures_per_user: u32,
    /// HTTP connections open at once; more are closed at once.
    pub max_connections: usize,
    /// Time a client has to send a request's headers; also the longest a
    /// keep-alive connection may sit idle.
    pub header_read_timeout: Duration,
    /// Largest accepted component, in bytes.
    pub max_component_bytes: usize,
    /// Largest manifest, in bytes.
    pub max_manifest_bytes: usize,
    /// Largest message text, in bytes (users and apps alike).
    pub max_message_bytes: usize,
    /// Most inline buttons on one message.
    pub max_buttons: usize,
    /// Largest button label, in bytes.
    pub max_button_label_bytes: usize,
    /// Largest button data, in bytes.
    pub max_button_data_bytes: usize,
    /// Largest storage key, in bytes.
    pub max_key_bytes: usize,
    /// Largest storage value, in bytes.
    pub max_value_bytes: usize,
    /// Largest single log line, in bytes (longer lines are cut).
    pub max_log_line_bytes: usize,
    /// Log bytes one invocation may write (the rest is dropped).
    pub log_bytes_per_invocation: usize,
    /// Bot invocations running at once, host-wide.
    pub dispatch_concurrency: usize,
    /// Bot invocations of one app running at once: its fair share of
    /// [`Limits::dispatch_concurrency`], so one app cannot hold every slot.
    pub app_concurrency: usize,
    /// Web-app requests of one app running at once (the rest wait).
    pub web_app_concurrency: usize,
    /// Host calls one invocation may make; the next one ends it.
    pub max_host_calls_per_invocation: u32,
    /// Accounts one client address may create per minute (`POST /v1/accounts`).
    pub signups_per_minute_per_client: u32,
    /// Messages and button presses one account may post per minute, sustained.
    pub posts_per_minute_per_account: u32,
    /// Messages and button presses one account may post in a burst.
    pub posts_burst_per_account: u32,
    /// Events WebSockets one account may hold open at once.
    pub ws_sockets_per_account: usize,
    /// How often the host pings an events WebSocket.
    pub ws_ping_interval: Duration,
    /// An events WebSocket that sent nothing (not even a pong) for this long is closed.
    pub ws_idle_timeout: Duration,
    /// Compiling one uploaded component may take at most this long (wall
    /// time, counted once it has a compile slot). The compiler runs in a
    /// child process that is killed at this bound; its CPU time is capped
    /// too, at this bound on every core, should the host die first.
    pub compile_timeout: Duration,
    /// Address space of the child process that compiles one component, in bytes.
    pub compile_memory_bytes: u64,
    /// Components compiled at once, host-wide; more wait their turn.
    pub compile_concurrency: usize,
    /// Versions one account may upload per hour (counted in the database,
    /// so the quota holds across restarts).
    pub uploads_per_hour_per_account: u32,
    /// Versions of one account that may wait to compile (or be compiling) at once.
    pub compiling_per_account: u32,
    /// How long an invoice stays payable.
    pub invoice_ttl: Duration,
    /// How long a web app's launch token can be exchanged for a session.
    pub launch_token_ttl: Duration,
    /// How long a web app's session lasts.
    pub web_session_ttl: Duration,
    /// The domain every web app gets its own origin under, `{app}.{domain}`
    /// (`--apps-domain`, e.g. `apps.example.com` or `https://apps.example.com`);
    /// `None` means `apps.localhost:<port>` over `http`, which browsers
    /// resolve to loopback without DNS.
    pub apps_domain: Option<String>,
    /// Whether the web client signs in from a `/#token=…` link: only on the
    /// throwaway host of `miniapp dev` (elsewhere such a link would sign a
    /// user into someone else's account without asking).
    pub sign_in_links: bool,
    /// The job queue on this node.
    pub queue: QueueLimits,
    /// Files: sizes, quotas, previews.
    pub files: FileLimits,
}

/// Limits on files (attachments and files apps make).
#[derive(Debug, Clone)]
pub struct FileLimits {
    /// Largest file, in bytes (`--max-file-mib`); a bigger upload gets 413
    /// before its body is stored.
    pub max_file_bytes: u64,
    /// Bytes of files one account may have stored at once (`--user-files-mib`).
    pub user_quota_bytes: u64,
    /// Bytes of files one app may have stored at once (`--app-files-mib`).
    pub app_quota_bytes: u64,
    /// Uploads one node takes in at once (each may hold a file in memory);
    /// more wait their turn.
    pub uploads_at_once: usize,
    /// How long one upload request may take (every other request has
    /// [`Limits::request_timeout`]).
    pub upload_timeout: Duration,
    /// How long an uploaded file waits to be sent in a message before it
    /// is deleted.
    pub unsent_ttl: Duration,
    /// How often each node deletes expired files and frees unused bytes.
    pub sweep_every: Duration,
    /// Image decoding and preview limits.
    pub preview: crate::media::preview::PreviewLimits,
}

impl Default for FileLimits {
    fn default() -> Self {
        FileLimits {
            max_file_bytes: 20 << 20,
            user_quota_bytes: 1 << 30,
            app_quota_bytes: 1 << 30,
            uploads_at_once: 8,
            upload_timeout: Duration::from_secs(300),
            unsent_ttl: Duration::from_secs(24 * 60 * 60),
            sweep_every: Duration::from_secs(2),
            preview: Default::default(),
        }
    }
}

/// How the durable job queue runs (see `crate::store::jobs`).
#[derive(Debug, Clone)]
pub struct QueueLimits {
    /// This node's name, written on the jobs it holds (`--node-name`);
    /// `None`: a fresh name per process.
    pub node_name: Option<String>,
    /// Attempts of one event before it is parked as dead.
    pub max_attempts: u32,
    /// Wait after the first failure; doubled per attempt.
    pub backoff: Duration,
    /// Longest wait between attempts.
    pub max_backoff: Duration,
    /// How long a claimed job stays this node's; past it another node
    /// runs it (so it must exceed the longest invocation).
    pub lease: Duration,
    /// Events of one app waiting in one chat before new ones are refused
    /// (429 to the sender).
    pub lane_backlog: u32,
    /// Events of one app waiting in all chats before new ones are refused.
    pub app_backlog: u32,
    /// How often an idle node looks for due work (retries, other nodes'
    /// events, events other nodes committed).
    pub poll: Duration,
    /// While lane heads an earlier look found keep the slots busy, how
    /// long the look for newly queued work (a new lane, another app's
    /// events) may be put off (see the README's durable queue).
    pub look_delay: Duration,
    /// On SIGTERM or Ctrl-C, how long running invocations may finish.
    pub shutdown_grace: Duration,
}

impl Default for QueueLimits {
    fn default() -> Self {
        QueueLimits {
            node_name: None,
            max_attempts: 5,
            backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            lease: Duration::from_secs(60),
            lane_backlog: 1_000,
            app_backlog: 50_000,
            poll: Duration::from_millis(200),
            look_delay: Duration::from_millis(5),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            app: AppLimits::default(),
            max_app_memory_bytes: 256 << 20,
            table_elements: 20_000,
            max_wasm_stack: 512 << 10,
            hostcall_fuel_bytes: 1 << 20,
            max_component_handles: 10_000,
            max_resource_table: 1_000,
            max_request_bytes: 12 << 20,
            request_timeout: Duration::from_secs(30),
            log_retention: Duration::from_secs(7 * 24 * 60 * 60),
            audit_retention: Duration::from_secs(90 * 24 * 60 * 60),
            retention_sweep: Duration::from_secs(60 * 60),
            signatures_per_invocation: 5,
            pending_signatures_per_user: 20,
            max_connections: 4_096,
            header_read_timeout: Duration::from_secs(10),
            // Fits components built from Python (componentize-py: about
            // 18 to 40 MiB) and JavaScript (ComponentizeJS: about 10 MiB).
            max_component_bytes: 64 << 20,
            max_manifest_bytes: 16 << 10,
            max_message_bytes: 16 << 10,
            max_buttons: 100,
            max_button_label_bytes: 64,
            max_button_data_bytes: 256,
            max_key_bytes: 256,
            max_value_bytes: 64 << 10,
            max_log_line_bytes: 4 << 10,
            log_bytes_per_invocation: 64 << 10,
            dispatch_concurrency: 16,
            app_concurrency: 4,
            web_app_concurrency: 16,
            max_host_calls_per_invocation: 1_000,
            signups_per_minute_per_client: 30,
            posts_per_minute_per_account: 120,
            posts_burst_per_account: 30,
            ws_sockets_per_account: 16,
            ws_ping_interval: Duration::from_secs(30),
            ws_idle_timeout: Duration::from_secs(75),
            compile_timeout: Duration::from_secs(60),
            compile_memory_bytes: 2 << 30,
            // One Cranelift compile already uses both cores of the small
            // machines this host targets (it compiles functions in parallel).
            compile_concurrency: 1,
            uploads_per_hour_per_account: 20,
            compiling_per_account: 3,
            invoice_ttl: Duration::from_secs(24 * 60 * 60),
            launch_token_ttl: Duration::from_secs(5 * 60),
            web_session_ttl: Duration::from_secs(60 * 60),
            apps_domain: None,
            sign_in_links: false,
            queue: QueueLimits::default(),
            files: FileLimits::default(),
        }
    }
}

/// The limits one app version runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppLimits {
    /// Guest CPU time per invocation: epoch ticks spent running guest code.
    pub cpu_time: Duration,
    /// Wall-clock bound per invocation, host calls included.
    pub wall_time: Duration,
    /// Linear memory per instance, in bytes.
    pub memory_bytes: usize,
    /// Messages one invocation may send.
    pub messages_per_invocation: u32,
    /// Messages the app may send into one chat per minute.
    pub messages_per_chat_per_minute: u32,
    /// Keys the app may keep in storage, all buckets together.
    pub storage_keys: u64,
    /// Bytes (keys and values) the app may keep in storage.
    pub storage_bytes: u64,
    /// Timers the app may have pending, all chats together (the
    /// `schedule` capability; manifest schedules not counted).
    pub pending_timers: u32,
    /// Messages the app may send one user through `notify` per hour.
    pub notifications_per_user_per_hour: u32,
}

impl Default for AppLimits {
    fn default() -> Self {
        AppLimits {
            cpu_time: Duration::from_millis(100),
            wall_time: Duration::from_secs(2),
            memory_bytes: 64 << 20,
            messages_per_invocation: 20,
            messages_per_chat_per_minute: 60,
            storage_keys: 10_000,
            storage_bytes: 10 << 20,
            pending_timers: 1_000,
            notifications_per_user_per_hour: 10,
        }
    }
}

/// What an operator may change for one app version at approval. Absent
/// fields keep the host default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitOverrides {
    /// CPU time per invocation, ms (1 to 10,000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_ms: Option<u64>,
    /// Wall time per invocation, ms (10 to 60,000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wall_ms: Option<u64>,
    /// Linear memory per instance, MiB (1 to the host ceiling).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mib: Option<u64>,
    /// Messages per invocation (1 to 1,000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages_per_invocation: Option<u32>,
    /// Messages per chat per minute (1 to 10,000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages_per_chat_per_minute: Option<u32>,
    /// Storage keys (1 to 1,000,000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_keys: Option<u64>,
    /// Storage bytes, MiB (1 to 1,024).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_mib: Option<u64>,
    /// Pending timers (1 to 100,000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_timers: Option<u32>,
    /// Notifications per user per hour (1 to 1,000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notifications_per_user_per_hour: Option<u32>,
}

impl LimitOverrides {
    /// Checks every field against its allowed range.
    pub fn validate(&self, host: &Limits) -> Result<(), String> {
        fn range<T: PartialOrd + std::fmt::Display + Copy>(
            name: &str,
            v: Option<T>,
            lo: T,
            hi: T,
        ) -> Result<(), String> {
            match v {
                Some(v) if v < lo || v > hi => Err(format!("limit `{name}` must be between {lo} and {hi}, not {v}")),
                _ => Ok(()),
            }
        }
        range("cpu_ms", self.cpu_ms, 1, 10_000)?;
        range("wall_ms", self.wall_ms, 10, 60_000)?;
        range(
            "memory_mib",
            self.memory_mib,
            1,
            (host.max_app_memory_bytes >> 20) as u64,
        )?;
        range("messages_per_invocation", self.messages_per_invocation, 1, 1_000)?;
        range(
            "messages_per_chat_per_minute",
            self.messages_per_chat_per_minute,
            1,
            10_000,
        )?;
        range("storage_keys", self.storage_keys, 1, 1_000_000)?;
        range("storage_mib", self.storage_mib, 1, 1_024)?;
        range("pending_timers", self.pending_timers, 1, 100_000)?;
        range(
            "notifications_per_user_per_hour",
            self.notifications_per_user_per_hour,
            1,
            1_000,
        )?;
        Ok(())
    }

    /// The host defaults with these overrides applied.
    pub fn apply(&self, base: AppLimits) -> AppLimits {
        AppLimits {
            cpu_time: self.cpu_ms.map(Duration::from_millis).unwrap_or(base.cpu_time),
            wall_time: self.wall_ms.map(Duration::from_millis).unwrap_or(base.wall_time),
            memory_bytes: self.memory_mib.map(|m| (m as usize) << 20).unwrap_or(base.memory_bytes),
            messages_per_invocation: self.messages_per_invocation.unwrap_or(base.messages_per_invocation),
            messages_per_chat_per_minute: self
                .messages_per_chat_per_minute
                .unwrap_or(base.messages_per_chat_per_minute),
            storage_keys: self.storage_keys.unwrap_or(base.storage_keys),
            storage_bytes: self.storage_mib.map(|m| m << 20).unwrap_or(base.storage_bytes),
            pending_timers: self.pending_timers.unwrap_or(base.pending_timers),
            notifications_per_user_per_hour: self
                .notifications_per_user_per_hour
                .unwrap_or(base.notifications_per_user_per_hour),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_apply_over_defaults_and_out_of_range_values_are_refused() {
        let host = Limits::default();
        let o = LimitOverrides {
            cpu_ms: Some(250),
            memory_mib: Some(128),
            ..Default::default()
        };
        assert!(o.validate(&host).is_ok());
        let app = o.apply(host.app);
        assert_eq!(app.cpu_time, Duration::from_millis(250));
        assert_eq!(app.memory_bytes, 128 << 20);
        assert_eq!(app.wall_time, host.app.wall_time);
        for bad in [
            LimitOverrides {
                cpu_ms: Some(0),
                ..Default::default()
            },
            LimitOverrides {
                memory_mib: Some(100_000),
                ..Default::default()
            },
            LimitOverrides {
                messages_per_invocation: Some(1_000_000),
                ..Default::default()
            },
        ] {
            assert!(bad.validate(&host).is_err(), "{bad:?}");
        }
    }
}
