//! The wasmtime `Config` the host runs with.

use crate::config::Limits;

/// Which instance allocator the engine got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllocatorKind {
    /// Pre-reserved slots: fast instantiation.
    Pooling,
    /// Allocate per instance: the fallback where memory cannot be reserved.
    OnDemand,
}

fn base_config(limits: &Limits) -> wasmtime::Config {
    let mut config = wasmtime::Config::new();
    config.wasm_component_model(true);
    config.strategy(wasmtime::Strategy::Cranelift);
    config.epoch_interruption(true);
    config.max_wasm_stack(limits.max_wasm_stack);
    // Host functions run on the guest's fiber stack: keep ample room above
    // the wasm stack for them.
    config.async_stack_size(limits.max_wasm_stack + (2 << 20));
    config.parallel_compilation(true);
    config
}

/// Bytes of each linear memory's slot reset in place rather than returned
/// to the kernel (see [`pooling`]).
const KEEP_RESIDENT: usize = 1 << 20;

/// Bytes zeroed in place at the start of each slot where the reset in place
/// is off.
const KEEP_RESIDENT_ZEROED: usize = 64 << 10;

/// How a pooled slot's memory goes back to its initial contents when an
/// instance ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum MemoryReset {
    /// The pages the instance dirtied, found with Linux's `PAGEMAP_SCAN`,
    /// are copied back or zeroed in place, up to [`KEEP_RESIDENT`]; the
    /// rest is handed back to the kernel.
    InPlace,
    /// The first [`KEEP_RESIDENT_ZEROED`] bytes are zeroed, the rest handed
    /// back to the kernel with `madvise`.
    Madvise,
}

/// In place unless the machine has swap, or `MINIAPP_MEMORY_RESET=madvise`
/// asks otherwise: `PAGEMAP_SCAN` finds only the dirtied pages that are in
/// memory, so a page swapped out before its instance ended would be
/// neither reset nor handed back, and the next instance in the slot (of
/// any app) could read it (wasmtime 48's `reset_with_pagemap` asks for
/// `PRESENT` pages). `madvise` drops swapped pages too.
fn memory_reset() -> MemoryReset {
    let asked = std::env::var("MINIAPP_MEMORY_RESET").unwrap_or_default();
    let swap = std::fs::read_to_string("/proc/swaps").map_or(true, |text| swap_listed(&text));
    if asked.eq_ignore_ascii_case("madvise") || swap {
        MemoryReset::Madvise
    } else {
        MemoryReset::InPlace
    }
}

/// Whether `/proc/swaps`' text lists a swap area (any line past its header).
fn swap_listed(text: &str) -> bool {
    text.lines().skip(1).any(|l| !l.trim().is_empty())
}

fn pooling(limits: &Limits, reset: MemoryReset) -> wasmtime::PoolingAllocationConfig {
    let mut pool = wasmtime::PoolingAllocationConfig::new();
    pool.total_component_instances(1_000);
    pool.total_core_instances(4_000);
    pool.total_memories(1_000);
    pool.total_tables(2_000);
    pool.total_stacks(1_000);
    pool.max_memories_per_component(4);
    pool.max_tables_per_component(8);
    pool.max_core_instances_per_component(32);
    pool.max_memory_size(limits.max_app_memory_bytes);
    pool.table_elements(limits.table_elements);
    pool.max_unused_warm_slots(100);
    match reset {
        // Each `madvise`, and each copy-on-write fault when the next
        // instance writes the page again, flushes the other cores' TLBs
        // with an interrupt, which `perf` showed as half the host's CPU
        // time under web-app load. It keeps at most this much resident per
        // warm slot (`max_unused_warm_slots`).
        MemoryReset::InPlace => {
            pool.pagemap_scan(wasmtime::Enabled::Auto);
            pool.linear_memory_keep_resident(KEEP_RESIDENT);
        }
        MemoryReset::Madvise => {
            pool.linear_memory_keep_resident(KEEP_RESIDENT_ZEROED);
        }
    }
    pool.table_keep_resident(16 << 10);
    pool
}

/// Builds the engine: pooling allocator first, on-demand if the pool's
/// virtual memory cannot be reserved here.
pub(super) fn build(limits: &Limits) -> anyhow::Result<(wasmtime::Engine, AllocatorKind)> {
    if std::env::var_os("MINIAPP_ON_DEMAND_ALLOCATOR").is_none() {
        let mut config = base_config(limits);
        let reset = memory_reset();
        config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pooling(limits, reset)));
        match wasmtime::Engine::new(&config) {
            Ok(engine) => {
                tracing::info!(memory_reset = ?reset, "instances' memory slots are reset this way");
                return Ok((engine, AllocatorKind::Pooling));
            }
            Err(e) => {
                tracing::warn!(error = %e, "pooling allocator unavailable; using on-demand allocation")
            }
        }
    }
    let config = base_config(limits);
    Ok((wasmtime::Engine::new(&config)?, AllocatorKind::OnDemand))
}

/// The engine a compiler child process builds: the host's configuration
/// with on-demand allocation (allocation does not change compiled code; the
/// child never instantiates, so it needs no pool of reservations).
pub(super) fn build_for_compiling(limits: &Limits) -> anyhow::Result<wasmtime::Engine> {
    Ok(wasmtime::Engine::new(&base_config(limits))?)
}

#[cfg(test)]
mod tests {
    use super::swap_listed;

    #[test]
    fn swap_is_listed_only_past_the_header_of_proc_swaps() {
        let header = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n";
        assert!(!swap_listed(header));
        assert!(!swap_listed(""));
        assert!(swap_listed(&format!(
            "{header}/swapfile                               file\t\t2097148\t\t0\t\t-2\n"
        )));
    }
}
