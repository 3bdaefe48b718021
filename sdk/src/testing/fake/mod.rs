//! The fakes: one module per capability, with the signatures of the
//! wit-bindgen imports the SDK calls on `wasm32`, and the host's rules
//! (`runtime/src/capabilities/<name>/`): the grant first (`denied`, never a
//! panic), then sizes and text, chats open to the app, consent, budgets
//! and quotas; changes go to the invocation's working state.

pub(crate) mod config;
pub(crate) mod files;
pub(crate) mod identity;
pub(crate) mod log;
pub(crate) mod messaging;
pub(crate) mod notify;
pub(crate) mod pages;
pub(crate) mod payments;
pub(crate) mod schedule;
pub(crate) mod storage;

use crate::Error;

/// `too-large` when `len` is over `max`, in the host's words.
pub(crate) fn check_size(what: &str, len: usize, max: usize) -> Result<(), Error> {
    if len > max {
        Err(Error::TooLarge(format!("{what} is {len} bytes; the limit is {max}")))
    } else {
        Ok(())
    }
}

/// The host traps on a call passing more than the host-call budget.
pub(crate) fn check_host_call_bytes(len: usize) {
    let max = crate::limits::MAX_HOST_CALL_BYTES;
    if len > max {
        panic!("host call refused: the guest passed more than {max} bytes in one call ({len})");
    }
}
