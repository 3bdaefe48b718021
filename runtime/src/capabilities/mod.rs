//! Capabilities: one self-contained unit per WIT interface a mini-app can
//! import, each in its own folder and named once in [`UNITS`] (see
//! [`unit`] for the shape). A unit declares its grants and the imports they
//! unlock, holds its per-invocation state and buffered effects, links its
//! host functions, checks the app's grant on every call and answers a
//! denial with the WIT error `denied` (never a trap), recording it in the
//! audit log; its commit stores its effects. Capabilities know no HTTP API.

pub mod bindings;
pub mod commit;
pub mod config;
pub mod files;
pub mod grants;
mod host_state;
pub mod http;
pub mod identity;
mod invocation;
pub mod log;
pub mod messaging;
pub mod notify;
pub mod pages;
pub mod payments;
#[cfg(test)]
mod policy_tests;
pub mod rate;
pub mod schedule;
pub mod storage;
#[cfg(test)]
pub(crate) mod test_support;
pub mod unit;
pub mod webhook;

use wasmtime::component::Linker;

use crate::store::StoreError;

pub use bindings::miniapp::platform::types::Error as WitError;
pub use files::FilesView;
pub use grants::Grants;
pub use host_state::HostState;
pub use identity::IdentityView;
pub use invocation::{Invocation, InvocationCtx, Services};
pub use messaging::{MessagingView, OutboxOp, OutgoingMessage};
pub use notify::NotifyView;
pub use pages::PagesView;
pub use payments::PaymentsView;
pub use schedule::ScheduleView;
pub use storage::StorageView;
pub use unit::Unit;

/// Consent scopes users can grant an app (`PUT /v1/apps/{app}/consents`):
/// the identity scopes an app may read only with consent, and `notify`
/// (it may write to the user outside an event).
pub const CONSENT_SCOPES: &[&str] = &["identity.profile", "identity.phone", notify::CONSENT_SCOPE];

/// Every capability unit. Adding a capability is adding its folder, its
/// `pub mod` line above and one line here, and giving the store's data
/// ([`HostState`]) its state (the README's "Adding a capability" lists
/// every step).
pub const UNITS: &[Unit] = &[
    log::UNIT,
    messaging::UNIT,
    identity::UNIT,
    storage::UNIT,
    payments::UNIT,
    schedule::UNIT,
    notify::UNIT,
    pages::UNIT,
    files::UNIT,
    http::UNIT,
    config::UNIT,
    webhook::UNIT,
];

/// What a host function returns on failure: a WIT error for the guest, or a
/// trap that ends the invocation.
#[derive(Debug)]
pub enum CapError {
    /// Returned to the guest as the WIT `error` value.
    Wit(WitError),
    /// Ends the invocation.
    Trap(wasmtime::Error),
}

impl From<WitError> for CapError {
    fn from(e: WitError) -> Self {
        CapError::Wit(e)
    }
}

impl From<StoreError> for CapError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "store failed during a host call");
        CapError::Wit(WitError::Unavailable("storage backend unavailable".into()))
    }
}

impl CapError {
    /// The WIT error for the guest, or the trap that ends the invocation.
    ///
    /// # Errors
    ///
    /// The trap, for [`CapError::Trap`].
    pub fn into_wit(self) -> wasmtime::Result<WitError> {
        match self {
            CapError::Wit(e) => Ok(e),
            CapError::Trap(e) => Err(e),
        }
    }
}

/// Implements the shared `types` interface (which converts [`CapError`]
/// into the guest's WIT error) for a unit's view.
macro_rules! convert_errors_for {
    ($view:ty) => {
        impl $crate::capabilities::bindings::miniapp::platform::types::Host for $view {
            fn convert_error(
                &mut self,
                err: $crate::capabilities::CapError,
            ) -> wasmtime::Result<$crate::capabilities::WitError> {
                err.into_wit()
            }
        }
    };
}
pub(crate) use convert_errors_for;

/// Links WASI (with nothing granted), the shared `types` interface and
/// every unit in [`UNITS`].
///
/// # Errors
///
/// When an interface is linked twice.
pub fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_async(linker)?;
    bindings::miniapp::platform::types::add_to_linker::<HostState, wasmtime::component::HasSelf<HostState>>(
        linker,
        |s| s,
    )?;
    for unit in UNITS {
        (unit.link)(linker)?;
    }
    Ok(())
}

/// Applies the platform's text policy ([`crate::text`]) to guest text other
/// people will see.
pub(crate) fn check_visible(what: &str, text: &str) -> Result<(), CapError> {
    crate::text::check_visible(what, text).map_err(|e| CapError::Wit(WitError::Invalid(e.to_string())))
}

/// Checks a guest-controlled size before anything is allocated for it.
pub(crate) fn check_size(what: &str, len: usize, max: usize) -> Result<(), CapError> {
    if len > max {
        Err(CapError::Wit(WitError::TooLarge(format!(
            "{what} is {len} bytes; the limit is {max}"
        ))))
    } else {
        Ok(())
    }
}
