//! What a capability unit declares: its grant names, the WIT interfaces
//! they unlock, and how it links itself. Each unit lives in one folder
//! under `capabilities/` and is named once in [`super::UNITS`]; the grant
//! catalogue ([`super::grants`]), the import rules operators review and
//! the linker are all derived from that list.
//!
//! The shape follows wasmtime-wasi's `WasiCtx` + `WasiCtxView` +
//! `WasiView`: a unit has its per-invocation state (`…Ctx`, built when a
//! store is made), a view borrowing that state together with the shared
//! [`super::InvocationCtx`] (`…CtxView`, which implements the host
//! functions), and a trait the store's data implements to hand the view out
//! (`…View`, which its `add_to_linker` is generic over). Linking happens
//! once per host (Spin's first step); a version's grants are resolved when
//! its run target is prepared (the second); the per-invocation state is
//! built with each store (the third).

use wasmtime::component::Linker;

use super::HostState;

/// One capability unit.
pub struct Unit {
    /// The grant names it defines. A name ending in `:` is a prefix: the
    /// grant is that prefix plus a target (`http:` + `host[:port]`).
    pub grants: &'static [&'static str],
    /// The WIT interfaces it provides, without versions. Importing one
    /// needs one of [`Unit::grants`] requested; a unit with no grants is
    /// always allowed.
    pub imports: &'static [&'static str],
    /// Links its interfaces into the host's linker.
    pub link: fn(&mut Linker<HostState>) -> wasmtime::Result<()>,
}
