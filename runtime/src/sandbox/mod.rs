//! Running app code: one `InstancePre` per approved version, one fresh
//! `Store` per invocation, every limit applied, and whatever the guest did
//! (messages, log lines, a trap, a timeout) reported back as plain data so
//! services above never touch wasmtime types.

mod event;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;
use wasmtime::component::Linker;

use crate::capabilities::bindings::BotPre;
use crate::capabilities::{self, Grants, HostState, Invocation, OutboxOp, Services};
use crate::config::AppLimits;
use crate::engine::Engine;
use crate::engine::StoreGuard;
use crate::store::blobs::BlobStore;
use crate::store::logs::{self, NewLogLine};

pub use event::BotEvent;

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
}

/// How an invocation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvokeError {
    /// The component could not be loaded or linked.
    Load(String),
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
}

impl std::fmt::Display for InvokeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InvokeError::Load(e) => write!(f, "could not load the component: {e}"),
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
        }
    }
}

/// What one invocation produced.
#[derive(Debug)]
pub struct Outcome {
    /// Success or why not.
    pub result: Result<(), InvokeError>,
    /// Messages the app sent, edited or deleted (to be applied by the caller, in order).
    pub ops: Vec<OutboxOp>,
}

struct Prepared {
    pre: BotPre<HostState>,
    grants: Arc<Grants>,
}

/// Runs app code.
pub struct Sandbox {
    engine: Engine,
    linker: Linker<HostState>,
    services: Arc<Services>,
    blobs: BlobStore,
    prepared: Mutex<HashMap<(String, String), Arc<Prepared>>>,
    /// Components that failed to load, by sha256: never retried.
    broken: Mutex<HashMap<String, String>>,
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
            broken: Mutex::new(HashMap::new()),
        })
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Compiles (or loads from the artifact cache) the component `sha256`
    /// off the async executor and links it against the platform's
    /// interfaces as a bot; used at upload to validate and warm the cache.
    pub async fn compile(&self, sha256: &str) -> Result<(), InvokeError> {
        let component = self.load(sha256).await?;
        let pre = self.link(&component)?;
        // Instantiating once in a throwaway store (no grants, default
        // limits) type-checks the exports, which linking alone does not.
        let limits = self.engine.limits().app;
        let cx = Invocation {
            app_id: Arc::from("upload-check"),
            version: Arc::from("0"),
            grants: Arc::new(Grants::default()),
            limits,
            chat: None,
            account: None,
            services: self.services.clone(),
        };
        let mut store = self.engine.new_store(HostState::new(cx));
        match tokio::time::timeout(limits.wall_time, pre.instantiate_async(&mut store)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(InvokeError::Load(format!("it does not instantiate as a bot: {e:#}"))),
            Err(_) => Err(InvokeError::Load(
                "instantiating it took longer than the wall-time limit".into(),
            )),
        }
    }

    fn link(&self, component: &wasmtime::component::Component) -> Result<BotPre<HostState>, InvokeError> {
        let instance_pre = self
            .linker
            .instantiate_pre(component)
            .map_err(|e| InvokeError::Load(format!("it does not link against the platform's interfaces: {e:#}")))?;
        BotPre::new(instance_pre)
            .map_err(|e| InvokeError::Load(format!("its exports do not match the bot world: {e:#}")))
    }

    async fn load(&self, sha256: &str) -> Result<wasmtime::component::Component, InvokeError> {
        if let Some(why) = self.broken.lock().await.get(sha256) {
            return Err(InvokeError::Load(why.clone()));
        }
        let loaded = self.load_uncached(sha256).await;
        if let Err(InvokeError::Load(why)) = &loaded {
            self.broken.lock().await.insert(sha256.to_string(), why.clone());
        }
        loaded
    }

    async fn load_uncached(&self, sha256: &str) -> Result<wasmtime::component::Component, InvokeError> {
        let engine = self.engine.clone();
        let blobs = self.blobs.clone();
        let sha = sha256.to_string();
        let timeout = self.engine.limits().compile_timeout;
        let job = tokio::task::spawn_blocking(move || engine.load_component(&sha, || blobs.get(&sha)));
        match tokio::time::timeout(timeout, job).await {
            Ok(Ok(Ok(component))) => Ok(component),
            Ok(Ok(Err(e))) => Err(InvokeError::Load(format!("{e:#}"))),
            Ok(Err(e)) => Err(InvokeError::Load(format!("compile task failed: {e}"))),
            Err(_) => Err(InvokeError::Load(format!("compiling took longer than {timeout:?}"))),
        }
    }

    async fn prepare(&self, target: &Target) -> Result<Arc<Prepared>, InvokeError> {
        let key = (target.app_id.clone(), target.version.clone());
        if let Some(p) = self.prepared.lock().await.get(&key) {
            return Ok(p.clone());
        }
        let component = self.load(&target.sha256).await?;
        let pre = self.link(&component)?;
        let prepared = Arc::new(Prepared {
            pre,
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

    /// Delivers `event` to a fresh instance of `target`, for `account` in
    /// `chat`. Log lines (the guest's, its stdout/stderr and any failure)
    /// are written to the app's log before this returns.
    pub async fn handle_event(
        self: &Arc<Self>,
        target: &Target,
        chat: Option<&str>,
        account: Option<&str>,
        event: BotEvent,
    ) -> Outcome {
        let this = self.clone();
        let (guest_target, guest_chat, guest_account) =
            (target.clone(), chat.map(str::to_string), account.map(str::to_string));
        let run = self.guest_handle.spawn(async move {
            this.run(&guest_target, guest_chat.as_deref(), guest_account.as_deref(), event)
                .await
        });
        let (result, mut state) = match run.await {
            Ok(done) => done,
            Err(e) => (Err(InvokeError::Trap(format!("the invocation task failed: {e}"))), None),
        };
        let mut lines = state.as_mut().map(|s| std::mem::take(&mut s.logs)).unwrap_or_default();
        if let Err(e) = &result {
            lines.push(NewLogLine {
                level: "error",
                message: e.to_string(),
            });
        }
        if let Err(e) = logs::append(&self.services.db, &target.app_id, &target.version, chat, &lines).await {
            tracing::error!(error = %e, app = %target.app_id, "could not write app log");
        }
        Outcome {
            result,
            ops: state.map(|s| s.outbox).unwrap_or_default(),
        }
    }

    async fn run(
        &self,
        target: &Target,
        chat: Option<&str>,
        account: Option<&str>,
        event: BotEvent,
    ) -> (Result<(), InvokeError>, Option<HostState>) {
        let prepared = match self.prepare(target).await {
            Ok(p) => p,
            Err(e) => return (Err(e), None),
        };
        let cx = Invocation {
            app_id: Arc::from(target.app_id.as_str()),
            version: Arc::from(target.version.as_str()),
            grants: prepared.grants.clone(),
            limits: target.limits,
            chat: chat.map(str::to_string),
            account: account.map(str::to_string),
            services: self.services.clone(),
        };
        let mut store = self.engine.new_store(HostState::new(cx));
        let timeout = target.limits.wall_time;
        let wit_event = event.into_wit(&self.services.identity_key, &target.app_id);
        let call = async {
            let bot = prepared.pre.instantiate_async(&mut store).await?;
            bot.miniapp_platform_handler().call_handle(&mut store, &wit_event).await
        };
        let result = match tokio::time::timeout(timeout, call).await {
            Err(_) => Err(InvokeError::Timeout(timeout)),
            Ok(Err(trap)) => Err(classify_trap(
                &trap,
                store.data().guard_state(),
                self.engine.limits().hostcall_fuel_bytes,
            )),
            Ok(Ok(Err(msg))) => Err(InvokeError::Handler(msg)),
            Ok(Ok(Ok(()))) => Ok(()),
        };
        let mut state = store.into_data();
        state.drain_stdio();
        (result, Some(state))
    }
}

/// Names what ended a trapped invocation, most specific first.
fn classify_trap(err: &wasmtime::Error, guard: &StoreGuard, hostcall_fuel: usize) -> InvokeError {
    let trap = err.downcast_ref::<wasmtime::Trap>().copied();
    if trap == Some(wasmtime::Trap::Interrupt) || guard.cpu_exhausted() {
        return InvokeError::CpuExhausted(guard.cpu_budget());
    }
    if trap == Some(wasmtime::Trap::StackOverflow) {
        return InvokeError::StackOverflow;
    }
    if let Some(requested) = guard.memory_refused() {
        return InvokeError::OutOfMemory {
            limit: guard.memory_limit(),
            requested,
        };
    }
    let text = format!("{err:#}");
    if text.contains("fuel allocated for hostcalls") {
        return InvokeError::HostCallTooLarge(hostcall_fuel);
    }
    match trap {
        Some(t) => InvokeError::Trap(format!("{t}")),
        None => InvokeError::Trap(text),
    }
}
