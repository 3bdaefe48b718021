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

fn pooling(limits: &Limits) -> wasmtime::PoolingAllocationConfig {
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
    // A slot's memory goes back to its initial contents by copying over
    // the pages the last instance dirtied (found with Linux's PAGEMAP_SCAN),
    // up to this many bytes, instead of `madvise` handing them back to the
    // kernel: each `madvise`, and each copy-on-write fault when the next
    // instance writes the page again, flushes the other cores' TLBs with an
    // interrupt, which `perf` showed as half the host's CPU time under
    // web-app load. It keeps at most this much resident per warm slot
    // (`max_unused_warm_slots`).
    pool.pagemap_scan(wasmtime::Enabled::Auto);
    pool.linear_memory_keep_resident(KEEP_RESIDENT);
    pool.table_keep_resident(16 << 10);
    pool
}

/// Builds the engine: pooling allocator first, on-demand if the pool's
/// virtual memory cannot be reserved here.
pub(super) fn build(limits: &Limits) -> anyhow::Result<(wasmtime::Engine, AllocatorKind)> {
    if std::env::var_os("MINIAPP_ON_DEMAND_ALLOCATOR").is_none() {
        let mut config = base_config(limits);
        config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pooling(limits)));
        match wasmtime::Engine::new(&config) {
            Ok(engine) => return Ok((engine, AllocatorKind::Pooling)),
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
