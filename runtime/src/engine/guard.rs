//! Per-store budgets: memory and tables through a resource limiter that
//! remembers what it refused, and guest CPU time counted in epoch ticks.

use std::time::Duration;

use wasmtime::ResourceLimiter;

use super::EPOCH_TICK_MS;
use crate::config::{AppLimits, Limits};

/// Budgets of one store; lives in the store's data.
#[derive(Debug)]
pub struct StoreGuard {
    limits: wasmtime::StoreLimits,
    memory_limit: usize,
    memory_refused: Option<usize>,
    cpu_ticks_left: u64,
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
            cpu_ticks_left: (app.cpu_time.as_millis() as u64 / EPOCH_TICK_MS).max(1),
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

    /// Charges one epoch tick of guest execution; false once the budget is spent.
    pub(super) fn charge_tick(&mut self) -> bool {
        if self.cpu_ticks_left == 0 {
            self.cpu_exhausted = true;
            return false;
        }
        self.cpu_ticks_left -= 1;
        true
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
