//! Per-store budgets: memory and tables through a resource limiter that
//! remembers what it refused, and guest CPU time: the time guest code
//! actually runs, measured from the moments it starts or resumes (a call
//! into wasm, a return from a host call, the end of a yield to the
//! executor) to the moments it stops (a host call, a return, an epoch
//! check). Time spent waiting in host calls (a sleep, an outbound request)
//! or for the executor is never charged.

use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use wasmtime::ResourceLimiter;

use crate::config::{AppLimits, Limits};

/// Marks "guest code is not running" in [`Resumed`].
const NOT_RUNNING: u64 = u64::MAX;

/// When guest code last started or resumed, in nanoseconds since a
/// process-wide origin ([`NOT_RUNNING`] while it is stopped). Shared with
/// the future that ends a yield, which resumes the clock.
#[derive(Debug, Clone)]
pub(super) struct Resumed(Arc<AtomicU64>);

fn nanos_now() -> u64 {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    let origin = *ORIGIN.get_or_init(Instant::now);
    u64::try_from(origin.elapsed().as_nanos()).unwrap_or(NOT_RUNNING - 1)
}

impl Resumed {
    /// Guest code starts or resumes now.
    pub(super) fn start(&self) {
        self.0.store(nanos_now(), Ordering::Relaxed);
    }

    /// Guest code stops now; how long it ran since it last started.
    fn stop(&self) -> Duration {
        let since = self.0.swap(NOT_RUNNING, Ordering::Relaxed);
        if since == NOT_RUNNING {
            Duration::ZERO
        } else {
            Duration::from_nanos(nanos_now().saturating_sub(since))
        }
    }
}

/// Budgets of one store; lives in the store's data.
#[derive(Debug)]
pub struct StoreGuard {
    limits: wasmtime::StoreLimits,
    memory_limit: usize,
    memory_refused: Option<usize>,
    cpu_used: Duration,
    resumed: Resumed,
    cpu_budget: Duration,
    cpu_exhausted: bool,
}

impl StoreGuard {
    /// Budgets for one invocation of an app with `app` limits.
    pub fn new(host: &Limits, app: &AppLimits) -> StoreGuard {
        let limits = wasmtime::StoreLimitsBuilder::new()
            .memory_size(app.memory_bytes)
            .table_elements(host.table_elements)
            .instances(64)
            .tables(64)
            .memories(8)
            .trap_on_grow_failure(false)
            .build();
        StoreGuard {
            limits,
            memory_limit: app.memory_bytes,
            memory_refused: None,
            cpu_used: Duration::ZERO,
            resumed: Resumed(Arc::new(AtomicU64::new(NOT_RUNNING))),
            cpu_budget: app.cpu_time,
            cpu_exhausted: false,
        }
    }

    /// If a memory grow was refused: the size that was asked for.
    pub fn memory_refused(&self) -> Option<usize> {
        self.memory_refused
    }

    /// The memory limit in force.
    pub fn memory_limit(&self) -> usize {
        self.memory_limit
    }

    /// Whether the CPU budget ran out.
    pub fn cpu_exhausted(&self) -> bool {
        self.cpu_exhausted
    }

    /// The CPU budget in force.
    pub fn cpu_budget(&self) -> Duration {
        self.cpu_budget
    }

    /// Guest code starts or resumes (a call into wasm, a return from the host).
    pub(super) fn guest_resumed(&mut self) {
        self.resumed.start();
    }

    /// Guest code stops (a call to the host, a return from wasm): its
    /// running time so far is charged.
    pub(super) fn guest_paused(&mut self) {
        self.cpu_used += self.resumed.stop();
    }

    /// At an epoch check: charges the running time so far and says whether
    /// the budget allows more. The clock stays stopped; the caller starts
    /// it again through [`StoreGuard::resumed`] once the guest really runs.
    pub(super) fn charge(&mut self) -> bool {
        self.guest_paused();
        if self.cpu_used >= self.cpu_budget {
            self.cpu_exhausted = true;
            return false;
        }
        true
    }

    /// The shared start time, for the future that ends a yield.
    pub(super) fn resumed(&self) -> Resumed {
        self.resumed.clone()
    }
}

impl ResourceLimiter for StoreGuard {
    fn memory_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        let ok = self.limits.memory_growing(current, desired, maximum)?;
        if !ok {
            self.memory_refused = Some(desired);
        }
        Ok(ok)
    }

    fn table_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        self.limits.table_growing(current, desired, maximum)
    }

    fn instances(&self) -> usize {
        self.limits.instances()
    }

    fn tables(&self) -> usize {
        self.limits.tables()
    }

    fn memories(&self) -> usize {
        self.limits.memories()
    }
}

/// Store data that carries a [`StoreGuard`].
pub trait HasGuard {
    /// The store's budgets.
    fn guard(&mut self) -> &mut StoreGuard;
}
