//! The one wasmtime `Engine` of the host: component model, Cranelift,
//! pooling allocator (on-demand where memory cannot be reserved), epoch
//! interruption driven by a ticker thread, and an on-disk cache of compiled
//! artifacts. It knows no particular capability: capabilities link
//! themselves into the [`wasmtime::component::Linker`] it hands out.

mod cache;
pub mod compiler;
mod guard;
pub mod lib_backtrace;
mod settings;
mod ticker;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context as _;
use tokio::sync::Semaphore;

use wasmtime::component::Component;
use wasmtime::{CallHook, Store, UpdateDeadline};

use crate::config::Limits;

pub use guard::{HasGuard, StoreGuard};
pub use settings::AllocatorKind;

/// Milliseconds between two epoch ticks.
pub const EPOCH_TICK_MS: u64 = 5;

/// Counters about compilation, for `/metrics` and the restart test.
#[derive(Debug, Default)]
pub struct EngineStats {
    /// Components compiled from wasm by Cranelift.
    pub compiled: AtomicU64,
    /// Components loaded from the on-disk artifact cache.
    pub cache_hits: AtomicU64,
    /// Compiles running right now.
    pub compiles_running: AtomicU64,
    /// The most compiles that ever ran at once (never above the
    /// host's `compile_concurrency`).
    pub compiles_running_max: AtomicU64,
    /// Compiles waiting for a free compile slot.
    pub compiles_queued: AtomicU64,
    /// Compiles stopped for running past the time limit.
    pub compiles_timed_out: AtomicU64,
    /// Compiles that failed (timed out, out of a limit, or invalid).
    pub compiles_failed: AtomicU64,
}

/// The cores the compiler may use at once.
fn cores() -> u64 {
    std::thread::available_parallelism().map_or(1, |n| n.get() as u64)
}

/// Counts one compile as running while it lives.
struct Running<'a>(&'a EngineStats);

impl<'a> Running<'a> {
    fn start(stats: &'a EngineStats) -> Running<'a> {
        let now = stats.compiles_running.fetch_add(1, Ordering::SeqCst) + 1;
        stats.compiles_running_max.fetch_max(now, Ordering::SeqCst);
        Running(stats)
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.compiles_running.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The host's engine; cheap to clone.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    engine: wasmtime::Engine,
    allocator: AllocatorKind,
    cache: cache::ArtifactCache,
    stats: EngineStats,
    limits: Limits,
    compile_slots: Semaphore,
    _ticker: ticker::Ticker,
}

impl Engine {
    /// Builds the engine with `limits`, caching compiled artifacts under `cache_dir`.
    pub fn new(limits: &Limits, cache_dir: &Path) -> anyhow::Result<Engine> {
        let (engine, allocator) = settings::build(limits)?;
        let cache = cache::ArtifactCache::open(cache_dir, &engine)?;
        let ticker = ticker::Ticker::start(engine.clone(), EPOCH_TICK_MS);
        tracing::info!(?allocator, "wasm engine ready");
        Ok(Engine {
            inner: Arc::new(Inner {
                engine,
                allocator,
                cache,
                stats: EngineStats::default(),
                limits: limits.clone(),
                compile_slots: Semaphore::new(limits.compile_concurrency.max(1)),
                _ticker: ticker,
            }),
        })
    }

    /// The underlying wasmtime engine.
    pub fn wasmtime(&self) -> &wasmtime::Engine {
        &self.inner.engine
    }

    /// Which instance allocator is in use.
    pub fn allocator(&self) -> AllocatorKind {
        self.inner.allocator
    }

    /// Compilation counters.
    pub fn stats(&self) -> &EngineStats {
        &self.inner.stats
    }

    /// The component with content hash `sha256`, from the artifact cache or
    /// compiled from the file `wasm` (and then cached). A compile waits for
    /// one of the host's `compile_concurrency` slots, runs in a child
    /// process limited in address space and CPU time, and is killed once it
    /// runs longer than `compile_timeout`.
    ///
    /// # Errors
    ///
    /// If the component does not compile, the compiler ran out of its time
    /// or memory, or the artifact cannot be written or loaded.
    pub async fn load_or_compile(&self, sha256: &str, wasm: &Path) -> anyhow::Result<Component> {
        if let Some(component) = self.cached(sha256).await {
            return Ok(component);
        }
        let inner = &self.inner;
        inner.stats.compiles_queued.fetch_add(1, Ordering::SeqCst);
        let permit = inner.compile_slots.acquire().await;
        inner.stats.compiles_queued.fetch_sub(1, Ordering::SeqCst);
        let _permit = permit.context("the compile queue is closed")?;
        // The same bytes may have been compiled while this one waited.
        if let Some(component) = self.cached(sha256).await {
            return Ok(component);
        }
        let _running = Running::start(&inner.stats);
        let scratch = inner.cache.scratch_path(sha256);
        let job = compiler::CompileJob {
            input: wasm.to_path_buf(),
            output: scratch.clone(),
            max_wasm_stack: inner.limits.max_wasm_stack,
            memory_bytes: inner.limits.compile_memory_bytes,
            // A backstop should the host die without killing it: the wall
            // limit on every core, so the wall-time kill always comes first.
            cpu_secs: inner.limits.compile_timeout.as_secs().max(1) * cores() + 1,
        };
        let compiled = self.compile(&job).await;
        let loaded = compiled.and_then(|()| {
            inner.cache.adopt(sha256, &scratch)?;
            inner
                .cache
                .load(&inner.engine, sha256)
                .context("the compiled artifact does not load in this engine")
        });
        if loaded.is_err() {
            let _ = std::fs::remove_file(&scratch);
            inner.stats.compiles_failed.fetch_add(1, Ordering::Relaxed);
        } else {
            inner.stats.compiled.fetch_add(1, Ordering::Relaxed);
        }
        loaded
    }

    /// The component with content hash `sha256`, from the artifact cache or
    /// compiled in this process from `bytes` (and then cached): neither
    /// queued nor stoppable, for tools and benchmarks that compile their
    /// own components. The host compiles uploads with
    /// [`Engine::load_or_compile`]. Blocking: call it off the async executor.
    ///
    /// # Errors
    ///
    /// If `bytes` fails or the component does not compile.
    pub fn load_component(
        &self,
        sha256: &str,
        bytes: impl FnOnce() -> std::io::Result<Vec<u8>>,
    ) -> anyhow::Result<Component> {
        let inner = &self.inner;
        if let Some(component) = inner.cache.load(&inner.engine, sha256) {
            inner.stats.cache_hits.fetch_add(1, Ordering::Relaxed);
            return Ok(component);
        }
        let bytes = bytes()?;
        let component = Component::new(&inner.engine, &bytes)?;
        inner.stats.compiled.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = inner.cache.store(sha256, &component) {
            tracing::warn!(sha256, error = %e, "could not cache compiled artifact");
        }
        Ok(component)
    }

    /// The component `sha256` from the artifact cache, if it is there.
    async fn cached(&self, sha256: &str) -> Option<Component> {
        let this = self.clone();
        let sha = sha256.to_string();
        let component = tokio::task::spawn_blocking(move || this.inner.cache.load(&this.inner.engine, &sha))
            .await
            .ok()
            .flatten()?;
        self.inner.stats.cache_hits.fetch_add(1, Ordering::Relaxed);
        Some(component)
    }

    /// Runs `job`: in a child process of this executable, killed at the
    /// time limit.
    #[cfg(not(test))]
    async fn compile(&self, job: &compiler::CompileJob) -> anyhow::Result<()> {
        let timeout = self.inner.limits.compile_timeout;
        match compiler::compile_in_child(job, timeout).await {
            Ok(()) => Ok(()),
            Err(e) => {
                if matches!(e, compiler::ChildCompileError::TimedOut(_)) {
                    self.inner.stats.compiles_timed_out.fetch_add(1, Ordering::Relaxed);
                }
                Err(e.into())
            }
        }
    }

    /// Runs `job` in this process: unit tests run inside a test harness,
    /// which has no `compile-artifact` subcommand.
    #[cfg(test)]
    async fn compile(&self, job: &compiler::CompileJob) -> anyhow::Result<()> {
        let engine = self.inner.engine.clone();
        let job = job.clone();
        tokio::task::spawn_blocking(move || {
            let bytes = std::fs::read(&job.input)?;
            std::fs::write(&job.output, engine.precompile_component(&bytes)?)?;
            anyhow::Ok(())
        })
        .await?
    }

    /// A fresh store for one invocation: memory, table, handle and
    /// host-call data limits and the CPU budget are in place before any
    /// guest code runs. A guest that keeps running yields to the executor
    /// at every epoch tick (so it cannot starve other invocations) and
    /// traps once its CPU budget is spent.
    pub fn new_store<T: HasGuard + Send + 'static>(&self, data: T) -> Store<T> {
        let limits = &self.inner.limits;
        let mut store = Store::new(&self.inner.engine, data);
        store.limiter(|data| data.guard());
        store.set_hostcall_fuel(limits.hostcall_fuel_bytes);
        store.set_max_component_handles(limits.max_component_handles);
        store.set_epoch_deadline(1);
        store.call_hook(|mut cx, hook| {
            let guard = cx.data_mut().guard();
            match hook {
                CallHook::CallingWasm | CallHook::ReturningFromHost => guard.guest_resumed(),
                CallHook::CallingHost | CallHook::ReturningFromWasm => guard.guest_paused(),
            }
            Ok(())
        });
        store.epoch_deadline_callback(|mut cx| {
            let guard = cx.data_mut().guard();
            if !guard.charge() {
                return Ok(UpdateDeadline::Interrupt);
            }
            // Yield to the executor; the guest's clock starts again only
            // when it is scheduled back, so waiting is never charged.
            let resumed = guard.resumed();
            Ok(UpdateDeadline::YieldCustom(
                1,
                Box::pin(async move {
                    tokio::task::yield_now().await;
                    resumed.start();
                }),
            ))
        });
        store
    }

    /// The host-wide limits.
    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }
}

/// Whether a load failed through the host's fault (its compiler could not
/// be started or waited for), not the component's: such a compile is
/// tried again rather than the version rejected.
pub fn is_host_fault(e: &anyhow::Error) -> bool {
    e.chain()
        .any(|cause| matches!(cause.downcast_ref(), Some(compiler::ChildCompileError::Spawn(_))))
}
