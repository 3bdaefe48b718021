//! The one wasmtime `Engine` of the host: component model, Cranelift,
//! pooling allocator (on-demand where memory cannot be reserved), epoch
//! interruption driven by a ticker thread, and an on-disk cache of compiled
//! artifacts. It knows no particular capability: capabilities link
//! themselves into the [`wasmtime::component::Linker`] it hands out.

mod cache;
mod guard;
mod settings;
mod ticker;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

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
    /// compiled from `bytes` (and then cached). Blocking: call it off the
    /// async executor.
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
