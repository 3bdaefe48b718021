//! The `miniapp` command line: `serve`, `build`, `publish`, `review`, `reports`.

mod build;
mod client;
mod demo;
mod dev;
mod logs;
mod new;
mod reports;
mod rollout;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{Limits, QueueLimits};
use crate::crypto::MasterKeySource;
use crate::server::{self, HostOptions, ServerConfig};
use crate::store::tokens::SessionPolicy;

pub use build::{build_app, ensure_wasm_target};

/// miniapp: host, build and publish WebAssembly mini-apps.
#[derive(Debug, Parser)]
#[command(name = "miniapp", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the host.
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Directory for modules, compiled artifacts, the master key and (without
        /// --database-url) the embedded database.
        #[arg(long, default_value = "miniapp-data")]
        data: PathBuf,
        /// The operator's bearer token.
        #[arg(long, env = "MINIAPP_OPERATOR_TOKEN", hide_env_values = true)]
        operator_token: Option<String>,
        /// Publish and approve the sample apps, and set up a demo chat.
        #[arg(long)]
        demo: bool,
        /// Where the sample apps are (for --demo).
        #[arg(long)]
        samples: Option<PathBuf>,
        /// How long invoices stay payable, in seconds.
        #[arg(long, default_value_t = 24 * 60 * 60)]
        invoice_ttl_secs: u64,
        /// How long a web app's launch token stays valid, in seconds.
        #[arg(long, default_value_t = 5 * 60)]
        launch_ttl_secs: u64,
        /// Domain under which every web app gets its own origin
        /// `{app}.{domain}` (`apps.example.com`, or `https://apps.example.com`);
        /// default `apps.localhost:<port>` over http, which browsers resolve
        /// to loopback. The chat client is expected at the domain's parent.
        #[arg(long)]
        apps_domain: Option<String>,
        /// Test-only: lets the operator move the host's clock forward
        /// (`POST /v1/admin/clock/advance`), so tests expire invoices and
        /// launch tokens without sleeping. Never use it in production.
        #[arg(long, hide = true)]
        test_clock: bool,
        /// Days an account session lasts without being used (each use
        /// pushes its expiry this far again).
        #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3650))]
        session_ttl_days: u64,
        /// Export the host's traces over OTLP (HTTP/protobuf) to this
        /// collector, e.g. `http://127.0.0.1:4318` (spans go to
        /// `{URL}/v1/traces`); without it nothing is exported.
        #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT")]
        otlp_endpoint: Option<String>,
        #[command(flatten)]
        master_key: MasterKeyArgs,
        #[command(flatten)]
        database: DatabaseArgs,
        #[command(flatten)]
        limits: Box<LimitArgs>,
    },
    /// Re-wrap every secret in the data directory under a new master key
    /// (stop the host first). Without a new key, a fresh one replaces the
    /// current key file.
    RotateMasterKey {
        /// The host's data directory.
        #[arg(long, default_value = "miniapp-data")]
        data: PathBuf,
        #[command(flatten)]
        master_key: MasterKeyArgs,
        #[command(flatten)]
        database: DatabaseArgs,
        /// A file holding the new master key (or set MINIAPP_NEW_MASTER_KEY).
        #[arg(long)]
        new_master_key_file: Option<PathBuf>,
    },
    /// Make a new app crate: ./NAME with Cargo.toml, miniapp.toml (every
    /// capability listed), src/lib.rs answering /start, a README.
    New {
        /// The app's name: lowercase letters, digits and '-'.
        name: String,
        /// What it is.
        #[arg(long, value_enum, default_value = "bot")]
        kind: new::Kind,
        /// Where to create it.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// The SDK to depend on: a path, or a git URL (default: MINIAPP_SDK,
        /// or the SDK this miniapp was built from).
        #[arg(long)]
        sdk: Option<String>,
    },
    /// The live dev loop: build the app, run it on a throwaway local host in
    /// a demo chat, chat with it in the terminal, see its logs, and rebuild
    /// and reload it on every change (same chat, same storage).
    Dev {
        /// The app's directory.
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Address for the throwaway host (port 0 picks a free one).
        #[arg(long, default_value = "127.0.0.1:8090")]
        listen: SocketAddr,
    },
    /// Build an app for wasm32-wasip2 (release) and print the .wasm path.
    Build {
        /// The app's directory (with Cargo.toml and miniapp.toml).
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
    /// Build an app and upload it for review.
    Publish {
        /// The app's directory (its `miniapp.toml`, and the crate unless
        /// --component is given).
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Upload this component instead of building the crate in DIR: one
        /// built by another toolchain (componentize-py, componentize-qjs,
        /// jco; see the SDK's README, "Other languages").
        #[arg(long, value_name = "FILE")]
        component: Option<PathBuf>,
        /// The host's base URL.
        #[arg(long, env = "MINIAPP_SERVER", default_value = "http://127.0.0.1:8080")]
        server: String,
        /// Your account token.
        #[arg(long, env = "MINIAPP_TOKEN", hide_env_values = true)]
        token: String,
    },
    /// Set or list an app's settings and secrets (its owner).
    Config {
        #[command(subcommand)]
        action: ConfigAction,
        /// The host's base URL.
        #[arg(long, env = "MINIAPP_SERVER", default_value = "http://127.0.0.1:8080", global = true)]
        server: String,
        /// Your account token.
        #[arg(long, env = "MINIAPP_TOKEN", hide_env_values = true, global = true)]
        token: Option<String>,
    },
    /// Make (or rotate) APP's webhook signing secret and print it — the
    /// only time it is shown; the old one stops working at once (its owner).
    #[command(name = "webhook-secret")]
    WebhookSecret {
        /// App id.
        app: String,
        /// The host's base URL.
        #[arg(long, env = "MINIAPP_SERVER", default_value = "http://127.0.0.1:8080")]
        server: String,
        /// Your account token.
        #[arg(long, env = "MINIAPP_TOKEN", hide_env_values = true)]
        token: String,
    },
    /// Internal: compile one component into an artifact, in a child
    /// process the host limits and kills at its compile time limit.
    #[command(name = "compile-artifact", hide = true)]
    CompileArtifact {
        /// The component.
        #[arg(long)]
        input: PathBuf,
        /// Where to write the compiled artifact.
        #[arg(long)]
        output: PathBuf,
        /// The host engine's guest wasm stack, in bytes.
        #[arg(long)]
        max_wasm_stack: usize,
        /// Address-space limit, in bytes.
        #[arg(long)]
        memory_bytes: u64,
        /// CPU-time limit, in seconds.
        #[arg(long)]
        cpu_secs: u64,
    },
    /// Review pending versions (operator).
    Review {
        #[command(subcommand)]
        action: ReviewAction,
        /// The host's base URL.
        #[arg(long, env = "MINIAPP_SERVER", default_value = "http://127.0.0.1:8080", global = true)]
        server: String,
        /// The operator's token.
        #[arg(long, env = "MINIAPP_OPERATOR_TOKEN", hide_env_values = true, global = true)]
        token: Option<String>,
    },
    /// Where an app stands: what runs (and a rollout), each version's
    /// review with a rejection's reason, and its compile.
    Status {
        /// The app's id or name.
        app: String,
        /// The host's base URL.
        #[arg(long, env = "MINIAPP_SERVER", default_value = "http://127.0.0.1:8080")]
        server: String,
        /// Your account token (or the operator's).
        #[arg(long, env = "MINIAPP_TOKEN", hide_env_values = true)]
        token: String,
    },
    /// An app's log lines, filtered; with --follow, as they are written
    /// (its developer, or the operator).
    Logs {
        #[command(flatten)]
        args: logs::LogsArgs,
        /// The host's base URL.
        #[arg(long, env = "MINIAPP_SERVER", default_value = "http://127.0.0.1:8080")]
        server: String,
        /// Your account token (or the operator's).
        #[arg(long, env = "MINIAPP_TOKEN", hide_env_values = true)]
        token: String,
    },
    /// Staged rollout of an approved version to a share of chats (operator).
    Rollout {
        #[command(subcommand)]
        action: rollout::RolloutAction,
        /// The host's base URL.
        #[arg(long, env = "MINIAPP_SERVER", default_value = "http://127.0.0.1:8080", global = true)]
        server: String,
        /// The operator's token.
        #[arg(long, env = "MINIAPP_OPERATOR_TOKEN", hide_env_values = true, global = true)]
        token: Option<String>,
    },
    /// Members' reports of messages and apps (operator).
    Reports {
        #[command(subcommand)]
        action: reports::ReportsAction,
        /// The host's base URL.
        #[arg(long, env = "MINIAPP_SERVER", default_value = "http://127.0.0.1:8080", global = true)]
        server: String,
        /// The operator's token.
        #[arg(long, env = "MINIAPP_OPERATOR_TOKEN", hide_env_values = true, global = true)]
        token: Option<String>,
    },
}

/// Where the master key that seals secrets at rest comes from: the
/// `MINIAPP_MASTER_KEY` environment variable (never a command-line
/// argument, which other users can see), or a key file.
#[derive(Debug, clap::Args)]
struct MasterKeyArgs {
    /// A file holding the master key (32 bytes, hex or base64). Without it
    /// and without MINIAPP_MASTER_KEY: DATA/master.key, created on first start.
    #[arg(long, env = "MINIAPP_MASTER_KEY_FILE")]
    master_key_file: Option<PathBuf>,
}

/// Where the host keeps its state.
#[derive(Debug, clap::Args)]
struct DatabaseArgs {
    /// A PostgreSQL database (`postgres://user:password@host:port/db`) to
    /// keep the host's state in. Without it: the embedded SQLite database
    /// in the data directory (which holds modules and compiled artifacts
    /// either way).
    #[arg(long, env = "MINIAPP_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// At most this many connections to PostgreSQL.
    #[arg(long, env = "MINIAPP_DATABASE_MAX_CONNECTIONS", default_value_t = crate::store::DEFAULT_POSTGRES_CONNECTIONS,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    database_max_connections: u32,
    /// Where uploaded module bytes live (default: `modules/` in the data
    /// directory). The nodes of a cluster share one directory.
    #[arg(long, env = "MINIAPP_MODULES_DIR")]
    modules_dir: Option<PathBuf>,
    /// Where files' bytes live (default: `files/` in the data directory):
    /// a directory (the nodes of a cluster share one) or an
    /// `s3://bucket/prefix` URL, with credentials and endpoint from the
    /// standard AWS_* environment variables (AWS_ENDPOINT and
    /// AWS_ALLOW_HTTP=true for MinIO and other S3-compatible stores).
    #[arg(long, env = "MINIAPP_FILES_STORE")]
    files_store: Option<String>,
}

impl DatabaseArgs {
    fn options(self) -> server::DatabaseOptions {
        server::DatabaseOptions {
            url: self.database_url.filter(|url| !url.trim().is_empty()),
            max_connections: Some(self.database_max_connections),
            modules_dir: self.modules_dir,
            files_store: self.files_store.filter(|s| !s.trim().is_empty()),
        }
    }
}

/// The value of the environment variable `name`, if set and not empty.
fn secret_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl MasterKeyArgs {
    fn source(self) -> anyhow::Result<MasterKeySource> {
        MasterKeySource::from_settings(secret_env(crate::crypto::MASTER_KEY_ENV), self.master_key_file)
    }
}

/// Host-wide limits `serve` takes; the README's limits table lists them.
#[derive(Debug, clap::Args)]
struct LimitArgs {
    /// Largest component an upload may carry, in MiB.
    #[arg(long, default_value_t = (Limits::default().max_component_bytes >> 20) as u64)]
    max_component_mib: u64,
    /// Largest request body of every other route, in MiB.
    #[arg(long, default_value_t = (Limits::default().max_request_bytes >> 20) as u64)]
    max_request_mib: u64,
    /// Bot invocations running at once, host-wide.
    #[arg(long, default_value_t = Limits::default().dispatch_concurrency)]
    dispatch_concurrency: usize,
    /// Bot invocations of one app running at once (its fair share).
    #[arg(long, default_value_t = Limits::default().app_concurrency)]
    app_concurrency: usize,
    /// Web-app requests of one app running at once (the rest wait their turn).
    #[arg(long, default_value_t = Limits::default().web_app_concurrency)]
    web_app_concurrency: usize,
    /// Host calls one invocation may make.
    #[arg(long, default_value_t = Limits::default().max_host_calls_per_invocation)]
    max_host_calls: u32,
    /// Accounts one client address may create per minute.
    #[arg(long, default_value_t = Limits::default().signups_per_minute_per_client)]
    signups_per_minute: u32,
    /// Messages and button presses per account per minute, sustained.
    #[arg(long, default_value_t = Limits::default().posts_per_minute_per_account)]
    posts_per_minute: u32,
    /// Messages and button presses per account in a burst.
    #[arg(long, default_value_t = Limits::default().posts_burst_per_account)]
    posts_burst: u32,
    /// Events WebSockets one account may hold open.
    #[arg(long, default_value_t = Limits::default().ws_sockets_per_account)]
    ws_sockets_per_account: usize,
    /// Seconds between the host's pings on an events WebSocket.
    #[arg(long, default_value_t = Limits::default().ws_ping_interval.as_secs())]
    ws_ping_secs: u64,
    /// Days app log lines are kept.
    #[arg(long, default_value_t = Limits::default().log_retention.as_secs() / 86_400)]
    log_retention_days: u64,
    /// Days audit log entries are kept.
    #[arg(long, default_value_t = Limits::default().audit_retention.as_secs() / 86_400)]
    audit_retention_days: u64,
    /// Seconds between two sweeps of old rows.
    #[arg(long, default_value_t = Limits::default().retention_sweep.as_secs())]
    retention_sweep_secs: u64,
    /// HTTP connections open at once (more are closed at once).
    #[arg(long, default_value_t = Limits::default().max_connections)]
    max_connections: usize,
    /// Seconds a client has to send a request's headers; also the longest a
    /// keep-alive connection may sit idle.
    #[arg(long, default_value_t = Limits::default().header_read_timeout.as_secs())]
    header_read_timeout_secs: u64,
    /// Seconds of silence (no pong, no frame) after which an events WebSocket is closed.
    #[arg(long, default_value_t = Limits::default().ws_idle_timeout.as_secs())]
    ws_idle_timeout_secs: u64,
    /// Components compiled at once, host-wide (one compile already uses
    /// every core); more uploads wait their turn.
    #[arg(long, default_value_t = Limits::default().compile_concurrency)]
    compile_concurrency: usize,
    /// Seconds (wall and CPU) one compile may take before it is killed
    /// and the version rejected.
    #[arg(long, default_value_t = Limits::default().compile_timeout.as_secs())]
    compile_timeout_secs: u64,
    /// Address space of the process compiling one component, in MiB.
    #[arg(long, default_value_t = Limits::default().compile_memory_bytes >> 20)]
    compile_memory_mib: u64,
    /// Versions one account may upload per hour.
    #[arg(long, default_value_t = Limits::default().uploads_per_hour_per_account)]
    uploads_per_hour: u32,
    /// Versions of one account that may wait to compile at once.
    #[arg(long, default_value_t = Limits::default().compiling_per_account)]
    compiling_per_developer: u32,
    /// This node's name in the job queue (default: a fresh one per run).
    /// A node restarted under the same name takes back its jobs at once.
    #[arg(long)]
    node_name: Option<String>,
    /// Attempts of one bot event before it is parked as dead.
    #[arg(long, default_value_t = QueueLimits::default().max_attempts)]
    job_max_attempts: u32,
    /// Milliseconds before the first retry of a failed event (doubled per attempt, at most 60 s).
    #[arg(long, default_value_t = QueueLimits::default().backoff.as_millis() as u64)]
    job_backoff_ms: u64,
    /// Seconds a claimed event stays this node's before another node may run it.
    #[arg(long, default_value_t = QueueLimits::default().lease.as_secs())]
    job_lease_secs: u64,
    /// Milliseconds the look for newly queued events may be put off while
    /// events found earlier keep the slots busy (at most 1,000).
    #[arg(long, default_value_t = QueueLimits::default().look_delay.as_millis() as u64)]
    queue_look_delay_ms: u64,
    /// Events of one app waiting in one chat before new ones get 429.
    #[arg(long, default_value_t = QueueLimits::default().lane_backlog)]
    lane_backlog: u32,
    /// Events of one app waiting in all chats before new ones get 429.
    #[arg(long, default_value_t = QueueLimits::default().app_backlog)]
    app_backlog: u32,
    /// Largest file a user may upload or an app may make, in MiB.
    #[arg(long, default_value_t = crate::config::FileLimits::default().max_file_bytes >> 20)]
    max_file_mib: u64,
    /// Bytes of files one account may have stored, in MiB.
    #[arg(long, default_value_t = crate::config::FileLimits::default().user_quota_bytes >> 20)]
    user_files_mib: u64,
    /// Bytes of files one app may have stored, in MiB.
    #[arg(long, default_value_t = crate::config::FileLimits::default().app_quota_bytes >> 20)]
    app_files_mib: u64,
    /// Seconds running invocations get to finish on SIGTERM or Ctrl-C.
    #[arg(long, default_value_t = QueueLimits::default().shutdown_grace.as_secs())]
    shutdown_grace_secs: u64,
}

impl LimitArgs {
    /// `base` with these settings applied (each at least 1).
    fn apply(&self, base: Limits) -> Limits {
        let mib = |m: u64| usize::try_from(m.clamp(1, 4096) << 20).unwrap_or(usize::MAX);
        Limits {
            max_component_bytes: mib(self.max_component_mib),
            max_request_bytes: mib(self.max_request_mib),
            dispatch_concurrency: self.dispatch_concurrency.max(1),
            app_concurrency: self.app_concurrency.clamp(1, self.dispatch_concurrency.max(1)),
            max_host_calls_per_invocation: self.max_host_calls.max(1),
            web_app_concurrency: self.web_app_concurrency.max(1),
            signups_per_minute_per_client: self.signups_per_minute.max(1),
            posts_per_minute_per_account: self.posts_per_minute.max(1),
            posts_burst_per_account: self.posts_burst.max(1),
            ws_sockets_per_account: self.ws_sockets_per_account.max(1),
            max_connections: self.max_connections.max(1),
            log_retention: std::time::Duration::from_secs(self.log_retention_days.clamp(1, 36_500) * 86_400),
            audit_retention: std::time::Duration::from_secs(self.audit_retention_days.clamp(1, 36_500) * 86_400),
            retention_sweep: std::time::Duration::from_secs(self.retention_sweep_secs.max(1)),
            header_read_timeout: std::time::Duration::from_secs(self.header_read_timeout_secs.max(1)),
            ws_ping_interval: std::time::Duration::from_secs(self.ws_ping_secs.max(1)),
            ws_idle_timeout: std::time::Duration::from_secs(self.ws_idle_timeout_secs.max(1)),
            compile_concurrency: self.compile_concurrency.max(1),
            compile_timeout: std::time::Duration::from_secs(self.compile_timeout_secs.max(1)),
            compile_memory_bytes: self.compile_memory_mib.clamp(256, 1 << 20) << 20,
            uploads_per_hour_per_account: self.uploads_per_hour.max(1),
            compiling_per_account: self.compiling_per_developer.max(1),
            queue: QueueLimits {
                node_name: self.node_name.clone(),
                max_attempts: self.job_max_attempts.clamp(1, 100),
                backoff: std::time::Duration::from_millis(self.job_backoff_ms.clamp(1, 3_600_000)),
                lease: std::time::Duration::from_secs(self.job_lease_secs.clamp(1, 86_400)),
                look_delay: std::time::Duration::from_millis(self.queue_look_delay_ms.min(1_000)),
                lane_backlog: self.lane_backlog.max(1),
                app_backlog: self.app_backlog.max(1),
                shutdown_grace: std::time::Duration::from_secs(self.shutdown_grace_secs.min(3_600)),
                ..base.queue.clone()
            },
            files: crate::config::FileLimits {
                max_file_bytes: self.max_file_mib.clamp(1, 4096) << 20,
                user_quota_bytes: self.user_files_mib.clamp(1, 1 << 30) << 20,
                app_quota_bytes: self.app_files_mib.clamp(1, 1 << 30) << 20,
                ..base.files.clone()
            },
            ..base
        }
    }
}

#[derive(Debug, Subcommand)]
enum ConfigAction {
    /// Set KEY to VALUE for APP (`--secret`: write-only, never shown again).
    Set {
        /// App id.
        app: String,
        /// Key.
        key: String,
        /// Value.
        value: String,
        /// Store as a secret.
        #[arg(long)]
        secret: bool,
    },
    /// List APP's keys (secret values are not shown).
    List {
        /// App id.
        app: String,
    },
}

#[derive(Debug, Subcommand)]
enum ReviewAction {
    /// List pending versions with requested capabilities and real imports.
    List,
    /// Show one pending version, and for an upgrade what it changes
    /// against the running version (capabilities, imports, hosts,
    /// webhooks, schedules).
    Show {
        /// App id (or name).
        app: String,
        /// Version.
        version: String,
    },
    /// Approve a version, granting everything requested or only `--grant`s.
    Approve {
        /// App id.
        app: String,
        /// Version.
        version: String,
        /// Grant only these (repeatable).
        #[arg(long = "grant")]
        grants: Vec<String>,
        /// Run it in this share of the app's chats only (1-99), a staged
        /// rollout; see `miniapp rollout`.
        #[arg(long = "rollout", value_parser = clap::value_parser!(u8).range(1..=99))]
        rollout_percent: Option<u8>,
    },
    /// Reject a version with a reason.
    Reject {
        /// App id.
        app: String,
        /// Version.
        version: String,
        /// Why.
        #[arg(long)]
        reason: String,
    },
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    // SAFETY: the first thing the process does; no thread exists yet.
    #[allow(unsafe_code)]
    unsafe {
        crate::engine::lib_backtrace::default_off();
    }
    let cli = Cli::parse();
    if let Command::CompileArtifact {
        input,
        output,
        max_wasm_stack,
        memory_bytes,
        cpu_secs,
    } = cli.command
    {
        // A child of the host: no logging, no async runtime, its limits
        // set before it reads the component.
        let job = crate::engine::compiler::CompileJob {
            input,
            output,
            max_wasm_stack,
            memory_bytes,
            cpu_secs,
        };
        return match crate::engine::compiler::run_child(&job) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    let otlp = match &cli.command {
        Command::Serve { otlp_endpoint, .. } => otlp_endpoint.clone(),
        _ => None,
    };
    let tracing = match crate::observe::trace::init("info,sqlx=warn,wasmtime=warn,cranelift=warn", otlp.as_deref()) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let done = runtime.block_on(run(cli));
    drop(runtime);
    // The spans of the last requests are exported before the process ends.
    tracing.shutdown();
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve {
            listen,
            data,
            operator_token,
            demo,
            samples,
            invoice_ttl_secs,
            launch_ttl_secs,
            apps_domain,
            test_clock,
            session_ttl_days,
            otlp_endpoint: _,
            master_key,
            database,
            limits,
        } => {
            if test_clock {
                tracing::warn!("--test-clock: the operator can move this host's clock; for tests only");
                crate::clock::enable_test_clock();
            }
            let options = HostOptions {
                master_key: master_key.source()?,
                sessions: SessionPolicy {
                    ttl: std::time::Duration::from_secs(session_ttl_days * 24 * 60 * 60),
                },
                database: database.options(),
            };
            let operator_token = match (operator_token, demo) {
                (Some(t), _) => Some(t),
                (None, true) => Some(demo::operator_token(&data)?),
                (None, false) => {
                    tracing::warn!("no MINIAPP_OPERATOR_TOKEN set: nobody can review apps");
                    None
                }
            };
            let config = ServerConfig {
                listen,
                data_dir: data.clone(),
                operator_token: operator_token.clone(),
                limits: limits.apply(Limits {
                    invoice_ttl: std::time::Duration::from_secs(invoice_ttl_secs.max(1)),
                    launch_token_ttl: std::time::Duration::from_secs(launch_ttl_secs.max(1)),
                    apps_domain,
                    ..Limits::default()
                }),
            };
            server::run_with(config, options, async |host, addr| {
                if demo {
                    let samples = samples.unwrap_or_else(demo::default_samples_dir);
                    demo::prepare(
                        host,
                        addr,
                        &data,
                        &samples,
                        operator_token.as_deref().unwrap_or_default(),
                    )
                    .await?;
                }
                Ok(())
            })
            .await
        }
        Command::RotateMasterKey {
            data,
            master_key,
            database,
            new_master_key_file,
        } => {
            let new = match (secret_env(crate::crypto::NEW_MASTER_KEY_ENV), new_master_key_file) {
                (None, None) => None,
                (value, file) => Some(MasterKeySource::from_settings(value, file)?),
            };
            let done =
                crate::crypto::rotate_master_key(&data, &database.options(), &master_key.source()?, new.as_ref())
                    .await?;
            println!(
                "re-wrapped {} secrets: master key {} -> {}",
                done.rewrapped, done.old_key_id, done.new_key_id
            );
            match done.new_key_file {
                Some(path) => println!("the new key is in {}: back it up now", path.display()),
                None => println!("start the host with the new key"),
            }
            println!("backups taken before now still need the old key ({})", done.old_key_id);
            Ok(())
        }
        Command::New { name, kind, dir, sdk } => {
            let sdk = new::find_sdk(sdk)?;
            let made = new::scaffold(&name, kind, &dir, &sdk)?;
            println!(
                "created {}: build it with `miniapp build {0}`, publish it with `miniapp publish {0}`",
                made.display()
            );
            Ok(())
        }
        Command::Dev { dir, listen } => {
            dev::check_dir(&dir)?;
            dev::run(dir, listen).await
        }
        Command::Build { dir } => {
            let wasm = build_app(&dir)?;
            println!("{}", wasm.display());
            Ok(())
        }
        Command::Publish {
            dir,
            component,
            server,
            token,
        } => client::publish(&dir, component.as_deref(), &server, &token).await,
        Command::Config { action, server, token } => {
            let token = token.ok_or_else(|| anyhow::anyhow!("config needs your token (--token or MINIAPP_TOKEN)"))?;
            match action {
                ConfigAction::Set {
                    app,
                    key,
                    value,
                    secret,
                } => client::config_set(&server, &token, &app, &key, &value, secret).await,
                ConfigAction::List { app } => client::config_list(&server, &token, &app).await,
            }
        }
        Command::WebhookSecret { app, server, token } => client::webhook_secret(&server, &token, &app).await,
        Command::CompileArtifact { .. } => anyhow::bail!("compile-artifact runs before the async runtime"),
        Command::Status { app, server, token } => client::status(&server, &token, &app).await,
        Command::Logs { args, server, token } => logs::run(args, &server, &token).await,
        Command::Rollout { action, server, token } => {
            let token = token.ok_or_else(|| {
                anyhow::anyhow!("rollouts need the operator token (--token or MINIAPP_OPERATOR_TOKEN)")
            })?;
            rollout::run(action, &server, &token).await
        }
        Command::Reports { action, server, token } => {
            let token = token.ok_or_else(|| {
                anyhow::anyhow!("reports need the operator token (--token or MINIAPP_OPERATOR_TOKEN)")
            })?;
            reports::run(action, &server, &token).await
        }
        Command::Review { action, server, token } => {
            let token = token.ok_or_else(|| {
                anyhow::anyhow!("reviewing needs the operator token (--token or MINIAPP_OPERATOR_TOKEN)")
            })?;
            match action {
                ReviewAction::List => client::review_list(&server, &token).await,
                ReviewAction::Show { app, version } => client::review_show(&server, &token, &app, &version).await,
                ReviewAction::Approve {
                    app,
                    version,
                    grants,
                    rollout_percent,
                } => {
                    let mut body = client::approve_body(&grants);
                    if let Some(percent) = rollout_percent {
                        body["rollout_percent"] = serde_json::json!(percent);
                    }
                    client::review_decide(&server, &token, &app, &version, body).await
                }
                ReviewAction::Reject { app, version, reason } => {
                    client::review_decide(
                        &server,
                        &token,
                        &app,
                        &version,
                        serde_json::json!({"decision": "reject", "reason": reason}),
                    )
                    .await
                }
            }
        }
    }
}
