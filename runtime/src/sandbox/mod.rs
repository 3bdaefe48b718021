//! Running app code: one `InstancePre` per approved version, one fresh
//! `Store` per invocation, every limit applied, and whatever the guest did
//! (messages, log lines, a trap, a timeout) reported back as plain data so
//! services above never touch wasmtime types. The sandbox knows no
//! particular capability: it links [`capabilities::UNITS`], builds each
//! store's [`HostState`] and commits what the units buffered.
//!
//! Here: loading, linking and preparing versions. [`invoke`]: what the
//! bot and web paths share (running to the commit, reruns, logs, traps);
//! [`bot`] and [`web`]: what differs.

mod bot;
mod event;
mod invoke;
mod load_failures;
mod web;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;
use wasmtime::component::Linker;

use wasmtime_wasi_http::p2::bindings::ProxyPre;

use crate::capabilities::bindings::BotPre;
use crate::capabilities::commit::Committed;
use crate::capabilities::{self, Grants, HostState, Invocation, Services};
use crate::config::AppLimits;
use crate::engine::Engine;
use crate::store::apps::Version;
use crate::store::blobs::BlobStore;

pub use event::{BotEvent, OWED_KINDS};
pub use load_failures::RETRY_LOAD_AFTER;
pub use web::WebOutcome;

/// Which entry points a component must provide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryPoints {
    /// The chat-event handler (world `bot`).
    pub bot: bool,
    /// `wasi:http/incoming-handler` (world `web-app`).
    pub web: bool,
}

/// An approved app version, ready to be run.
#[derive(Debug, Clone)]
pub struct Target {
    /// The app's id.
    pub app_id: String,
    /// The app's name (bots are addressed as `@name`).
    pub name: String,
    /// The version.
    pub version: String,
    /// sha256 of its component.
    pub sha256: String,
    /// What was granted.
    pub grants: Grants,
    /// The limits it runs with.
    pub limits: AppLimits,
    /// Whether it exports the chat-event handler (kind `bot` or `app`); a
    /// web app gets no chat events.
    pub handles_events: bool,
}

impl Target {
    /// The target for `version` of the app `name`: its grants, and the host's
    /// limits with the operator's overrides for that version applied.
    pub fn running(name: String, version: Version, host: &AppLimits) -> Target {
        Target {
            app_id: version.app_id,
            name,
            version: version.version,
            sha256: version.component_sha256,
            grants: Grants::new(version.grants.unwrap_or_default()),
            limits: version.limits.unwrap_or_default().apply(*host),
            handles_events: version.kind.is_bot(),
        }
    }
}

/// How an invocation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvokeError {
    /// The component could not be loaded or linked.
    Load(String),
    /// The host could not run its compiler (a fault of the host, not of
    /// the component: the compile is tried again).
    HostFault(String),
    /// The wall-clock bound passed (guest code and host calls together).
    Timeout(Duration),
    /// The guest used up its CPU budget.
    CpuExhausted(Duration),
    /// The guest asked for more linear memory than its limit.
    OutOfMemory {
        /// The limit in force, bytes.
        limit: usize,
        /// What the guest asked for, bytes.
        requested: usize,
    },
    /// The guest's call stack overflowed.
    StackOverflow,
    /// The guest passed more data to the host in one call than allowed.
    HostCallTooLarge(usize),
    /// Any other trap (panic, unreachable, out-of-bounds …); the text says which.
    Trap(String),
    /// The handler returned an error.
    Handler(String),
    /// The app does not provide this entry point (a bot asked to serve a
    /// page, or a web app sent a chat event).
    NoEntryPoint(&'static str),
    /// A web app answered without a usable response.
    BadResponse(String),
    /// The handler succeeded but what it changed was not stored (storage
    /// it read kept changing through every rerun, its storage quota was
    /// passed at commit, or the database failed).
    NotCommitted(String),
}

impl InvokeError {
    /// How `/metrics` and traces name this ending.
    pub fn outcome(&self) -> crate::observe::metrics::Outcome {
        use crate::observe::metrics::Outcome;
        match self {
            InvokeError::Load(_) | InvokeError::HostFault(_) | InvokeError::NoEntryPoint(_) => Outcome::LoadFailed,
            InvokeError::Timeout(_) | InvokeError::CpuExhausted(_) => Outcome::Timeout,
            InvokeError::OutOfMemory { .. } => Outcome::OutOfMemory,
            InvokeError::StackOverflow | InvokeError::HostCallTooLarge(_) | InvokeError::Trap(_) => Outcome::Trap,
            InvokeError::Handler(_) => Outcome::Error,
            InvokeError::BadResponse(_) => Outcome::BadResponse,
            InvokeError::NotCommitted(_) => Outcome::NotCommitted,
        }
    }
}

/// Runs of one invocation at most when storage it read keeps changing
/// under it before it commits.
pub const MAX_RUNS: u32 = 8;

impl std::fmt::Display for InvokeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InvokeError::Load(e) => write!(f, "could not load the component: {e}"),
            InvokeError::HostFault(e) => write!(f, "the host could not compile the component (its fault): {e}"),
            InvokeError::Timeout(d) => write!(
                f,
                "invocation exceeded its wall-time limit of {} ms and was stopped",
                d.as_millis()
            ),
            InvokeError::CpuExhausted(d) => write!(
                f,
                "invocation exceeded its CPU-time limit of {} ms and was stopped",
                d.as_millis()
            ),
            InvokeError::OutOfMemory { limit, requested } => write!(
                f,
                "out of memory: the guest asked for {} KiB of linear memory; the limit is {} KiB",
                requested >> 10,
                limit >> 10
            ),
            InvokeError::StackOverflow => f.write_str("stack overflow: the guest's call stack exceeded its limit"),
            InvokeError::HostCallTooLarge(max) => {
                write!(
                    f,
                    "host call refused: the guest passed more than {max} bytes to the host in one call"
                )
            }
            InvokeError::Trap(e) => write!(f, "guest trapped: {e}"),
            InvokeError::Handler(e) => write!(f, "handler returned an error: {e}"),
            InvokeError::NoEntryPoint(which) => write!(f, "the app does not export {which}"),
            InvokeError::BadResponse(e) => write!(f, "the web app's response was unusable: {e}"),
            InvokeError::NotCommitted(e) => write!(f, "nothing it changed was stored: {e}"),
        }
    }
}

/// What one invocation produced: its effects committed (with the job's
/// completion, if any), or why not (then nothing is stored).
pub type Outcome = Result<Committed, InvokeError>;

struct Prepared {
    bot: Option<BotPre<HostState>>,
    web: Option<ProxyPre<HostState>>,
    grants: Arc<Grants>,
}

/// Runs app code.
pub struct Sandbox {
    engine: Engine,
    linker: Linker<HostState>,
    services: Arc<Services>,
    blobs: BlobStore,
    prepared: Mutex<HashMap<(String, String), Arc<Prepared>>>,
    /// Components that failed to load lately.
    broken: Mutex<load_failures::LoadFailures>,
    /// Guest code runs on its own runtime, so guests that use their whole
    /// CPU budget slow each other, not the API, the database or the
    /// WebSockets on the main runtime.
    guests: Option<tokio::runtime::Runtime>,
    guest_handle: tokio::runtime::Handle,
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Some(rt) = self.guests.take() {
            rt.shutdown_background();
        }
    }
}

impl Sandbox {
    /// A sandbox running components from `blobs` on `engine`.
    pub fn new(engine: Engine, services: Arc<Services>, blobs: BlobStore) -> anyhow::Result<Sandbox> {
        let mut linker = Linker::new(engine.wasmtime());
        capabilities::add_to_linker(&mut linker)?;
        let guests = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2))
            .thread_name("miniapp-guest")
            .enable_all()
            .build()?;
        let guest_handle = guests.handle().clone();
        Ok(Sandbox {
            guests: Some(guests),
            guest_handle,
            engine,
            linker,
            services,
            blobs,
            prepared: Mutex::new(HashMap::new()),
            broken: Mutex::new(Default::default()),
        })
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Spawns a queue job's task (`job`) on the guests' runtime, so that
    /// the invocations it makes run on its own thread (see
    /// [`Sandbox::on_guests`]): a bot event's run then takes no hop to
    /// another thread and back. What the task does besides the guest's run
    /// (renewing the lease, the commit, the job's end) is the queue's,
    /// which guests slowing it only delays; claiming, the API and the
    /// WebSockets stay on the main runtime.
    pub fn spawn_job<F>(&self, job: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.guest_handle.spawn(job)
    }

    /// What stores invocations' effects.
    pub fn committer(&self) -> &crate::capabilities::commit::Committer {
        &self.services.committer
    }

    /// Compiles (or loads from the artifact cache) the component `sha256`
    /// off the async executor and links the entry points `needs` against the
    /// platform's interfaces; used at upload to validate and warm the cache.
    pub async fn compile(&self, sha256: &str, needs: EntryPoints) -> Result<(), InvokeError> {
        let component = self.load(sha256).await?;
        let (bot, web) = self.link(&component);
        // Instantiating once in a throwaway store (no grants, default
        // limits) type-checks the exports, which linking alone does not.
        let limits = self.engine.limits().app;
        let new_store = || {
            self.engine.new_store(HostState::new(Invocation {
                event_id: None,
                event_attempt: None,
                holds_hot_keys: false,
                app_id: Arc::from("upload-check"),
                version: Arc::from("0"),
                grants: Arc::new(Grants::default()),
                limits,
                chat: None,
                chat_open: true,
                account: None,
                services: self.services.clone(),
            }))
        };
        let bounded = |what: &'static str, r: Result<wasmtime::Result<()>, tokio::time::error::Elapsed>| match r {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(InvokeError::Load(format!("it does not instantiate as a {what}: {e:#}"))),
            Err(_) => Err(InvokeError::Load(
                "instantiating it took longer than the wall-time limit".into(),
            )),
        };
        if needs.bot {
            let pre = bot?;
            let mut store = new_store();
            let r = tokio::time::timeout(limits.wall_time, async {
                pre.instantiate_async(&mut store).await.map(drop)
            })
            .await;
            bounded("bot", r)?;
        }
        if needs.web {
            let pre = web?;
            let mut store = new_store();
            let r = tokio::time::timeout(limits.wall_time, async {
                pre.instantiate_async(&mut store).await.map(drop)
            })
            .await;
            bounded("web app", r)?;
        }
        Ok(())
    }

    /// Links `component` as a bot and as a web app; each side fails on its own.
    #[allow(clippy::type_complexity)]
    fn link(
        &self,
        component: &wasmtime::component::Component,
    ) -> (
        Result<BotPre<HostState>, InvokeError>,
        Result<ProxyPre<HostState>, InvokeError>,
    ) {
        let instance_pre = match self.linker.instantiate_pre(component) {
            Ok(pre) => pre,
            Err(e) => {
                let e = InvokeError::Load(format!("it does not link against the platform's interfaces: {e:#}"));
                return (Err(e.clone()), Err(e));
            }
        };
        let bot = BotPre::new(instance_pre.clone())
            .map_err(|e| InvokeError::Load(format!("its exports do not match the bot world: {e:#}")));
        let web = ProxyPre::new(instance_pre).map_err(|e| {
            InvokeError::Load(format!(
                "its exports do not match the web-app world (wasi:http/incoming-handler): {e:#}"
            ))
        });
        (bot, web)
    }

    /// The component `sha256`, compiled; a failure is answered at once for
    /// a while, then tried again ([`load_failures`]).
    async fn load(&self, sha256: &str) -> Result<wasmtime::component::Component, InvokeError> {
        if let Some(why) = self.broken.lock().await.recent(sha256, std::time::Instant::now()) {
            return Err(InvokeError::Load(why.to_string()));
        }
        let loaded = self.load_uncached(sha256).await;
        let failure = match &loaded {
            Err(InvokeError::Load(why)) => Some(why.as_str()),
            _ => None,
        };
        self.broken
            .lock()
            .await
            .record(sha256, failure, std::time::Instant::now());
        loaded
    }

    async fn load_uncached(&self, sha256: &str) -> Result<wasmtime::component::Component, InvokeError> {
        let wasm = self
            .blobs
            .file(sha256)
            .map_err(|e| InvokeError::Load(format!("no stored component {sha256}: {e}")))?;
        // The engine queues the compile, runs it in a child process and
        // stops it at the compile time limit.
        self.engine.load_or_compile(sha256, &wasm).await.map_err(|e| {
            if crate::engine::is_host_fault(&e) {
                InvokeError::HostFault(format!("{e:#}"))
            } else {
                InvokeError::Load(format!("{e:#}"))
            }
        })
    }

    async fn prepare(&self, target: &Target) -> Result<Arc<Prepared>, InvokeError> {
        let key = (target.app_id.clone(), target.version.clone());
        if let Some(p) = self.prepared.lock().await.get(&key) {
            return Ok(p.clone());
        }
        let component = self.load(&target.sha256).await?;
        let (bot, web) = self.link(&component);
        if let (Err(e), Err(_)) = (&bot, &web) {
            return Err(e.clone());
        }
        let prepared = Arc::new(Prepared {
            bot: bot.ok(),
            web: web.ok(),
            grants: Arc::new(target.grants.clone()),
        });
        self.prepared.lock().await.insert(key, prepared.clone());
        Ok(prepared)
    }

    /// Forgets the prepared instance of a version (after suspension or a grant change).
    pub async fn forget(&self, app_id: &str, version: &str) {
        self.prepared
            .lock()
            .await
            .remove(&(app_id.to_string(), version.to_string()));
    }
}
